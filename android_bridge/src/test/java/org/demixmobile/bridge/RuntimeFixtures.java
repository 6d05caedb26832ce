package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What the runtime tests need from build.sh, through system properties (missing ones fail the
 * tests): {@code demix.models.dir} (demix-tiny-{fp32,int8}.pte from demix-export),
 * {@code demix.e2e.dir} ({@code song/mono48k.wav}, {@code song/mono44k.wav} and the reference
 * runner's float32 stems in {@code ref-<quant>/<song>/}), {@code demix.validate} (a demix-validate command) and
 * {@code demix.bridge.jar} (the runnable jar, the JNI library next to it).
 */
final class RuntimeFixtures {
    /** Mono, 48 kHz, odd length: resampled to the model's 44.1 kHz. */
    static final String SONG_NAME = "mono48k";
    /** Mono, 44.1 kHz, odd length: no resampling. */
    static final String SONG_44K = "mono44k";
    static final List<String> STEMS = Arrays.asList("vocals", "drums", "bass", "other");

    private RuntimeFixtures() {
    }

    static Path property(String key) {
        String v = System.getProperty(key);
        if (v == null || v.isEmpty()) {
            fail("system property " + key + " is not set: run the tests with android_bridge/build.sh");
        }
        Path p = Paths.get(v);
        if (!Files.exists(p)) {
            fail(key + "=" + p + " does not exist: run android_bridge/build.sh");
        }
        return p;
    }

    static Path model(String quant) {
        Path p = property("demix.models.dir").resolve("demix-tiny-" + quant + ".pte");
        assertTrue(Files.isRegularFile(p), "missing " + p + " (build.sh exports it)");
        return p;
    }

    static Path song() {
        return song(SONG_NAME);
    }

    static Path song(String name) {
        return property("demix.e2e.dir").resolve("song").resolve(name + ".wav");
    }

    /** The folder holding {@code <song>/<stem>.wav} from {@code demix -m <model> --format float32}. */
    static Path referenceRoot(String quant) {
        return property("demix.e2e.dir").resolve("ref-" + quant);
    }

    static Path jar() {
        return property("demix.bridge.jar");
    }

    static Path validate() {
        return property("demix.validate");
    }

    static String javaLauncher() {
        return Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** 10 log10(sum ref^2 / sum (ref - cand)^2) over every channel. */
    static double snr(float[][] ref, float[][] cand) {
        assertEquals(ref.length, cand.length, "channels");
        double num = 0;
        double den = 0;
        for (int c = 0; c < ref.length; c++) {
            assertEquals(ref[c].length, cand[c].length, "frames");
            for (int t = 0; t < ref[c].length; t++) {
                double d = (double) ref[c][t] - cand[c][t];
                num += (double) ref[c][t] * ref[c][t];
                den += d * d;
            }
        }
        return den == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(num / den);
    }

    /** Every stem of {@code candDir} against {@code refDir} (same rate and length): the lowest SNR. */
    static double minStemSnr(Path refDir, Path candDir) throws Exception {
        double min = Double.POSITIVE_INFINITY;
        for (String s : STEMS) {
            Path r = refDir.resolve(s + ".wav");
            Path c = candDir.resolve(s + ".wav");
            assertEquals(WavReader.probe(r, 0).sampleRate(), WavReader.probe(c, 0).sampleRate(), s + ": rate");
            min = Math.min(min, snr(WavReader.readAll(r, 0), WavReader.readAll(c, 0)));
        }
        return min;
    }

    /** Regular files under {@code dir} (none if it does not exist). */
    static List<Path> filesUnder(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return new ArrayList<>();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !Files.isDirectory(p)).collect(Collectors.toList());
        }
    }

    /** {@code data} with the one occurrence of {@code from} replaced by {@code to} (same length). */
    static byte[] patchOnce(byte[] data, String from, String to) {
        byte[] a = from.getBytes(StandardCharsets.US_ASCII);
        byte[] b = to.getBytes(StandardCharsets.US_ASCII);
        assertEquals(a.length, b.length);
        int at = -1;
        for (int i = 0; i + a.length <= data.length; i++) {
            if (Arrays.equals(data, i, i + a.length, a, 0, a.length)) {
                assertEquals(-1, at, "'" + from + "' occurs more than once");
                at = i;
            }
        }
        assertTrue(at >= 0, "'" + from + "' not found");
        byte[] out = data.clone();
        System.arraycopy(b, 0, out, at, b.length);
        return out;
    }

    /** A float32 mono WAV of {@code samples}. */
    static byte[] floatWav(int rate, float... samples) {
        return WavTest.riff("RIFF", new WavTest.Chunk("fmt ", WavTest.fmt(3, 1, rate, 32, 4)),
                new WavTest.Chunk("data", WavTest.f32(samples)));
    }

    static final class ProcessResult {
        final int exit;
        final String stdout;
        final String stderr;

        ProcessResult(int exit, String stdout, String stderr) {
            this.exit = exit;
            this.stdout = stdout;
            this.stderr = stderr;
        }

        List<String> stderrLines() {
            return Arrays.stream(stderr.split("\\R")).filter(l -> !l.isEmpty()).collect(Collectors.toList());
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout:\n" + stdout + "--- stderr:\n" + stderr;
        }
    }

    /** Run a command in {@code cwd} (at most 5 minutes). */
    static ProcessResult run(List<String> command, Path cwd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        pb.environment().remove("JAVA_TOOL_OPTIONS");
        Process p = pb.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> slurp(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> slurp(p.getErrorStream()));
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail("timed out: " + command);
        }
        return new ProcessResult(p.exitValue(), out.get(), err.get());
    }

    private static String slurp(InputStream in) {
        try (InputStream s = in) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            s.transferTo(b);
            return b.toString(StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }
}
