package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The desktop command, as a user runs it: {@code java -jar demix-bridge.jar SONG -m MODEL -o OUT}
 * in a separate process, from another working directory, with no {@code -Djava.library.path}
 * (the JNI library is found next to the jar).
 */
class DesktopCommandTest {
    @TempDir
    Path tmp;

    private RuntimeFixtures.ProcessResult bridge(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(Arrays.asList(RuntimeFixtures.javaLauncher(), "-jar",
                RuntimeFixtures.jar().toString()));
        cmd.addAll(Arrays.asList(args));
        return RuntimeFixtures.run(cmd, tmp);
    }

    @Test
    void separatesASongLikeDemix() throws Exception {
        Path out = tmp.resolve("out");
        RuntimeFixtures.ProcessResult r = bridge(RuntimeFixtures.song().toString(), "-m",
                RuntimeFixtures.model("fp32").toString(), "-o", "out", "--format", "float32");
        assertEquals(0, r.exit, r.toString());
        assertEquals("", r.stderr, r.toString());
        assertTrue(r.stdout.contains("4 stems"), r.toString());
        Path song = out.resolve(RuntimeFixtures.SONG_NAME);
        List<Path> files = RuntimeFixtures.filesUnder(out);
        assertEquals(4, files.size(), files.toString());
        double snr = RuntimeFixtures.minStemSnr(RuntimeFixtures.referenceRoot("fp32").resolve(RuntimeFixtures.SONG_NAME), song);
        assertTrue(snr >= 100, "lowest stem SNR " + snr + " dB against demix");
    }

    @Test
    void writesSixteenBitStemsAtTheInputRateOnRequest() throws Exception {
        RuntimeFixtures.ProcessResult r = bridge(RuntimeFixtures.song().toString(), "-m",
                RuntimeFixtures.model("int8").toString(), "-o", "o2", "--keep-rate", "--stems", "vocals,bass", "--mono-out", "-q");
        assertEquals(0, r.exit, r.toString());
        assertEquals("", r.stdout + r.stderr, r.toString());
        AudioInfo in = WavReader.probe(RuntimeFixtures.song(), 0);
        for (String s : Arrays.asList("vocals", "bass")) {
            AudioInfo info = WavReader.probe(tmp.resolve("o2").resolve(RuntimeFixtures.SONG_NAME).resolve(s + ".wav"), 0);
            assertEquals(48000, info.sampleRate());
            assertEquals(1, info.channels());
            assertEquals(in.frames(), info.frames());
            assertEquals("PCM_16", info.subtype());
        }
        assertEquals(2, RuntimeFixtures.filesUnder(tmp.resolve("o2")).size());
    }

    /** One error line on stderr, the exit status, and nothing under {@code out}. */
    private String fails(int exit, String... args) throws Exception {
        RuntimeFixtures.ProcessResult r = bridge(args);
        assertEquals(exit, r.exit, r.toString());
        List<String> lines = r.stderrLines();
        assertEquals(1, lines.size(), "one error line:\n" + r);
        assertTrue(lines.get(0).startsWith("demix-bridge: error: "), r.toString());
        assertEquals("", r.stdout, r.toString());
        assertEquals(new ArrayList<Path>(), RuntimeFixtures.filesUnder(tmp.resolve("out")), "no partial files");
        assertTrue(!Files.exists(tmp.resolve("out").resolve(RuntimeFixtures.SONG_NAME)), "no song folder");
        return lines.get(0);
    }

    private String failsOnModel(Path pte) throws Exception {
        return fails(1, RuntimeFixtures.song().toString(), "-m", pte.toString(), "-o", "out");
    }

    private String failsOnSong(Path song) throws Exception {
        return fails(1, song.toString(), "-m", RuntimeFixtures.model("int8").toString(), "-o", "out");
    }

