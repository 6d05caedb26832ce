package org.demixmobile.bridge;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Streaming WAV decoder under the contract's decoding rules (docs/contract-audio.md, "Decoding";
 * the WAV part of {@code probe}/{@code read_blocks} in {@code mobile_core/contract/audio.py}).
 *
 * <p>Reads RIFF/WAVE and RF64 files with PCM 8 (unsigned), 16, 24, 32-bit integer samples or
 * 32/64-bit IEEE float samples, plain or WAVE_FORMAT_EXTENSIBLE, skipping other chunks. Integer
 * PCM is scaled by {@code 1 / 2^(bits-1)} (8-bit: {@code (s - 128) / 128}); float is passed
 * through (64-bit rounded to float32), nothing is clipped. Blocks are planar {@code [C][n]}
 * float32; memory does not grow with the file's length. The header is parsed by {@link WavHeader},
 * the sample bytes decoded by {@link WavSamples}.
 *
 * <p>Refused with an {@link AudioException} naming the file: missing file, a folder, not a
 * RIFF/WAVE file, damaged header (no {@code fmt } or {@code data} chunk, inconsistent block
 * size), unsupported encoding, no channels, sample rate outside 8000-192000 Hz, 0 frames, fewer
 * than {@code minFrames} frames, a data chunk that is longer than the file (truncated), and, when
 * the block holding them is read, NaN or +-Inf samples (the message names the first frame and
 * channel).
 */
public final class WavReader implements PcmSource {
    /** Frames per block of {@link #readAll}, like the reference's {@code DEFAULT_BLOCK_FRAMES}. */
    public static final int DEFAULT_BLOCK_FRAMES = 1 << 16;

    private final String name;
    private final InputStream in;
    private final AudioInfo info;
    private final int encoding;
    private final int bytesPerSample;
    private final int blockAlign;
    private long framesRead;
    private byte[] scratch = new byte[0];

    /** Open and validate a WAV file (no minimum length). */
    public static WavReader open(Path path) throws AudioException {
        return open(path, 0);
    }

    /**
     * Open and validate a WAV file; the header is checked right away (errors raise here, not at
     * the first {@link #read}).
     */
    public static WavReader open(Path path, long minFrames) throws AudioException {
        if (!Files.exists(path)) {
            throw new AudioException(path + ": no such file");
        }
        if (Files.isDirectory(path)) {
            throw new AudioException(path + ": is a folder, not an audio file");
        }
        long size;
        InputStream in;
        try {
            size = Files.size(path);
            in = new BufferedInputStream(Files.newInputStream(path), 1 << 16);
        } catch (IOException e) {
            throw new AudioException(path + ": cannot open audio: " + WavHeader.reason(e), e);
        }
        try {
            return new WavReader(in, path.toString(), size, minFrames);
        } catch (AudioException | RuntimeException e) {
            closeQuietly(in);
            throw e;
        }
    }

    /**
     * Open a WAV stream (e.g. an Android content URI's stream). {@code size} is the stream's
     * length in bytes, or -1 if unknown (then truncation is found when reading). The stream is
     * closed by {@link #close()}, or here if the header is refused.
     */
    public static WavReader open(InputStream stream, String name, long size, long minFrames)
            throws AudioException {
        InputStream in = stream instanceof BufferedInputStream ? stream : new BufferedInputStream(stream, 1 << 16);
        try {
            return new WavReader(in, name, size, minFrames);
        } catch (AudioException | RuntimeException e) {
            closeQuietly(in);
            throw e;
        }
    }

    /** Read and validate the header only (like the reference's {@code probe}). */
    public static AudioInfo probe(Path path, long minFrames) throws AudioException {
        try (WavReader r = open(path, minFrames)) {
            return r.info();
        }
    }

