package org.demixmobile.bridge;

/**
 * A decoded audio stream: the input side of the {@link Demixer}. {@link WavReader} is one; an
 * Android app wraps its platform decoder (MediaExtractor + MediaCodec) the same way.
 *
 * <p>Contract (docs/contract-audio.md, "Decoding"): float32 samples, integer PCM scaled by
 * {@code 1 / 2^(bits-1)}, nothing clipped; {@link #frames()} is known from the header before
 * anything is decoded, and the stream must then deliver exactly that many frames (the demixer
 * fails the track otherwise).
 */
public interface PcmSource extends AutoCloseable {
    /** How to name the source in messages (its path or URI). */
    String name();

    /** Sample rate in Hz. */
    int sampleRate();

    /** Channels per frame, at least 1. */
    int channels();

    /** Frames the header promises. */
    long frames();

    /**
     * The next block, planar {@code [channels][n]} with {@code 1 <= n <= maxFrames}, or null at
     * the end of the stream.
     */
    float[][] read(int maxFrames) throws DemixException;

    @Override
    void close();

    /** An in-memory source over planar {@code x[channels][n]} (not copied). */
    static PcmSource of(String name, float[][] x, int sampleRate) {
        return new ArraySource(name, x, sampleRate);
    }

    /** The in-memory source of {@link PcmSource#of}. */
    final class ArraySource implements PcmSource {
        private final String name;
        private final float[][] x;
        private final int sampleRate;
        private int at;

        ArraySource(String name, float[][] x, int sampleRate) {
            if (x == null || x.length < 1) {
                throw new IllegalArgumentException("need at least one channel");
            }
            for (float[] row : x) {
                if (row.length != x[0].length) {
                    throw new IllegalArgumentException("channels of unequal length");
                }
            }
            this.name = name;
            this.x = x;
            this.sampleRate = sampleRate;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public int sampleRate() {
            return sampleRate;
        }

        @Override
        public int channels() {
            return x.length;
        }

        @Override
        public long frames() {
            return x[0].length;
        }

        @Override
        public float[][] read(int maxFrames) {
            int n = Math.min(maxFrames, x[0].length - at);
            if (n <= 0) {
                return null;
            }
            float[][] out = new float[x.length][];
            for (int c = 0; c < x.length; c++) {
                out[c] = java.util.Arrays.copyOfRange(x[c], at, at + n);
            }
            at += n;
            return out;
        }

        @Override
        public void close() {
        }
    }
}