    @Test
    void corruptModelFiles() throws Exception {
        byte[] pte = Files.readAllBytes(RuntimeFixtures.model("fp32"));
        Path cut = tmp.resolve("cut.pte");
        Files.write(cut, Arrays.copyOf(pte, 100_000));
        assertTrue(failsOnModel(cut).startsWith("demix-bridge: error: " + cut + " is not a loadable ExecuTorch program ("));
        Path text = tmp.resolve("readme.pte");
        Files.write(text, "hello\n".getBytes(StandardCharsets.UTF_8));
        assertTrue(failsOnModel(text).startsWith("demix-bridge: error: " + text + " is not a loadable ExecuTorch program ("));
        assertTrue(failsOnModel(tmp.resolve("missing.pte")).endsWith("missing.pte: no such file"));
    }

    @Test
    void wrongVersionArtifact() throws Exception {
        Path v9 = tmp.resolve("v9.pte");
        Files.write(v9, RuntimeFixtures.patchOnce(Files.readAllBytes(RuntimeFixtures.model("fp32")),
                "\"format_version\":1", "\"format_version\":9"));
        assertEquals("demix-bridge: error: " + v9 + " has artifact format version 9; this build reads version 1: "
                + "re-export it with this version's demix-export", failsOnModel(v9));
    }

    @Test
    void corruptWav() throws Exception {
        Path cut = tmp.resolve("cut.wav");
        Files.write(cut, Arrays.copyOf(Files.readAllBytes(RuntimeFixtures.song()), 4000));
        assertTrue(failsOnSong(cut).startsWith("demix-bridge: error: " + cut + ": truncated file"));
        Path junk = tmp.resolve("junk.wav");
        Files.write(junk, "not audio at all, just text".getBytes(StandardCharsets.UTF_8));
        assertTrue(failsOnSong(junk).contains(junk + ": cannot open audio: not an audio file"));
    }

    @Test
    void nanSamples() throws Exception {
        float[] x = new float[48000 * 2];
        x[70_000] = Float.NaN;
        Path nan = tmp.resolve("nan.wav");
        Files.write(nan, RuntimeFixtures.floatWav(48000, x));
        assertTrue(failsOnSong(nan).endsWith(nan + ": contains NaN samples (first at frame 70000, channel 0); "
                + "the file is damaged or not normalised audio"));
    }

    @Test
    void unwritableFolder() throws Exception {
        Path file = Files.write(tmp.resolve("a-file"), new byte[0]);
        String line = fails(1, RuntimeFixtures.song().toString(), "-m", RuntimeFixtures.model("int8").toString(),
                "-o", file.toString());
        assertTrue(line.startsWith("demix-bridge: error: cannot create output folder " + file.resolve(RuntimeFixtures.SONG_NAME)), line);
        assertEquals(0, Files.size(file));
    }

    @Test
    void badUsage() throws Exception {
        assertTrue(fails(2, RuntimeFixtures.song().toString()).contains("-m MODEL.pte is required"));
        assertTrue(fails(2, "-m", "x.pte", "--threads", "0", "a.wav").contains("--threads"));
        assertTrue(fails(2, "-m", "x.pte", "--format", "mp3", "a.wav").contains("mp3"));
    }

    @Test
    void aBadSongDoesNotStopTheOthers() throws Exception {
        Path junk = tmp.resolve("junk.wav");
        Files.write(junk, "nope".getBytes(StandardCharsets.UTF_8));
        RuntimeFixtures.ProcessResult r = bridge(junk.toString(), RuntimeFixtures.song().toString(), "-m",
                RuntimeFixtures.model("int8").toString(), "-o", "multi", "-q");
        assertEquals(1, r.exit, r.toString());
        assertEquals(1, r.stderrLines().size(), r.toString());
        assertTrue(r.stderr.startsWith("demix-bridge: error: " + junk), r.toString());
        assertEquals(4, RuntimeFixtures.filesUnder(tmp.resolve("multi").resolve(RuntimeFixtures.SONG_NAME)).size());
        assertTrue(!Files.exists(tmp.resolve("multi").resolve("junk")));
    }
}
