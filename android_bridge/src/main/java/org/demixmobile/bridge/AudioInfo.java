package org.demixmobile.bridge;

/** What a file header says (mirrors {@code AudioInfo} of {@code mobile_core/contract/audio.py}). */
public final class AudioInfo {
    private final int sampleRate;
    private final int channels;
    private final long frames;
    private final String format;
    private final String subtype;

    public AudioInfo(int sampleRate, int channels, long frames, String format, String subtype) {
        this.sampleRate = sampleRate;
        this.channels = channels;
        this.frames = frames;
        this.format = format;
        this.subtype = subtype;
    }

    public int sampleRate() {
        return sampleRate;
    }

    public int channels() {
        return channels;
    }

    public long frames() {
        return frames;
    }

    /** Container, e.g. {@code WAV} or {@code RF64}. */
    public String format() {
        return format;
    }

    /** Sample encoding, libsndfile style: {@code PCM_U8}, {@code PCM_16}, {@code PCM_24}, {@code PCM_32}, {@code FLOAT}, {@code DOUBLE}. */
    public String subtype() {
        return subtype;
    }

    public double seconds() {
        return (double) frames / sampleRate;
    }

    @Override
    public String toString() {
        return "AudioInfo(sample_rate=" + sampleRate + ", channels=" + channels + ", frames=" + frames
                + ", format=" + format + ", subtype=" + subtype + ")";
    }
}
