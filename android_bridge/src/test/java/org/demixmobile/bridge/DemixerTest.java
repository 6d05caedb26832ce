package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Demixer's plan, window, stitching and pipeline, with the pure-Java test doubles of {@link TestDoubles}. */
class DemixerTest {
    /** The golden model's geometry: tiny configuration, 16-hop chunks. */
    static final ChunkSpec SPEC = new ChunkSpec(44100, 16128, 5040, 3024, 1008);

    @TempDir
    Path dir;

    static ChunkSpec spec(Map<String, Object> s) {
        return new ChunkSpec(Golden.integer(s.get("sample_rate")), Golden.integer(s.get("chunk")),
                Golden.integer(s.get("context")), Golden.integer(s.get("lookahead")), Golden.integer(s.get("hop")));
    }

    // ------------------------------------------------------------------------------------------
    // Stitching against the golden stitched output.

    @Test
    void replayOfTheGoldenStitchedOutputIsExact() throws Exception {
        Golden g = Golden.get();
        Map<String, Object> st = Golden.map(g.manifest.get("stitched"));
        ChunkSpec spec = spec(Golden.map(st.get("spec")));
        assertEquals(SPEC, spec);
        float[][] mix = g.matrix((String) st.get("mix"));
        float[][][] want = g.cube((String) st.get("output"));
        assertEquals(Golden.integer(st.get("n_samples")), mix[0].length);
        List<Object> chunks = Golden.list(st.get("chunks"));
        long[][] plan = new long[chunks.size()][3];
        for (int i = 0; i < plan.length; i++) {
            List<Object> c = Golden.list(chunks.get(i));
            for (int k = 0; k < 3; k++) {
                plan[i][k] = ((Number) c.get(k)).longValue();
            }
        }
        assertTrue(plan.length >= 3, "the golden song should span several chunks");
        TestDoubles.ReplayRunner model = new TestDoubles.ReplayRunner(spec, mix, want, plan);
        float[][][] got = new Demixer(model).separate(mix);
        assertEquals(plan.length, model.calls, "model calls");
        assertEquals(want.length, got.length);
        for (int s = 0; s < want.length; s++) {
            for (int c = 0; c < 2; c++) {
                assertArrayEquals(want[s][c], got[s][c], 0f, "stem " + s + " channel " + c);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // In-memory chunk loop with the fraction double.

    @Test
    void fractionDoubleGivesExactFractionsForManyLengths() throws Exception {
        int L = SPEC.chunk();
        for (int n : new int[] {1, 1007, L - 1, L, L + 1, 2 * L + 3, 40033, 5 * L + 12345}) {
            float[][] mix = ResamplerTest.signal(n, 44100, 2, n);
            TestDoubles.FractionRunner model = new TestDoubles.FractionRunner(SPEC);
            float[][][] y = new Demixer(model).separate(mix);
            assertEquals(ChunkPlan.plan(n, SPEC).size(), model.calls, n + " samples: one call per chunk");
            for (int s = 0; s < 4; s++) {
                for (int c = 0; c < 2; c++) {
                    assertEquals(n, y[s][c].length);
                    for (int t = 0; t < n; t++) {
                        if (y[s][c][t] != TestDoubles.FRACTIONS[s] * mix[c][t]) {
                            throw new AssertionError(n + " samples: stem " + s + " channel " + c + " sample " + t);
                        }
                    }
                }
            }
        }
    }

    @Test
    void chunksAreZeroPaddedPastTheEndAndNeverBeforeTheStart() throws Exception {
        int n = 2 * SPEC.chunk() + 3;
        float[][] mix = new float[2][n];
        Arrays.fill(mix[0], 1f);
        Arrays.fill(mix[1], -1f);
        TestDoubles.FractionRunner model = new TestDoubles.FractionRunner(SPEC);
        model.keepInputs = true;
        new Demixer(model).separate(mix);
        ChunkPlan plan = ChunkPlan.plan(n, SPEC);
        assertEquals(plan.size(), model.inputs.size());
        int L = SPEC.chunk();
        for (int i = 0; i < plan.size(); i++) {
            long start = plan.get(i).start;
            float[] x = model.inputs.get(i);
            for (int t = 0; t < L; t++) {
                float want = start + t < n ? 1f : 0f;
                assertEquals(want, x[t], "chunk " + i + " left sample " + t);
                assertEquals(want == 0f ? 0f : -want, x[L + t], "chunk " + i + " right sample " + t);
            }
        }
    }

    @Test
    void theWindowHoldsAboutOneChunk() throws Exception {
        int block = 1000;
        int n = 20 * SPEC.chunk();
        long[] pulled = {0};
        Demixer.BlockSource src = () -> {
            if (pulled[0] >= n) {
                return null;
            }
            int k = (int) Math.min(block, n - pulled[0]);
            pulled[0] += k;
            return new float[2][k];
        };
        ChunkPlan plan = ChunkPlan.plan(n, SPEC);
        List<Long> atCall = new ArrayList<>();
        TestDoubles.FractionRunner model = new TestDoubles.FractionRunner(SPEC) {
            @Override
            public float[] run(float[] chunk) throws DemixException {
                atCall.add(pulled[0]);
                return super.run(chunk);
            }
        };
        long[] emitted = {0};
        new Demixer(model).stitch(src, n, plan, stems -> emitted[0] += stems[0][0].length, null, null, "src");
        assertEquals(n, emitted[0]);
        for (int i = 0; i < plan.size(); i++) {
            long need = plan.get(i).start + SPEC.chunk();
            assertTrue(atCall.get(i) >= Math.min(n, need), "chunk " + i + " ran before its input arrived");
            assertTrue(atCall.get(i) < need + block, "chunk " + i + ": pulled " + atCall.get(i) + " for " + need);
        }
    }

    // ------------------------------------------------------------------------------------------
    // The whole pipeline.

    static float[][] scaled(float a, float[][] x) {
        float[][] y = new float[x.length][x[0].length];
        for (int c = 0; c < x.length; c++) {
            for (int t = 0; t < x[c].length; t++) {
                y[c][t] = a * x[c][t];
            }
        }
        return y;
    }

    @Test
    void goldenPipelineGeometryWithKeepRateAndMonoOut() throws Exception {
        Golden g = Golden.get();
        Map<String, Object> pl = Golden.map(g.manifest.get("pipeline"));
        float[][] x = g.matrix((String) pl.get("input"));
        int sr = Golden.integer(pl.get("input_rate"));
        int n = Golden.integer(pl.get("n_in"));
        assertEquals(1, x.length);
        assertEquals(n, x[0].length);
        int[] goldenShape = g.shape((String) pl.get("output"));

        MemoryStemSink sink = new MemoryStemSink();
        Demixer.Result r = new Demixer(new TestDoubles.FractionRunner(SPEC))
                .separate(PcmSource.of("mono22050", x, sr), sink, new Demixer.Options().keepRate(true).blockFrames(777));
        assertEquals(Golden.integer(pl.get("n_model")), r.modelSamples, "samples at the model rate");
        assertEquals(sr, r.outputRate);
        float[][][] y = sink.stems();
        assertArrayEquals(goldenShape, new int[] {y.length, y[0].length, y[0][0].length}, "shape of pipeline/stems.bin");
        // the fraction double makes every stem a_s * (resample back (resample (to_stereo x)))
        float[][] m = Resampler.resample(ChannelRules.toStereo(x), sr, 44100);
        for (int s = 0; s < 4; s++) {
            float[][] back = Resampler.resample(scaled(TestDoubles.FRACTIONS[s], m), 44100, sr);
            for (int c = 0; c < 2; c++) {
                assertArrayEquals(Arrays.copyOf(back[c], n), y[s][c], 0f, "stem " + s + " channel " + c);
            }
        }
        // mono out: one channel per stem, (L + R) / 2
        MemoryStemSink mono = new MemoryStemSink();
        Demixer.Result rm = new Demixer(new TestDoubles.FractionRunner(SPEC))
                .separate(PcmSource.of("mono22050", x, sr), mono, new Demixer.Options().keepRate(true).monoOut(true));
        assertEquals(1, rm.outputChannels);
        for (int s = 0; s < 4; s++) {
            assertEquals(1, mono.stems()[s].length);
            assertArrayEquals(y[s][0], mono.stems()[s][0], 0f, "mono of identical channels");
        }
    }

    @Test
    void monoOutAppliesToMonoInputsOnly() throws Exception {
        float[][] x = ResamplerTest.signal(4410, 44100, 2, 3);
        MemoryStemSink sink = new MemoryStemSink();
        new Demixer(new TestDoubles.FractionRunner(SPEC)).separate(PcmSource.of("st", x, 44100), sink,
                new Demixer.Options().monoOut(true));
        assertEquals(2, sink.stems()[0].length);
    }

    private List<String> tree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.map(p -> root.relativize(p).toString()).filter(p -> !p.isEmpty()).sorted().collect(Collectors.toList());
        }
    }

    @Test
    void wavFileToStemFiles() throws Exception {
        float[][] x = ResamplerTest.signal(48000 * 3 / 2, 48000, 2, 11);
        Path in = dir.resolve("song.wav");
        try (WavWriter w = new WavWriter(in, 48000, 2, WavFormat.FLOAT32).open()) {
            w.write(x);
            w.commit();
        }
        Path out = dir.resolve("out/song");
        int[] progress = {0, 0};
        Demixer.Result r = new Demixer(new TestDoubles.FractionRunner(SPEC)).separateFile(in, out,
                new Demixer.Options().format(WavFormat.FLOAT32).progress((done, total) -> {
                    assertEquals(progress[0] + 1, done);
                    progress[0] = done;
                    progress[1] = total;
                }));
        assertEquals(r.chunks, progress[0]);
        assertEquals(r.chunks, progress[1]);
        assertTrue(r.chunks >= 5, "chunks " + r.chunks);
        assertEquals(Arrays.asList("bass.wav", "drums.wav", "other.wav", "vocals.wav"), tree(out));
        float[][] m = Resampler.resample(x, 48000, 44100);
        for (int s = 0; s < 4; s++) {
            Path stem = out.resolve(TestDoubles.STEMS.get(s) + ".wav");
            AudioInfo info = WavReader.probe(stem, 0);
            assertEquals(44100, info.sampleRate());
            assertEquals(2, info.channels());
            assertEquals("FLOAT", info.subtype());
            float[][] y = WavReader.readAll(stem, 0);
            float[][] want = scaled(TestDoubles.FRACTIONS[s], m);
            assertArrayEquals(want[0], y[0], 0f);
            assertArrayEquals(want[1], y[1], 0f);
        }
        // wav16 at the input rate, a subset of stems in a chosen order
        Path out16 = dir.resolve("out16");
        Demixer.Result r16 = new Demixer(new TestDoubles.FractionRunner(SPEC)).separateFile(in, out16,
                new Demixer.Options().keepRate(true).stems(Arrays.asList("bass", "vocals")));
        assertEquals(Arrays.asList("bass", "vocals"), r16.stems);
        assertEquals(Arrays.asList("bass.wav", "vocals.wav"), tree(out16));
        AudioInfo bass = WavReader.probe(out16.resolve("bass.wav"), 0);
        assertEquals(48000, bass.sampleRate());
        assertEquals(x[0].length, bass.frames(), "cut to the input's frame count");
        assertEquals("PCM_16", bass.subtype());
    }

    /** TEST DOUBLE: fails on one chunk. */
    static final class FailingRunner extends TestDoubles.FractionRunner {
        final int failAt;

        FailingRunner(int failAt) {
            super(SPEC);
            this.failAt = failAt;
        }

        @Override
        public float[] run(float[] chunk) throws DemixException {
            if (calls == failAt) {
                throw new ModelFileException("double.pte: the runtime failed on a chunk (test)");
            }
            return super.run(chunk);
        }
    }

    private Path inputWav(String name, int frames) throws Exception {
        Path in = dir.resolve(name);
        try (WavWriter w = new WavWriter(in, 44100, 2, WavFormat.WAV16).open()) {
            w.write(ResamplerTest.signal(frames, 44100, 2, frames));
            w.commit();
        }
        return in;
    }

    @Test
    void aFailedSongLeavesNothingBehind() throws Exception {
        Path in = inputWav("in.wav", 44100 * 2);
        Path out = dir.resolve("new/deeper");
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> new Demixer(new FailingRunner(2)).separateFile(in, out, null));
        assertEquals("double.pte: the runtime failed on a chunk (test)", e.getMessage());
        assertFalse(Files.exists(dir.resolve("new")), "folders created for the song are removed");
        assertEquals(Arrays.asList("in.wav"), tree(dir));
        // an existing folder stays, empty
        Path existing = Files.createDirectory(dir.resolve("existing"));
        assertThrows(ModelFileException.class, () -> new Demixer(new FailingRunner(0)).separateFile(in, existing, null));
        assertEquals(Arrays.asList("existing", "in.wav"), tree(dir));
    }

