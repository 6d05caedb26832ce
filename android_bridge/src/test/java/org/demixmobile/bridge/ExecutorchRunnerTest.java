package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link ExecutorchRunner} on the real ExecuTorch runtime (the pip wheel's C++ runtime through the
 * desktop JNI stand-in of the official Java API), with the tiny model exported by build.sh.
 */
class ExecutorchRunnerTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "int8"})
    void readsTheMetadataFromTheProgram(String quant) throws Exception {
        try (ExecutorchRunner r = ExecutorchRunner.open(RuntimeFixtures.model(quant).toString())) {
            ArtifactMetadata m = r.metadata();
            assertEquals("pte", m.kind());
            assertEquals(quant, m.quantization());
            assertEquals("tiny", m.config());
            assertEquals(RuntimeFixtures.STEMS, r.stems());
            assertEquals(44100, r.spec().sampleRate());
            assertEquals(1008, m.hop());
            assertEquals(0, m.chunk() % m.hop());
            assertEquals(m.chunk(), r.spec().chunk());
            assertArrayEquals(new long[] {1, 2, m.chunk()}, m.inputShape());
            assertEquals(RuntimeFixtures.model(quant).toString(), r.name());
        }
    }

    @Test
    void runsChunksStatelessly() throws Exception {
        try (ExecutorchRunner r = ExecutorchRunner.open(RuntimeFixtures.model("fp32").toString(), 1)) {
            int L = r.spec().chunk();
            float[] x = new float[2 * L];
            Random rng = new Random(3);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (0.2 * rng.nextGaussian());
            }
            float[] keep = x.clone();
            float[] a = r.run(x);
            float[] b = r.run(x);
            assertEquals(4 * 2 * L, a.length);
            assertArrayEquals(a, b, "the graph is stateless: the same chunk gives the same stems");
            assertArrayEquals(keep, x, "the runner must not change its input");
            double energy = 0;
            for (float v : a) {
                assertTrue(Float.isFinite(v));
                energy += v * v;
            }
            assertTrue(energy > 0);
            assertThrows(IllegalArgumentException.class, () -> r.run(new float[2 * L - 1]));
            r.close();
            r.close(); // idempotent
            assertThrows(IllegalStateException.class, () -> r.run(keep));
        }
    }

    /**
     * The bridge's stems against the reference runner's (same .pte, same song), and
     * demix-validate's verdict (default thresholds: 60 dB or 1e-4).
     *
     * <p>{@code minSnr}: >= 100 dB for fp32 and int8, at 44.1 and 48 kHz. The resamplers sum in
     * double and round once (docs/contract-audio.md), so the chunks the runtime sees are the same
     * floats in Java and Python; when they summed in float32 the ~1e-7 differences moved a few
     * int8 activations across rounding boundaries (int8 at 48 kHz measured 88-99 dB then).
     * int8 at 48 kHz keeps a 90 dB floor: one CI run (2026-12-06) measured 98.3 dB, reproducible
     * with that run's exported model and reference stems, and demix re-run on the same .pte and
     * song (1 or 2 threads, alike) differed from that stored reference by up to 2.3e-5: the
     * reference run itself came out different in the last bits (cause not found yet); an int8
     * program amplifies such differences, and a real bridge fault is far below 60 dB.
     */
    @ParameterizedTest
    @CsvSource({"fp32, mono48k, 100", "int8, mono44k, 100", "int8, mono48k, 90", "fp32, mono44k, 100"})
    void stemsMatchTheReferenceRunner(String quant, String songName, double minSnr) throws Exception {
        Path cand = tmp.resolve("cand");
        Path song = RuntimeFixtures.song(songName);
        AudioInfo info = WavReader.probe(song, 0);
        try (ExecutorchRunner r = ExecutorchRunner.open(RuntimeFixtures.model(quant).toString())) {
            int[] calls = {0};
            Demixer.Result res = new Demixer(r).separateFile(song, cand.resolve(songName),
                    new Demixer.Options().format(WavFormat.FLOAT32).progress((done, total) -> calls[0]++));
            assertEquals(info.sampleRate(), res.inputRate);
            assertEquals(1, res.inputChannels);
            assertEquals(44100, res.outputRate);
            assertTrue(res.frames % 2 == 1, "the song has an odd length");
            assertTrue(res.chunks >= 3, "several chunks: " + res.chunks);
            assertEquals(res.chunks, calls[0]);
        }
        Path ref = RuntimeFixtures.referenceRoot(quant);
        double snr = RuntimeFixtures.minStemSnr(ref.resolve(songName), cand.resolve(songName));
        System.out.printf("bridge vs demix, %s %s: lowest stem SNR %.1f dB%n", quant, songName, snr);
        assertTrue(snr >= minSnr, quant + " " + songName + ": lowest stem SNR " + snr + " dB against demix, expected >= "
                + minSnr + " dB");

        RuntimeFixtures.ProcessResult v = RuntimeFixtures.run(Arrays.asList(RuntimeFixtures.validate().toString(),
                "--reference", ref.resolve(songName).toString(), "--candidate", cand.resolve(songName).toString()), tmp);
        assertEquals(0, v.exit, "demix-validate failed:\n" + v);
        assertTrue(v.stdout.contains("PASS: 4/4 stems"), "demix-validate says:\n" + v);
        for (String s : RuntimeFixtures.STEMS) {
            assertTrue(v.stdout.contains(s + ".wav"), "no line for " + s + ":\n" + v);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Refusals of model files.

    private ModelFileException refused(Path pte) {
        ModelFileException e = assertThrows(ModelFileException.class, () -> ExecutorchRunner.open(pte.toString()).close());
        assertTrue(e.getMessage().startsWith(pte.toString()), e.getMessage());
        assertEquals(1, e.getMessage().split("\\R").length, "one line: " + e.getMessage());
        return e;
    }

    @Test
    void refusesATruncatedProgram() throws Exception {
        byte[] pte = Files.readAllBytes(RuntimeFixtures.model("fp32"));
        Path bad = tmp.resolve("truncated.pte");
        Files.write(bad, Arrays.copyOf(pte, pte.length / 3));
        assertTrue(refused(bad).getMessage().contains("is not a loadable ExecuTorch program"));
    }

    @Test
    void refusesATextFileNamedPte() throws Exception {
        Path bad = tmp.resolve("notes.pte");
        Files.write(bad, "this is not a program\n".getBytes(StandardCharsets.UTF_8));
        assertTrue(refused(bad).getMessage().contains("is not a loadable ExecuTorch program"));
    }

    @Test
    void refusesADamagedProgramHeader() throws Exception {
        byte[] pte = Files.readAllBytes(RuntimeFixtures.model("fp32"));
        Random rng = new Random(7);
        for (int i = 0; i < 4000; i++) { // damage the flatbuffer (program structure) at its start
            int at = 64 + rng.nextInt(Math.min(pte.length, 200_000) - 64);
            pte[at] = (byte) ~pte[at];
        }
        Path bad = tmp.resolve("damaged.pte");
        Files.write(bad, pte);
        assertTrue(refused(bad).getMessage().contains("ExecuTorch"), "names the runtime");
    }

    @Test
    void refusesAWrongFormatVersion() throws Exception {
        byte[] pte = Files.readAllBytes(RuntimeFixtures.model("fp32"));
        Path bad = tmp.resolve("v9.pte");
        Files.write(bad, RuntimeFixtures.patchOnce(pte, "\"format_version\":1", "\"format_version\":9"));
        assertTrue(refused(bad).getMessage().contains("has artifact format version 9; this build reads version 1"));
    }

    @Test
    void refusesTheWrongKindInTheMetadata() throws Exception {
        byte[] pte = Files.readAllBytes(RuntimeFixtures.model("fp32"));
        Path bad = tmp.resolve("kind.pte");
        Files.write(bad, RuntimeFixtures.patchOnce(pte, "\"kind\":\"pte\"", "\"kind\":\"ptl\""));
        String m = refused(bad).getMessage();
        assertTrue(m.contains("is a .pte file but its metadata says kind 'ptl'"), m);
    }

    @Test
    void refusesMissingFilesAndFolders() throws Exception {
        assertTrue(refused(tmp.resolve("nope.pte")).getMessage().endsWith("no such file"));
        Path dir = Files.createDirectory(tmp.resolve("dir.pte"));
        assertTrue(refused(dir).getMessage().contains("is a folder"));
    }

    // ------------------------------------------------------------------------------------------
    // Refusals of inputs and outputs, with the real model: a clear exception and nothing written.

    private DemixException failsWithoutFiles(Path song, Path outRoot) throws Exception {
        try (ExecutorchRunner r = ExecutorchRunner.open(RuntimeFixtures.model("int8").toString())) {
            Demixer d = new Demixer(r);
            DemixException e = assertThrows(DemixException.class, () -> d.separateFile(song, outRoot.resolve("song"),
                    new Demixer.Options().format(WavFormat.FLOAT32)));
            assertEquals(1, e.getMessage().split("\\R").length, "one line: " + e.getMessage());
            List<Path> left = RuntimeFixtures.filesUnder(outRoot);
            assertTrue(left.isEmpty(), "left behind: " + left);
            assertTrue(!Files.exists(outRoot.resolve("song")), "the song folder must be removed");
            return e;
        }
    }

    @Test
    void corruptWavIsRefused() throws Exception {
        byte[] wav = Files.readAllBytes(RuntimeFixtures.song());
        Path bad = tmp.resolve("cut.wav");
        Files.write(bad, Arrays.copyOf(wav, 5000));
        DemixException e = failsWithoutFiles(bad, tmp.resolve("out"));
        assertTrue(e instanceof AudioException);
        assertTrue(e.getMessage().startsWith(bad + ": truncated file"), e.getMessage());
    }

    @Test
    void nanSamplesAreRefusedAfterChunksRan() throws Exception {
        float[] x = new float[48000 * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(i * 0.01) * 0.3f;
        }
        x[150_000 - 10_000] = Float.NaN; // in the last block: earlier chunks have been written already
        Path bad = tmp.resolve("nan.wav");
        Files.write(bad, RuntimeFixtures.floatWav(48000, x));
        DemixException e = failsWithoutFiles(bad, tmp.resolve("out"));
        assertTrue(e.getMessage().contains("contains NaN samples (first at frame 140000, channel 0)"), e.getMessage());
    }

    @Test
    void unwritableFolderIsRefused() throws Exception {
        Path out = Files.createDirectory(tmp.resolve("out"));
        Files.write(out.resolve("blocker"), new byte[0]); // a file where a folder must go
        try (ExecutorchRunner r = ExecutorchRunner.open(RuntimeFixtures.model("int8").toString())) {
            DemixException e = assertThrows(DemixException.class, () -> new Demixer(r).separateFile(RuntimeFixtures.song(),
                    out.resolve("blocker").resolve("song"), null));
            assertTrue(e.getMessage().startsWith("cannot create output folder"), e.getMessage());
        }
        assertEquals(Arrays.asList(out.resolve("blocker")), RuntimeFixtures.filesUnder(out));
    }
}
