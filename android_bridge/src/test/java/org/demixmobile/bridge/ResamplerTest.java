package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ResamplerTest {
    /** Every common rate of docs/contract-audio.md (polyphase section), paired with 44100 both ways. */
    static final int[] COMMON_RATES = {8000, 11025, 16000, 22050, 24000, 32000, 48000, 88200, 96000, 176400, 192000};

    /** The brief's bound against the Python reference (the manifest allows 1e-5). */
    static final double MAX_ABS_VS_PYTHON = 1e-6;

    // ---------------------------------------------------------------------------------------
    // Reference tap values of docs/contract-audio.md.

    static Stream<Arguments> referenceTaps() {
        return Stream.of(
                Arguments.of(147, 160, 0L, 0.87281249999999999, 0.87281251f),
                Arguments.of(147, 160, 1L, 0.87276184669954571, 0.872761846f),
                Arguments.of(147, 160, 147L, 0.12370903142404877, 0.12370903f),
                Arguments.of(147, 160, 1000L, -0.0087239752420083146, -0.00872397516f),
                Arguments.of(147, 160, 10240L, 9.5388769193744674e-07, 9.53887707e-07f),
                Arguments.of(147, 160, 10241L, 0.0, 0.0f),
                Arguments.of(160, 147, 0L, 0.95000000000000007, 0.949999988f),
                Arguments.of(160, 147, 147L, 0.13464928590372655, 0.134649292f),
                Arguments.of(160, 147, 1000L, -0.0094954832566076907, -0.00949548371f),
                Arguments.of(441, 80, 80L, 0.90422989663087594, 0.904229879f),
                Arguments.of(441, 80, 1000L, 0.06498335520546987, 0.064983353f));
    }

    @ParameterizedTest(name = "up={0} down={1} d={2}")
    @MethodSource("referenceTaps")
    void tapsMatchTheContractTable(int up, int down, long d, double wantDouble, float wantFloat) {
        double h = Resampler.filterTap(d, up, down);
        assertEquals(wantDouble, h, 4 * Math.ulp(wantDouble) + 1e-300, "h(" + d + ") in double");
        assertEquals(wantFloat, (float) h, 0.0f, "h(" + d + ") rounded to float32");
        assertEquals(h, Resampler.filterTap(-d, up, down), 0.0, "zero phase: h(-d) == h(d)");
    }

    @Test
    void reachIsInclusive() {
        assertTrue(Resampler.filterTap(10240, 147, 160) != 0.0);
        assertEquals(0.0, Resampler.filterTap(10241, 147, 160));
        assertEquals(0.0, Resampler.filterTap(-10241, 147, 160));
    }

    // ---------------------------------------------------------------------------------------
    // Against the Python reference (golden vectors).

    static Stream<Map<String, Object>> goldenCases() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : Golden.list(Golden.get().manifest.get("resample"))) {
            out.add(Golden.map(o));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "golden case {index}")
    @MethodSource("goldenCases")
    void oneShotMatchesPython(Map<String, Object> c) throws Exception {
        Golden g = Golden.get();
        int srIn = Golden.integer(c.get("sr_in"));
        int srOut = Golden.integer(c.get("sr_out"));
        float[][] x = g.matrix((String) c.get("input"));
        float[][] want = g.matrix((String) c.get("output"));
        assertEquals(Golden.integer(c.get("n_in")), x[0].length);
        assertEquals(Golden.integer(c.get("n_out")), want[0].length);
        assertEquals(want[0].length, Resampler.outputLength(x[0].length, srIn, srOut));
        float[][] y = Resampler.resample(x, srIn, srOut);
        double diff = Golden.maxAbsDiff(y, want);
        double tol = ((Number) Golden.map(g.manifest.get("tolerances")).get("resample_abs")).doubleValue();
        System.out.printf("resample %d -> %d: max |java - python| = %.3g (n_out %d)%n", srIn, srOut, diff, y[0].length);
        assertTrue(diff <= Math.min(tol, MAX_ABS_VS_PYTHON), srIn + " -> " + srOut + ": max abs diff " + diff);
    }

    @ParameterizedTest(name = "golden case {index}")
    @MethodSource("goldenCases")
    void streamingMatchesPythonAndOneShot(Map<String, Object> c) throws Exception {
        Golden g = Golden.get();
        int srIn = Golden.integer(c.get("sr_in"));
        int srOut = Golden.integer(c.get("sr_out"));
        float[][] x = g.matrix((String) c.get("input"));
        float[][] oneShot = Resampler.resample(x, srIn, srOut);
        for (int block : new int[] {1, 3, 64, 441, 1000, 100000}) {
            float[][] y = streamed(x, srIn, srOut, new int[] {block});
            assertArraysEqual(oneShot, y, srIn + " -> " + srOut + " in blocks of " + block);
        }
        float[][] y = streamed(x, srIn, srOut, randomSizes(new Random(srIn ^ srOut), 200));
        assertArraysEqual(oneShot, y, srIn + " -> " + srOut + " in random blocks");
        assertTrue(Golden.maxAbsDiff(y, g.matrix((String) c.get("output"))) <= MAX_ABS_VS_PYTHON);
    }

    // ---------------------------------------------------------------------------------------
    // Every common rate to 44.1 kHz and back, against a direct evaluation of the formula.

    static Stream<Arguments> commonPairs() {
        List<Arguments> out = new ArrayList<>();
        for (int r : COMMON_RATES) {
            out.add(Arguments.of(r, 44100));
            out.add(Arguments.of(44100, r));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("commonPairs")
    void commonRatesMatchTheFormulaAndStream(int srIn, int srOut) throws Exception {
        int n = srIn / 40 + 13; // 25 ms and a remainder
        float[][] x = signal(n, srIn, 2, srIn + srOut);
        float[][] y = Resampler.resample(x, srIn, srOut);
        assertEquals(Resampler.outputLength(n, srIn, srOut), y[0].length);
        double[][] ref = direct(x, srIn, srOut);
        double diff = 0;
        for (int c = 0; c < 2; c++) {
            for (int t = 0; t < ref[c].length; t++) {
                diff = Math.max(diff, Math.abs(ref[c][t] - y[c][t]));
            }
        }
        assertTrue(diff <= 1e-6, srIn + " -> " + srOut + ": max abs diff to the double formula " + diff);
        assertArraysEqual(y, streamed(x, srIn, srOut, new int[] {1}), "blocks of 1");
        assertArraysEqual(y, streamed(x, srIn, srOut, randomSizes(new Random(srIn * 31L + srOut), 300)), "random blocks");
    }

    @ParameterizedTest(name = "44100 -> {0} -> 44100")
    @ValueSource(ints = {8000, 11025, 16000, 22050, 24000, 32000, 48000, 88200, 96000, 176400, 192000})
    void roundTripKeepsThePassband(int rate) throws Exception {
        int n = 44100 / 5;
        float[][] x = new float[1][n];
        for (int t = 0; t < n; t++) {
            x[0][t] = (float) (0.5 * Math.sin(2 * Math.PI * 1000.0 * t / 44100) + 0.25 * Math.sin(2 * Math.PI * 3000.0 * t / 44100 + 1));
        }
        float[][] there = Resampler.resample(x, 44100, rate);
        float[][] back = Resampler.resample(there, rate, 44100);
        assertTrue(back[0].length >= n && back[0].length <= n + 1, "round trip length " + back[0].length);
        int edge = (int) Math.ceil(3.0 * Resampler.ZERO_CROSSINGS * 44100 / Math.min(rate, 44100));
        double diff = 0;
        for (int t = edge; t < n - edge; t++) {
            diff = Math.max(diff, Math.abs(back[0][t] - x[0][t]));
        }
        assertTrue(diff < 1e-4, "round trip through " + rate + " Hz: max abs diff " + diff);
    }

    @Test
    void oddRateUsesTheOnTheFlyPathWithTheSameNumbers() throws Exception {
        Resampler.Plan plan = Resampler.plan(44101, 44100);
        assertEquals(null, plan.table, "44101 -> 44100 should be evaluated on the fly");
        float[][] x = signal(1500, 44101, 2, 5);
        float[][] y = Resampler.resample(x, 44101, 44100);
        double[][] ref = direct(x, 44101, 44100);
        for (int c = 0; c < 2; c++) {
            for (int t = 0; t < ref[c].length; t++) {
                assertEquals(ref[c][t], y[c][t], 1e-6, "sample " + t);
            }
        }
        assertArraysEqual(y, streamed(x, 44101, 44100, new int[] {37}), "streamed");
    }

    @Test
    void equalRatesPassThrough() throws Exception {
        float[][] x = signal(100, 44100, 2, 1);
        assertSame(x, Resampler.resample(x, 44100, 44100));
        Resampler r = new Resampler(48000, 48000, 2);
        assertSame(x, r.process(x));
        assertEquals(0, r.flush()[0].length);
    }

    @Test
    void ratesOutsideTheRangeAreRefused() {
        float[][] x = new float[1][10];
        AudioException e = assertThrows(AudioException.class, () -> Resampler.resample(x, 7999, 44100));
        assertEquals("input sample rate 7999 Hz is outside the supported range 8000\u2013192000 Hz", e.getMessage());
        assertThrows(AudioException.class, () -> Resampler.resample(x, 44100, 192001));
        assertThrows(AudioException.class, () -> new Resampler(44100, 0, 2));
        assertThrows(AudioException.class, () -> Resampler.checkSampleRate(44100.5, "sample rate"));
    }

    @Test
    void streamingLifecycle() throws Exception {
        Resampler r = new Resampler(48000, 44100, 1);
        assertEquals(0, r.flush()[0].length, "no input, no output");
        assertThrows(IllegalStateException.class, r::flush);
        assertThrows(IllegalStateException.class, () -> r.process(new float[1][1]));
        Resampler r2 = new Resampler(48000, 44100, 2);
        assertThrows(IllegalArgumentException.class, () -> r2.process(new float[1][5]));
    }

    @Test
    void streamingHoldsOnlyAboutTheFilterSpan() throws Exception {
        // 10 s through the streaming path in blocks of 4096: output keeps pace with input
        Resampler r = new Resampler(48000, 44100, 1);
        float[][] block = new float[1][4096];
        long out = 0;
        for (int i = 0; i < 120; i++) {
            out += r.process(block)[0].length;
            long lag = Resampler.outputLength(r.inputSamples(), 48000, 44100) - out;
            assertTrue(lag <= 2 * Resampler.ZERO_CROSSINGS, "output lags input by " + lag);
        }
        out += r.flush()[0].length;
        assertEquals(Resampler.outputLength(120 * 4096, 48000, 44100), out);
    }

    // ---------------------------------------------------------------------------------------
    // Helpers.

    /** Music-like planar test signal: a few partials, noise, a click. */
    static float[][] signal(int n, int rate, int channels, long seed) {
        Random rng = new Random(seed);
        float[][] x = new float[channels][n];
        for (int c = 0; c < channels; c++) {
            double f0 = 110.0 * Math.pow(2, (3 * c + seed % 5) / 12.0);
            for (int t = 0; t < n; t++) {
                double time = (double) t / rate;
                double v = 0;
                for (int k = 1; k <= 4; k++) {
                    v += 0.2 / k * Math.sin(2 * Math.PI * f0 * k * time + 0.7 * k * c);
                }
                v += 0.05 * rng.nextGaussian();
                x[c][t] = (float) v;
            }
            if (n > 10) {
                x[c][n / 3] += 0.5f;
            }
        }
        return x;
    }

    /** y[n] = sum over k of x[k] * float32(h(n down - k up)), accumulated in double, taps found directly. */
    static double[][] direct(float[][] x, int srIn, int srOut) {
        long g = java.math.BigInteger.valueOf(srIn).gcd(java.math.BigInteger.valueOf(srOut)).longValue();
        int up = (int) (srOut / g);
        int down = (int) (srIn / g);
        long reach = (long) Resampler.ZERO_CROSSINGS * Math.max(up, down);
        int nIn = x[0].length;
        int m = (int) Resampler.outputLength(nIn, srIn, srOut);
        double[][] y = new double[x.length][m];
        for (int n = 0; n < m; n++) {
            long p = (long) n * down;
            long kLo = Math.max(0, -Math.floorDiv(-(p - reach), (long) up));
            long kHi = Math.min(nIn - 1, Math.floorDiv(p + reach, (long) up));
            for (long k = kLo; k <= kHi; k++) {
                double w = (float) Resampler.filterTap(p - k * up, up, down);
                for (int c = 0; c < x.length; c++) {
                    y[c][n] += x[c][(int) k] * w;
                }
            }
        }
        return y;
    }

    static int[] randomSizes(Random rng, int max) {
        int[] s = new int[64];
        for (int i = 0; i < s.length; i++) {
            s[i] = rng.nextInt(max) + (i % 7 == 0 ? 0 : 1); // some empty blocks too
        }
        return s;
    }

    /** Feed x in blocks of the given sizes (cycled), then flush; concatenate the outputs. */
    static float[][] streamed(float[][] x, int srIn, int srOut, int[] sizes) throws AudioException {
        Resampler r = new Resampler(srIn, srOut, x.length);
        List<float[][]> parts = new ArrayList<>();
        int n = x[0].length;
        int at = 0;
        int i = 0;
        while (at < n) {
            int b = Math.min(sizes[i++ % sizes.length], n - at);
            float[][] block = new float[x.length][];
            for (int c = 0; c < x.length; c++) {
                block[c] = java.util.Arrays.copyOfRange(x[c], at, at + b);
            }
            at += b;
            parts.add(r.process(block));
        }
        parts.add(r.flush());
        int total = 0;
        for (float[][] p : parts) {
            total += p[0].length;
        }
        float[][] out = new float[x.length][total];
        int o = 0;
        for (float[][] p : parts) {
            for (int c = 0; c < x.length; c++) {
                System.arraycopy(p[c], 0, out[c], o, p[c].length);
            }
            o += p[0].length;
        }
        return out;
    }

    static void assertArraysEqual(float[][] want, float[][] got, String what) {
        assertEquals(want.length, got.length, what + ": channels");
        for (int c = 0; c < want.length; c++) {
            assertArrayEquals(want[c], got[c], 0.0f, what + ": channel " + c);
        }
    }
}
