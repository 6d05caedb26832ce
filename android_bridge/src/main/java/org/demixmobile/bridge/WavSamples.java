package org.demixmobile.bridge;

/**
 * Interleaved little-endian WAV sample bytes to planar float32 under the contract's scaling
 * (docs/contract-audio.md, "Decoding"): unsigned 8-bit {@code (s - 128) / 128}, signed integer PCM
 * {@code s / 2^(bits-1)}, IEEE float passed through (64-bit rounded to float32), nothing clipped.
 */
final class WavSamples {
    private WavSamples() {
    }

    /** Decode {@code n} frames of {@code channels} samples from {@code s} into a new {@code [channels][n]}. */
    static float[][] decode(byte[] s, int n, int channels, int encoding, int bytesPerSample) {
        float[][] out = new float[channels][n];
        int p = 0;
        switch (encoding) {
            case WavHeader.ENC_U8:
                for (int t = 0; t < n; t++) {
                    for (int c = 0; c < channels; c++) {
                        out[c][t] = ((s[p++] & 0xff) - 128) / 128.0f;
                    }
                }
                break;
            case WavHeader.ENC_INT: {
                int shift = 32 - 8 * bytesPerSample;
                float scale = 1.0f / 2147483648.0f;
                for (int t = 0; t < n; t++) {
                    for (int c = 0; c < channels; c++) {
                        int v = 0;
                        for (int k = 0; k < bytesPerSample; k++) {
                            v |= (s[p++] & 0xff) << (8 * k + shift);
                        }
                        out[c][t] = (float) v * scale;
                    }
                }
                break;
            }
            case WavHeader.ENC_FLOAT:
                for (int t = 0; t < n; t++) {
                    for (int c = 0; c < channels; c++) {
                        int v = (s[p] & 0xff) | (s[p + 1] & 0xff) << 8 | (s[p + 2] & 0xff) << 16 | (s[p + 3] & 0xff) << 24;
                        p += 4;
                        out[c][t] = Float.intBitsToFloat(v);
                    }
                }
                break;
            default: // ENC_DOUBLE
                for (int t = 0; t < n; t++) {
                    for (int c = 0; c < channels; c++) {
                        long v = 0;
                        for (int k = 0; k < 8; k++) {
                            v |= (s[p++] & 0xffL) << (8 * k);
                        }
                        out[c][t] = (float) Double.longBitsToDouble(v);
                    }
                }
                break;
        }
        return out;
    }
}