    /** Decode a whole file to planar {@code [C][N]} (validated as in {@link #open(Path, long)}). */
    public static float[][] readAll(Path path, long minFrames) throws AudioException {
        try (WavReader r = open(path, minFrames)) {
            long frames = r.info.frames();
            if (frames > Integer.MAX_VALUE) {
                throw new AudioException(path + ": too long to hold in memory (" + frames + " frames)");
            }
            float[][] out = new float[r.info.channels()][(int) frames];
            int at = 0;
            float[][] b;
            while ((b = r.read(DEFAULT_BLOCK_FRAMES)) != null) {
                for (int c = 0; c < out.length; c++) {
                    System.arraycopy(b[c], 0, out[c], at, b[c].length);
                }
                at += b[0].length;
            }
            return out;
        }
    }

    private WavReader(InputStream in, String name, long size, long minFrames) throws AudioException {
        this.in = in;
        this.name = name;
        WavHeader h = new WavHeader(in, name, size);
        this.encoding = h.encoding;
        this.bytesPerSample = h.bytesPerSample;
        this.blockAlign = h.blockAlign;
        this.info = h.info;
        long frames = info.frames();
        int rate = info.sampleRate();
        if (frames <= 0) {
            throw new AudioException(name + ": contains no audio (0 frames)");
        }
        if (frames < minFrames) {
            throw new AudioException(String.format(Locale.ROOT,
                    "%s: too short: %d frames (%.3f s), at least %d frames (%.3f s) are needed",
                    name, frames, info.seconds(), minFrames, (double) minFrames / rate));
        }
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // already failing: the original error is the one to report
        }
    }

    public AudioInfo info() {
        return info;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int sampleRate() {
        return info.sampleRate();
    }

    @Override
    public int channels() {
        return info.channels();
    }

    @Override
    public long frames() {
        return info.frames();
    }

    /** Frames returned so far. */
    public long framesRead() {
        return framesRead;
    }

    /**
     * The next block {@code [C][n]}, {@code 1 <= n <= maxFrames}, or null after the last frame.
     *
     * @throws AudioException if the file ends early (truncated) or the block holds NaN/Inf
     */
    @Override
    public float[][] read(int maxFrames) throws AudioException {
        if (maxFrames < 1) {
            throw new IllegalArgumentException("maxFrames must be at least 1, got " + maxFrames);
        }
        long left = info.frames() - framesRead;
        if (left <= 0) {
            return null;
        }
        int n = (int) Math.min(maxFrames, left);
        int bytes = n * blockAlign;
        if (scratch.length < bytes) {
            scratch = new byte[bytes];
        }
        int got = 0;
        try {
            while (got < bytes) {
                int r = in.read(scratch, got, bytes - got);
                if (r < 0) {
                    throw new EOFException();
                }
                got += r;
            }
        } catch (EOFException e) {
            throw new AudioException(name + ": cannot decode audio: truncated file: it ends after "
                    + (framesRead + got / blockAlign) + " of the " + info.frames() + " frames its header declares");
        } catch (IOException e) {
            throw new AudioException(name + ": cannot decode audio: " + WavHeader.reason(e), e);
        }
        int channels = info.channels();
        float[][] out = WavSamples.decode(scratch, n, info.channels(), encoding, bytesPerSample);
        if (encoding == WavHeader.ENC_FLOAT || encoding == WavHeader.ENC_DOUBLE) {
            checkFinite(name, out, framesRead);
        }
        framesRead += n;
        return out;
    }

    /**
     * Throw an {@link AudioException} if planar {@code block} holds NaN or Inf, naming the first
     * bad frame (counted from {@code firstFrame}) and channel, in frame-major order.
     */
    static void checkFinite(String name, float[][] block, long firstFrame) throws AudioException {
        int n = block.length == 0 ? 0 : block[0].length;
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < block.length; c++) {
                float v = block[c][t];
                if (Float.isNaN(v) || Float.isInfinite(v)) {
                    String kind = Float.isNaN(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
                    throw new AudioException(name + ": contains " + kind + " samples (first at frame "
                            + (firstFrame + t) + ", channel " + c + "); the file is damaged or not normalised audio");
                }
            }
        }
    }

    @Override
    public void close() {
        closeQuietly(in);
    }
}