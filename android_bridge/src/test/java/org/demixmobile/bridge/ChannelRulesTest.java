package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ChannelRulesTest {
    static Stream<Map<String, Object>> goldenCases() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : Golden.list(Golden.get().manifest.get("channels"))) {
            out.add(Golden.map(o));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "golden case {index}")
    @MethodSource("goldenCases")
    void matrixAndOutputMatchPython(Map<String, Object> c) {
        Golden g = Golden.get();
        int channels = Golden.integer(c.get("channels"));
        List<Object> rows = Golden.list(c.get("matrix"));
        double[][] w = ChannelRules.downmixMatrix(channels);
        assertEquals(2, w.length);
        for (int r = 0; r < 2; r++) {
            List<Object> row = Golden.list(rows.get(r));
            assertEquals(channels, row.size());
            for (int k = 0; k < channels; k++) {
                double want = ((Number) row.get(k)).doubleValue();
                assertEquals(want, w[r][k], 2 * Math.ulp(want), channels + " channels, row " + r + ", column " + k);
            }
        }
        float[][] x = g.matrix((String) c.get("input"));
        float[][] want = g.matrix((String) c.get("output"));
        assertEquals(channels, x.length);
        float[][] y = ChannelRules.toStereo(x);
        double tol = ((Number) Golden.map(g.manifest.get("tolerances")).get("channels_abs")).doubleValue();
        double diff = Golden.maxAbsDiff(y, want);
        System.out.printf("channels %d: max |java - python| = %.3g%n", channels, diff);
        assertTrue(diff <= tol, channels + " channels: max abs diff " + diff);
    }

    @Test
    void monoIsCopiedExactly() {
        float[][] x = {{0.1f, -0.7f, 1.5f, Float.MIN_VALUE}};
        float[][] y = ChannelRules.toStereo(x);
        assertArrayEquals(x[0], y[0], 0.0f);
        assertArrayEquals(x[0], y[1], 0.0f);
        assertNotSame(x[0], y[0]);
    }

    @Test
    void stereoIsUnchanged() {
        float[][] x = ResamplerTest.signal(500, 44100, 2, 3);
        assertSame(x, ChannelRules.toStereo(x));
        assertArrayEquals(new double[] {1, 0}, ChannelRules.downmixMatrix(2)[0]);
        assertArrayEquals(new double[] {0, 1}, ChannelRules.downmixMatrix(2)[1]);
    }

    @Test
    void surroundMatricesAreTheContractsNumbers() {
        double[][] m6 = ChannelRules.downmixMatrix(6);
        assertArrayEquals(new double[] {0.4142135624, 0, 0.2928932188, 0, 0.2928932188, 0}, m6[0], 1e-10);
        assertArrayEquals(new double[] {0, 0.4142135624, 0.2928932188, 0, 0, 0.2928932188}, m6[1], 1e-10);
        double[][] m8 = ChannelRules.downmixMatrix(8);
        assertArrayEquals(new double[] {0.320377241, 0, 0.2265409197, 0, 0.2265409197, 0, 0.2265409197, 0}, m8[0], 1e-9);
        assertArrayEquals(new double[] {0, 0.320377241, 0.2265409197, 0, 0, 0.2265409197, 0, 0.2265409197}, m8[1], 1e-9);
    }

    @Test
    void sixAndEightChannelsByHand() {
        // one frame per channel set to a distinct value; the output is the matrix applied in float32
        float[][] x6 = {{1f}, {2f}, {4f}, {8f}, {16f}, {32f}};
        float[][] y6 = ChannelRules.toStereo(x6);
        double g = 1 / Math.sqrt(2);
        assertEquals((1 + 4 * g + 16 * g) / (1 + 2 * g), y6[0][0], 1e-5);
        assertEquals((2 + 4 * g + 32 * g) / (1 + 2 * g), y6[1][0], 1e-5);
        float[][] x8 = {{1f}, {2f}, {4f}, {8f}, {16f}, {32f}, {64f}, {128f}};
        float[][] y8 = ChannelRules.toStereo(x8);
        assertEquals((1 + 4 * g + 16 * g + 64 * g) / (1 + 3 * g), y8[0][0], 1e-5);
        assertEquals((2 + 4 * g + 32 * g + 128 * g) / (1 + 3 * g), y8[1][0], 1e-5);
    }

    @Test
    void alternatingRuleExamples() {
        double t = 1.0 / 3.0;
        assertArrayEquals(new double[][] {{0.5, 0, 0.5}, {0, 0.5, 0.5}}, ChannelRules.downmixMatrix(3));
        assertArrayEquals(new double[][] {{0.5, 0, 0.5, 0}, {0, 0.5, 0, 0.5}}, ChannelRules.downmixMatrix(4));
        assertArrayEquals(new double[][] {{t, 0, t, t, 0}, {0, t, t, 0, t}}, ChannelRules.downmixMatrix(5));
        assertArrayEquals(new double[][] {{.25, 0, .25, .25, 0, .25, 0}, {0, .25, .25, 0, .25, 0, .25}},
                ChannelRules.downmixMatrix(7));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 32})
    void rowsNeverExceedUnitGain(int channels) {
        for (double[] row : ChannelRules.downmixMatrix(channels)) {
            double sum = 0;
            for (double v : row) {
                sum += Math.abs(v);
                assertTrue(v >= 0);
            }
            assertTrue(sum <= 1 + 1e-12, "row sum " + sum);
        }
    }

    @Test
    void noChannelsIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> ChannelRules.downmixMatrix(0));
        assertThrows(IllegalArgumentException.class, () -> ChannelRules.toStereo(new float[0][]));
    }
}
