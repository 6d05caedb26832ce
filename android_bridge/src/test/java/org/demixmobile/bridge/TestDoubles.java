package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * TEST DOUBLES ONLY: pure-Java stand-ins for a model, used to test the chunk plan, the window and
 * the stitching of {@link Demixer}. They are not models and separate nothing.
 */
final class TestDoubles {
    private TestDoubles() {
    }

    static final List<String> STEMS = Arrays.asList("vocals", "drums", "bass", "other");
    /** Powers of two, so that {@code a * x} is exact in float32 and commutes with the resampler. */
    static final float[] FRACTIONS = {0.5f, 0.25f, 0.125f, 0.0625f};

    /** TEST DOUBLE: stem s of every chunk is {@code FRACTIONS[s]} times the chunk's input. */
    static class FractionRunner implements ModelRunner {
        final ChunkSpec spec;
        final List<float[]> inputs = new ArrayList<>();
        boolean keepInputs;
        int calls;

        FractionRunner(ChunkSpec spec) {
            this.spec = spec;
        }

        @Override
        public ChunkSpec spec() {
            return spec;
        }

        @Override
        public List<String> stems() {
            return STEMS;
        }

        @Override
        public String name() {
            return "fraction-double";
        }

        @Override
        public float[] run(float[] chunk) throws DemixException {
            int L = spec.chunk();
            assertEquals(2 * L, chunk.length, "chunk [1, 2, L]");
            calls++;
            if (keepInputs) {
                inputs.add(chunk.clone());
            }
            float[] out = new float[STEMS.size() * 2 * L];
            for (int s = 0; s < STEMS.size(); s++) {
                for (int i = 0; i < 2 * L; i++) {
                    out[s * 2 * L + i] = FRACTIONS[s] * chunk[i];
                }
            }
            return out;
        }
    }

    /**
     * TEST DOUBLE: replays a known whole-song output. For call i it checks that its input is
     * {@code mix[start_i, start_i + L)} zero-padded (the expected plan is given, not computed by
     * the code under test) and returns the known stems on that range, but a poison value outside
     * the range the plan keeps, so that keeping the wrong part of a chunk shows in the result.
     */
    static final class ReplayRunner implements ModelRunner {
        static final float POISON = 1000.0f;
        final ChunkSpec spec;
        final float[][] mix; // [2][N]
        final float[][][] song; // [S][2][N]
        final long[][] plan; // [start, keepFrom, keepTo]
        int calls;

        ReplayRunner(ChunkSpec spec, float[][] mix, float[][][] song, long[][] plan) {
            this.spec = spec;
            this.mix = mix;
            this.song = song;
            this.plan = plan;
        }

        @Override
        public ChunkSpec spec() {
            return spec;
        }

        @Override
        public List<String> stems() {
            return STEMS;
        }

        @Override
        public float[] run(float[] chunk) {
            int L = spec.chunk();
            long start = plan[calls][0];
            long keepFrom = plan[calls][1];
            long keepTo = plan[calls][2];
            int n = mix[0].length;
            for (int c = 0; c < 2; c++) {
                for (int t = 0; t < L; t++) {
                    long k = start + t;
                    float want = k < n ? mix[c][(int) k] : 0f;
                    if (chunk[c * L + t] != want) {
                        throw new AssertionError("chunk " + calls + ": input sample " + t + " of channel " + c
                                + " is " + chunk[c * L + t] + ", expected mix[" + k + "] = " + want);
                    }
                }
            }
            float[] out = new float[song.length * 2 * L];
            for (int s = 0; s < song.length; s++) {
                for (int c = 0; c < 2; c++) {
                    for (int t = 0; t < L; t++) {
                        long k = start + t;
                        boolean kept = k >= keepFrom && k < keepTo;
                        out[(s * 2 + c) * L + t] = kept ? song[s][c][(int) k] : POISON;
                    }
                }
            }
            calls++;
            return out;
        }
    }
}
