package org.demixmobile.bridge;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The contract's windowed-sinc sample-rate converter (Kaiser window, zero phase, evaluated at
 * exact rational positions). Mirrors {@code mobile_core/contract/resample.py}: the static
 * {@link #resample(float[][], int, int)} is {@code resample()}, an instance is a
 * {@code StreamingResampler}. Normative text: docs/contract-audio.md, "Resampler".
 *
 * <pre>
 * g = gcd(sr_in, sr_out), up = sr_out / g, down = sr_in / g, D = ZERO_CROSSINGS * max(up, down)
 * y[n] = sum_k x[k] * h(n * down - k * up)
 * h(d) = 0 if |d| &gt; D, else (gain * sinc(a)) * kaiser,
 *   u = d / D, a = u * (pi * CUTOFF) * ZERO_CROSSINGS, sinc = sin(a) / a (1 at 0),
 *   kaiser = I0s(max(0, 1 - u^2) * 25) / I0s(25), gain = CUTOFF * min(up, down) / down
 * </pre>
 *
 * Taps are computed in double and rounded to float32; products and sums run in double and each
 * output is rounded to float32 once (as the Python reference does). Input outside
 * {@code [0, n)} is zero; the output has {@code ceil(n * sr_out / sr_in)} samples. Equal rates
 * pass the signal through untouched.
 *
 * <p>Streaming: feed planar blocks {@code [channels][n]} of any size to {@link #process}, then call
 * {@link #flush()} once; the concatenated outputs equal the one-shot result bit for bit (every
 * output sample is computed by the same code with the same taps in the same order). Not
 * thread-safe; the tap tables are shared between instances.
 */
public final class Resampler {
    /** Half-width of the filter, in sample periods of the lower of the two rates. */
    public static final int ZERO_CROSSINGS = 64;
    /** Cutoff as a fraction of {@code min(sr_in, sr_out) / 2} (half-amplitude point). */
    public static final double CUTOFF = 0.95;
    /** Shape parameter of the Kaiser window. */
    public static final double KAISER_BETA = 10.0;
    /** Terms of the power series of the Bessel function I0 (k = 0 .. 31). */
    public static final int I0_TERMS = 32;
    /** Lowest supported sample rate, Hz. */
    public static final int MIN_RATE = 8000;
    /** Highest supported sample rate, Hz. */
    public static final int MAX_RATE = 192000;

    /** Largest polyphase table, in taps (not part of the contract: same numbers either way). */
    static final long TABLE_BUDGET = 1L << 21;

    private static final double PI_CUTOFF_Z = Math.PI * CUTOFF * ZERO_CROSSINGS;
    private static final double HALF_BETA_SQ = (KAISER_BETA * 0.5) * (KAISER_BETA * 0.5);
    private static final double[] I0_COEFFS = i0Coefficients();
    private static final double I0_NORM = i0s(HALF_BETA_SQ);

    private static double[] i0Coefficients() {
        double[] c = new double[I0_TERMS];
        BigInteger fact = BigInteger.ONE;
        for (int k = 0; k < I0_TERMS; k++) {
            if (k > 0) {
                fact = fact.multiply(BigInteger.valueOf(k));
            }
            double f = fact.doubleValue(); // correctly rounded, like Python's float(math.factorial(k))
            c[k] = 1.0 / (f * f);
        }
        return c;
    }

    /** {@code sum_k q^k / (k!)^2} by Horner's rule from the highest power: I0(z) for q = (z/2)^2. */
    static double i0s(double q) {
        double t = I0_COEFFS[I0_TERMS - 1];
        for (int k = I0_TERMS - 2; k >= 0; k--) {
            t = t * q + I0_COEFFS[k];
        }
        return t;
    }

    /**
     * The contract filter {@code h(d)} in double, for a tap offset of {@code d} ticks and the
     * reduced ratio {@code up / down} ({@code sr_out / g}, {@code sr_in / g}).
     */
    public static double filterTap(long d, int up, int down) {
        long reach = (long) ZERO_CROSSINGS * Math.max(up, down);
        if (Math.abs(d) > reach) {
            return 0.0;
        }
        double u = (double) d / (double) reach;
        double a = u * PI_CUTOFF_Z;
        double sinc = a == 0.0 ? 1.0 : StrictMath.sin(a) / a;
        double q = Math.max(0.0, 1.0 - u * u) * HALF_BETA_SQ;
        double kaiser = i0s(q) / I0_NORM;
        double gain = (CUTOFF * Math.min(up, down)) / down;
        return (gain * sinc) * kaiser;
    }

    /** Output length for {@code nIn} input samples: {@code ceil(nIn * srOut / srIn)}. */
    public static long outputLength(long nIn, int srIn, int srOut) {
        return -Math.floorDiv(-nIn * srOut, (long) srIn);
    }

    /**
     * Check a sample rate: a whole number of Hz in [8000, 192000].
     *
     * @param what how to name it in the message ("input sample rate", or a file name and "sample
     *     rate")
     * @throws AudioException with the contract's message otherwise
     */
    public static int checkSampleRate(long sr, String what) throws AudioException {
        if (sr < MIN_RATE || sr > MAX_RATE) {
            throw new AudioException(what + " " + sr + " Hz is outside the supported range "
                    + MIN_RATE + "\u2013" + MAX_RATE + " Hz");
        }
        return (int) sr;
    }

    /** As {@link #checkSampleRate(long, String)} for a rate given as a double (e.g. from a decoder). */
    public static int checkSampleRate(double sr, String what) throws AudioException {
        if (Double.isNaN(sr) || Double.isInfinite(sr) || sr != Math.rint(sr)) {
            throw new AudioException(what + " " + sr + " Hz is not a whole number of Hz");
        }
        return checkSampleRate((long) sr, what);
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    // ------------------------------------------------------------------------------------------
    // The filter layout for one reduced ratio.

    /**
     * For output n: p = n * down, base = floor(p / up), num = p mod up; taps are input samples
     * base + j, jLo &lt;= j &lt;= jHi, with weight h(num - j * up).
     */
    static final class Plan {
        final int up;
        final int down;
        final long reach;
        final int jLo;
        final int jHi;
        final int taps;
        /** [up * taps] float32 taps, row num, or null when evaluated per output. */
        final float[] table;

        Plan(int up, int down) {
            this.up = up;
            this.down = down;
            this.reach = (long) ZERO_CROSSINGS * Math.max(up, down);
            this.jLo = (int) -(reach / up);
            this.jHi = (int) ((up - 1 + reach) / up);
            this.taps = jHi - jLo + 1;
            if ((long) up * taps <= TABLE_BUDGET) {
                table = new float[up * taps];
                for (int num = 0; num < up; num++) {
                    fillRow(num, table, num * taps);
                }
            } else {
                table = null;
            }
        }

        void fillRow(int num, float[] dst, int offset) {
            for (int j = jLo; j <= jHi; j++) {
                dst[offset + j - jLo] = (float) filterTap((long) num - (long) j * up, up, down);
            }
        }

        /**
         * Outputs [n0, n1) of the signal of which {@code x[c][0 .. xLen)} holds samples
         * {@code [xStart, xStart + xLen)} (all other samples are zeros), written to
         * {@code out[c][outOff ..]}.
         */
        void compute(float[][] x, long xStart, int xLen, long n0, long n1, float[][] out, int outOff) {
            float[] row = table == null ? new float[taps] : null;
            int channels = x.length;
            for (long n = n0; n < n1; n++) {
                long p = n * down;
                long base = Math.floorDiv(p, (long) up);
                int num = (int) (p - base * up);
                float[] w;
                int wOff;
                if (table != null) {
                    w = table;
                    wOff = num * taps;
                } else {
                    fillRow(num, row, 0);
                    w = row;
                    wOff = 0;
                }
                long first = base + jLo - xStart; // index in x of the tap j = jLo
                int o = outOff + (int) (n - n0);
                if (first >= 0 && first + taps <= xLen) {
                    int f = (int) first;
                    for (int c = 0; c < channels; c++) {
                        float[] xc = x[c];
                        double acc = 0.0; // float32 taps, double sums, one rounding
                        for (int i = 0; i < taps; i++) {
                            acc += (double) xc[f + i] * w[wOff + i];
                        }
                        out[c][o] = (float) acc;
                    }
                } else {
                    int iLo = (int) Math.max(0, -first);
                    int iHi = (int) Math.min(taps, xLen - first);
                    for (int c = 0; c < channels; c++) {
                        float[] xc = x[c];
                        double acc = 0.0;
                        for (int i = iLo; i < iHi; i++) {
                            acc += (double) xc[(int) (first + i)] * w[wOff + i];
                        }
                        out[c][o] = (float) acc;
                    }
                }
            }
        }
    }

    private static final Map<Long, Plan> PLANS = new LinkedHashMap<Long, Plan>(16, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Plan> eldest) {
            return size() > 32;
        }
    };

    static Plan plan(int srIn, int srOut) {
        long g = gcd(srIn, srOut);
        int up = (int) (srOut / g);
        int down = (int) (srIn / g);
        Long key = ((long) up << 32) | down;
        synchronized (PLANS) {
            Plan p = PLANS.get(key);
            if (p == null) {
                p = new Plan(up, down);
                PLANS.put(key, p);
            }
            return p;
        }
    }

    private static void checkBlock(float[][] x, int channels) {
        if (x == null || x.length != channels) {
            throw new IllegalArgumentException("expected a block [" + channels + "][n], got "
                    + (x == null ? "null" : x.length + " channels"));
        }
        for (float[] row : x) {
            if (row.length != x[0].length) {
                throw new IllegalArgumentException("channels of unequal length in one block");
            }
        }
    }

    /**
     * One-shot resampling of planar {@code x[C][n]} from {@code srIn} to {@code srOut} Hz.
     * Returns {@code [C][ceil(n * srOut / srIn)]}, or {@code x} itself when the rates are equal.
     *
     * @throws AudioException for unsupported rates
     */
    public static float[][] resample(float[][] x, int srIn, int srOut) throws AudioException {
        checkSampleRate(srIn, "input sample rate");
        checkSampleRate(srOut, "output sample rate");
        if (x == null || x.length < 1) {
            throw new IllegalArgumentException("resample needs at least one channel");
        }
        checkBlock(x, x.length);
        if (srIn == srOut) {
            return x;
        }
        int n = x[0].length;
        long m = outputLength(n, srIn, srOut);
        if (m > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("output of " + m + " samples does not fit an array");
        }
        float[][] out = new float[x.length][(int) m];
        plan(srIn, srOut).compute(x, 0, n, 0, m, out, 0);
        return out;
    }

    // ------------------------------------------------------------------------------------------
    // Streaming.

    private final int srIn;
    private final int srOut;
    private final int channels;
    private final Plan plan; // null: equal rates, pass-through
    private float[][] buf; // held input: samples [bufStart, bufStart + bufLen)
    private long bufStart;
    private int bufLen;
    private long nIn;
    private long nOut;
    private boolean flushed;

    /**
     * A streaming resampler for planar blocks of {@code channels} channels.
     *
     * @throws AudioException for unsupported rates
     */
    public Resampler(int srIn, int srOut, int channels) throws AudioException {
        this.srIn = checkSampleRate(srIn, "input sample rate");
        this.srOut = checkSampleRate(srOut, "output sample rate");
        if (channels < 1) {
            throw new IllegalArgumentException("channels must be at least 1, got " + channels);
        }
        this.channels = channels;
        this.plan = srIn == srOut ? null : plan(srIn, srOut);
        this.buf = new float[channels][0];
    }

    public int inputRate() {
        return srIn;
    }

    public int outputRate() {
        return srOut;
    }

    public int channels() {
        return channels;
    }

    /** Input samples taken so far (per channel). */
    public long inputSamples() {
        return nIn;
    }

    /** Output samples returned so far (per channel). */
    public long outputSamples() {
        return nOut;
    }

    /**
     * Take input {@code [channels][n]}; return the output samples now complete,
     * {@code [channels][m]} ({@code m} may be 0). With equal rates the block itself is returned.
     */
    public float[][] process(float[][] block) {
        if (flushed) {
            throw new IllegalStateException("Resampler.process called after flush");
        }
        checkBlock(block, channels);
        int n = block[0].length;
        nIn += n;
        if (plan == null) {
            nOut += n;
            return block;
        }
        append(block, n);
        // Output k is complete once its last tap, at k * down + reach ticks, is before nIn.
        long nEnd = Math.max(nOut, -Math.floorDiv(plan.reach - nIn * plan.up, (long) plan.down));
        float[][] y = new float[channels][(int) (nEnd - nOut)];
        plan.compute(buf, bufStart, bufLen, nOut, nEnd, y, 0);
        nOut = nEnd;
        // Keep only the input that later outputs can reach.
        long keepFrom = -Math.floorDiv(plan.reach - nOut * plan.down, (long) plan.up);
        if (keepFrom > bufStart) {
            int drop = (int) Math.min(keepFrom - bufStart, bufLen);
            for (int c = 0; c < channels; c++) {
                System.arraycopy(buf[c], drop, buf[c], 0, bufLen - drop);
            }
            bufLen -= drop;
            bufStart += drop;
        }
        return y;
    }

    private void append(float[][] block, int n) {
        if (bufLen + n > buf[0].length) {
            int cap = Math.max(bufLen + n, Math.max(16, buf[0].length + buf[0].length / 2));
            for (int c = 0; c < channels; c++) {
                float[] grown = new float[cap];
                System.arraycopy(buf[c], 0, grown, 0, bufLen);
                buf[c] = grown;
            }
        }
        for (int c = 0; c < channels; c++) {
            System.arraycopy(block[c], 0, buf[c], bufLen, n);
        }
        bufLen += n;
    }

    /** End of input: return the remaining output samples {@code [channels][m]} (zeros follow the input). */
    public float[][] flush() {
        if (flushed) {
            throw new IllegalStateException("Resampler.flush called twice");
        }
        flushed = true;
        if (plan == null || nIn == 0) {
            return new float[channels][0];
        }
        long total = outputLength(nIn, srIn, srOut);
        float[][] y = new float[channels][(int) (total - nOut)];
        plan.compute(buf, bufStart, bufLen, nOut, total, y, 0);
        nOut = total;
        buf = new float[channels][0];
        bufLen = 0;
        return y;
    }
}