    @Test
    void cancellationStopsBeforeTheNextChunkAndLeavesNothing() throws Exception {
        Path in = inputWav("in.wav", 44100 * 2);
        Cancellation cancel = new Cancellation();
        List<Integer> seen = new ArrayList<>();
        TestDoubles.FractionRunner model = new TestDoubles.FractionRunner(SPEC);
        CancelledException e = assertThrows(CancelledException.class, () -> new Demixer(model).separateFile(in,
                dir.resolve("out"), new Demixer.Options().cancellation(cancel).progress((done, total) -> {
                    seen.add(done);
                    if (done == 2) {
                        cancel.cancel();
                    }
                })));
        assertEquals(Arrays.asList(1, 2), seen);
        assertEquals(2, model.calls);
        assertTrue(e.getMessage().startsWith("cancelled after 2 of "), e.getMessage());
        assertEquals(Arrays.asList("in.wav"), tree(dir));
    }

    @Test
    void wrongOutputLengthIsAModelError() throws Exception {
        Path in = inputWav("in.wav", 44100);
        TestDoubles.FractionRunner bad = new TestDoubles.FractionRunner(SPEC) {
            @Override
            public float[] run(float[] chunk) throws DemixException {
                return Arrays.copyOf(super.run(chunk), 3 * 2 * SPEC.chunk());
            }
        };
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> new Demixer(bad).separateFile(in, dir.resolve("out"), null));
        assertEquals("fraction-double returned 96768 values; its metadata promises stems [1, 4, 2, 16128] (129024 values)",
                e.getMessage());
        assertEquals(Arrays.asList("in.wav"), tree(dir));
    }

    @Test
    void inputRefusals() throws Exception {
        Demixer d = new Demixer(new TestDoubles.FractionRunner(SPEC));
        DemixException unknown = assertThrows(DemixException.class, () -> d.separate(
                PcmSource.of("x", new float[2][5000], 44100), new MemoryStemSink(), new Demixer.Options().stems(List.of("piano"))));
        assertEquals("unknown stem(s) piano; this model has vocals, drums, bass, other", unknown.getMessage());
        AudioException shortOne = assertThrows(AudioException.class,
                () -> d.separate(PcmSource.of("short.wav", new float[1][4409], 44100), new MemoryStemSink(), null));
        assertEquals("short.wav: too short: 4409 frames (0.1000 s); at least 0.1 s (4410 frames) are needed",
                shortOne.getMessage());
        d.separate(PcmSource.of("ok.wav", new float[1][4410], 44100), new MemoryStemSink(), null);
        d.separate(PcmSource.of("ok8k.wav", new float[1][800], 8000), new MemoryStemSink(), null);
        AudioException rate = assertThrows(AudioException.class,
                () -> d.separate(PcmSource.of("r.wav", new float[1][5000], 200000), new MemoryStemSink(), null));
        assertEquals("r.wav: sample rate 200000 Hz is outside the supported range 8000\u2013192000 Hz", rate.getMessage());
        float[][] nan = new float[2][6000];
        nan[1][4321] = Float.NaN;
        AudioException e = assertThrows(AudioException.class,
                () -> d.separateToFolder(PcmSource.of("nan.raw", nan, 44100), dir.resolve("o"), null));
        assertEquals("nan.raw: contains NaN samples (first at frame 4321, channel 1); the file is damaged or not "
                + "normalised audio", e.getMessage());
        assertEquals(List.of(), tree(dir));
        AudioException missing = assertThrows(AudioException.class,
                () -> d.separateFile(dir.resolve("none.wav"), dir.resolve("o"), null));
        assertEquals(dir.resolve("none.wav") + ": no such file", missing.getMessage());
    }

    @Test
    void aSourceShorterThanItsHeaderFailsTheTrack() throws Exception {
        float[][] x = ResamplerTest.signal(30000, 22050, 2, 1);
        PcmSource lying = new PcmSource() {
            final PcmSource inner = PcmSource.of("lying.wav", x, 22050);

            @Override
            public String name() {
                return inner.name();
            }

            @Override
            public int sampleRate() {
                return 22050;
            }

            @Override
            public int channels() {
                return 2;
            }

            @Override
            public long frames() {
                return 31000;
            }

            @Override
            public float[][] read(int maxFrames) throws DemixException {
                return inner.read(maxFrames);
            }

            @Override
            public void close() {
            }
        };
        AudioException e = assertThrows(AudioException.class,
                () -> new Demixer(new TestDoubles.FractionRunner(SPEC)).separateToFolder(lying, dir.resolve("o"), null));
        assertEquals("lying.wav: the decoded audio holds 60000 samples at 44100 Hz where its header promised 62000: "
                + "the file is damaged or its length field is wrong", e.getMessage());
        assertEquals(List.of(), tree(dir));
    }

    @Test
    void stemNamesMustBeFileNames() {
        ModelRunner evil = new TestDoubles.FractionRunner(SPEC) {
            @Override
            public List<String> stems() {
                return Arrays.asList("../vocals", "drums", "bass", "other");
            }
        };
        assertThrows(DemixException.class, () -> new Demixer(evil).separateToFolder(
                PcmSource.of("x", new float[2][5000], 44100), dir.resolve("o"), null));
    }
}
