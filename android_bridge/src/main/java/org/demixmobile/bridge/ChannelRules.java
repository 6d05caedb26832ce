package org.demixmobile.bridge;

/**
 * Channel rules of the on-device contract: any channel count to the model's stereo input.
 * Mirrors {@code mobile_core/contract/channels.py}; normative text: docs/contract-audio.md, "Channels".
 *
 * <p>Every rule is a fixed 2 x C matrix {@code W} (rows: left, right), {@code out = W x}:
 * <ul>
 *   <li>1 channel: copied to both sides at unit gain;</li>
 *   <li>2 channels: unchanged;</li>
 *   <li>6 channels (5.1, WAV order L, R, C, LFE, Ls, Rs) and 8 channels (7.1, WAVE_FORMAT_EXTENSIBLE
 *       order L, R, C, LFE, Lb, Rb, Ls, Rs): ITU-R BS.775-style downmix, centre and surrounds at
 *       1/sqrt(2), LFE dropped, each row divided by its sum of absolute gains;</li>
 *   <li>any other count: with an odd count channel 2 goes to both sides; the rest alternate left,
 *       right, left, ... in index order; each side is the plain average of what it receives.</li>
 * </ul>
 * Coefficients are defined in double and applied in float32.
 */
public final class ChannelRules {
    private ChannelRules() {
    }

    private static final double SURROUND_GAIN = 1.0 / Math.sqrt(2.0);

    private static final double[][] MATRIX_5_1 = {
        {1.0, 0.0, SURROUND_GAIN, 0.0, SURROUND_GAIN, 0.0},
        {0.0, 1.0, SURROUND_GAIN, 0.0, 0.0, SURROUND_GAIN},
    };
    private static final double[][] MATRIX_7_1 = {
        {1.0, 0.0, SURROUND_GAIN, 0.0, SURROUND_GAIN, 0.0, SURROUND_GAIN, 0.0},
        {0.0, 1.0, SURROUND_GAIN, 0.0, 0.0, SURROUND_GAIN, 0.0, SURROUND_GAIN},
    };

    /** Rows divided by their sums of absolute gains (summed in index order). */
    private static double[][] normalised(double[][] rows) {
        double[][] m = new double[rows.length][];
        for (int r = 0; r < rows.length; r++) {
            double sum = 0.0;
            for (double v : rows[r]) {
                sum += Math.abs(v);
            }
            m[r] = new double[rows[r].length];
            for (int c = 0; c < rows[r].length; c++) {
                m[r][c] = rows[r][c] / sum;
            }
        }
        return m;
    }

    private static double[][] alternating(int channels) {
        double[][] m = new double[2][channels];
        int shared = channels % 2 == 1 ? 2 : -1;
        int side = 0;
        for (int c = 0; c < channels; c++) {
            if (c == shared) {
                m[0][c] = 1.0;
                m[1][c] = 1.0;
            } else {
                m[side][c] = 1.0;
                side = 1 - side;
            }
        }
        for (int r = 0; r < 2; r++) {
            double sum = 0.0;
            for (double v : m[r]) {
                sum += v;
            }
            for (int c = 0; c < channels; c++) {
                m[r][c] = m[r][c] / sum;
            }
        }
        return m;
    }

    /**
     * The 2 x C gains that turn C channels into the model's stereo input ({@code [0]} = left row,
     * {@code [1]} = right row). A fresh array on every call.
     *
     * @throws IllegalArgumentException if {@code channels < 1}
     */
    public static double[][] downmixMatrix(int channels) {
        if (channels < 1) {
            throw new IllegalArgumentException("channel count must be at least 1, got " + channels);
        }
        switch (channels) {
            case 1:
                return new double[][] {{1.0}, {1.0}};
            case 2:
                return new double[][] {{1.0, 0.0}, {0.0, 1.0}};
            case 6:
                return normalised(MATRIX_5_1);
            case 8:
                return normalised(MATRIX_7_1);
            default:
                return alternating(channels);
        }
    }

    /**
     * Apply the contract channel rule to planar audio {@code x[C][n]}; returns {@code [2][n]}.
     *
     * <p>Stereo input is returned as is (the same array, like the Python reference); mono is copied
     * exactly to both sides; other counts are mixed with the float32 coefficients of
     * {@link #downmixMatrix(int)}, summed in float32 in channel order.
     *
     * @throws IllegalArgumentException for no channels or rows of unequal length
     */
    public static float[][] toStereo(float[][] x) {
        if (x == null || x.length < 1) {
            throw new IllegalArgumentException("expected audio [channels][samples] with at least one channel");
        }
        int n = x[0].length;
        for (float[] row : x) {
            if (row.length != n) {
                throw new IllegalArgumentException("channels of unequal length in one block");
            }
        }
        int channels = x.length;
        if (channels == 2) {
            return x;
        }
        if (channels == 1) {
            return new float[][] {x[0].clone(), x[0].clone()};
        }
        double[][] w = downmixMatrix(channels);
        float[][] out = new float[2][n];
        for (int r = 0; r < 2; r++) {
            float[] o = out[r];
            for (int c = 0; c < channels; c++) {
                float g = (float) w[r][c];
                if (g == 0.0f) {
                    continue;
                }
                float[] in = x[c];
                for (int t = 0; t < n; t++) {
                    o[t] += g * in[t];
                }
            }
        }
        return out;
    }
}
