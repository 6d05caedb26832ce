package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WavTest {
    @TempDir
    Path dir;

    // ------------------------------------------------------------------------------------------
    // Hand-built files (independent of WavWriter).

    static final class Chunk {
        final String id;
        final byte[] body;

        Chunk(String id, byte[] body) {
            this.id = id;
            this.body = body;
        }
    }

    static byte[] fmt(int tag, int channels, int rate, int bits, int blockAlign) {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) tag).putShort((short) channels).putInt(rate).putInt(rate * blockAlign)
                .putShort((short) blockAlign).putShort((short) bits);
        return b.array();
    }

    static byte[] fmtExtensible(int subTag, int channels, int rate, int bits) {
        int align = channels * bits / 8;
        ByteBuffer b = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) 0xFFFE).putShort((short) channels).putInt(rate).putInt(rate * align)
                .putShort((short) align).putShort((short) bits).putShort((short) 22).putShort((short) bits)
                .putInt(channels == 2 ? 3 : 4).putShort((short) subTag)
                .put(new byte[] {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, (byte) 0x80, 0x00, 0x00, (byte) 0xAA, 0x00, 0x38,
                    (byte) 0x9B, 0x71});
        return b.array();
    }

    static byte[] riff(String magic, Chunk... chunks) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Chunk c : chunks) {
            body.writeBytes(c.id.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            long size = c.id.equals("data") && c.body == null ? 0xFFFFFFFFL : c.body.length;
            body.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) size).array());
            if (c.body != null) {
                body.writeBytes(c.body);
                if ((c.body.length & 1) == 1) {
                    body.write(0);
                }
            }
        }
        ByteBuffer h = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        h.put(magic.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)).putInt(4 + body.size()).put("WAVE".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(h.array());
        out.writeBytes(body.toByteArray());
        return out.toByteArray();
    }

    static byte[] le16(int... v) {
        ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : v) {
            b.putShort((short) x);
        }
        return b.array();
    }

    static byte[] le24(int... v) {
        byte[] b = new byte[3 * v.length];
        for (int i = 0; i < v.length; i++) {
            b[3 * i] = (byte) v[i];
            b[3 * i + 1] = (byte) (v[i] >> 8);
            b[3 * i + 2] = (byte) (v[i] >> 16);
        }
        return b;
    }

    static byte[] le32(int... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : v) {
            b.putInt(x);
        }
        return b.array();
    }

    static byte[] f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    static byte[] f64(double... v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double x : v) {
            b.putDouble(x);
        }
        return b.array();
    }

    Path file(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    // ------------------------------------------------------------------------------------------
    // Decoding.

    @Test
    void pcm16IsScaledBy2To15() throws Exception {
        Path p = file("a.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 2, 44100, 16, 4)),
                new Chunk("data", le16(0, 1, -1, 32767, -32768, 16384))));
        AudioInfo info = WavReader.probe(p, 0);
        assertEquals(44100, info.sampleRate());
        assertEquals(2, info.channels());
        assertEquals(3, info.frames());
        assertEquals("PCM_16", info.subtype());
        float[][] x = WavReader.readAll(p, 0);
        assertArrayEquals(new float[] {0f, -1f / 32768, -1f}, x[0], 0f);
        assertArrayEquals(new float[] {1f / 32768, 32767f / 32768, 0.5f}, x[1], 0f);
    }

    @Test
    void pcm24Pcm32AndU8() throws Exception {
        float[][] a = WavReader.readAll(file("a.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 48000, 24, 3)),
                new Chunk("data", le24(1, -1, 8388607, -8388608)))), 0);
        assertArrayEquals(new float[] {1f / 8388608, -1f / 8388608, 8388607f / 8388608, -1f}, a[0], 0f);
        float[][] b = WavReader.readAll(file("b.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 48000, 32, 4)),
                new Chunk("data", le32(1 << 16, Integer.MIN_VALUE, Integer.MAX_VALUE)))), 0);
        assertArrayEquals(new float[] {1f / 32768, -1f, 1.0f}, b[0], 0f); // a 32-bit maximum rounds to 1.0
        float[][] c = WavReader.readAll(file("c.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 8000, 8, 1)),
                new Chunk("data", new byte[] {0, (byte) 128, (byte) 255}))), 0);
        assertArrayEquals(new float[] {-1f, 0f, 127f / 128}, c[0], 0f);
        assertEquals(3, WavReader.probe(dir.resolve("c.wav"), 0).frames(), "odd data chunk with its pad byte");
    }

    @Test
    void floatIsPassedThroughNotClipped() throws Exception {
        float[][] a = WavReader.readAll(file("a.wav", riff("RIFF", new Chunk("fmt ", fmt(3, 1, 44100, 32, 4)),
                new Chunk("fact", le32(3)), new Chunk("PEAK", new byte[24]),
                new Chunk("data", f32(1.25f, -3.5f, 1e-30f)))), 0);
        assertArrayEquals(new float[] {1.25f, -3.5f, 1e-30f}, a[0], 0f);
        float[][] b = WavReader.readAll(file("b.wav", riff("RIFF", new Chunk("fmt ", fmt(3, 1, 44100, 64, 8)),
                new Chunk("data", f64(0.1, -2.0)))), 0);
        assertArrayEquals(new float[] {0.1f, -2.0f}, b[0], 0f);
    }

    @Test
    void extensibleAndOtherChunks() throws Exception {
        Path p = file("x.wav", riff("RIFF", new Chunk("JUNK", new byte[3]), new Chunk("fmt ", fmtExtensible(1, 2, 96000, 16)),
                new Chunk("LIST", new byte[] {'I', 'N', 'F', 'O', 'x'}), new Chunk("data", le16(100, -100, 200, -200))));
        float[][] x = WavReader.readAll(p, 0);
        assertEquals(96000, WavReader.probe(p, 0).sampleRate());
        assertArrayEquals(new float[] {100f / 32768, 200f / 32768}, x[0], 0f);
        assertArrayEquals(new float[] {-100f / 32768, -200f / 32768}, x[1], 0f);
        Path f = file("f.wav", riff("RIFF", new Chunk("fmt ", fmtExtensible(3, 1, 44100, 32)), new Chunk("data", f32(0.75f))));
        assertArrayEquals(new float[] {0.75f}, WavReader.readAll(f, 0)[0], 0f);
    }

    @Test
    void rf64AndUnsizedData() throws Exception {
        ByteBuffer ds64 = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
        ds64.putLong(0).putLong(8).putLong(4).putInt(0);
        byte[] rf = riff("RF64", new Chunk("ds64", ds64.array()), new Chunk("fmt ", fmt(1, 1, 44100, 16, 2)),
                new Chunk("data", null));
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.writeBytes(rf);
        o.writeBytes(le16(1, 2, 3, 4));
        Path p = file("r.wav", o.toByteArray());
        assertEquals("RF64", WavReader.probe(p, 0).format());
        assertArrayEquals(new float[] {1f / 32768, 2f / 32768, 3f / 32768, 4f / 32768}, WavReader.readAll(p, 0)[0], 0f);
        // a plain WAV whose data size was never filled in: the data runs to the end of the file
        ByteArrayOutputStream s = new ByteArrayOutputStream();
        s.writeBytes(riff("RIFF", new Chunk("fmt ", fmt(1, 1, 44100, 16, 2)), new Chunk("data", null)));
        s.writeBytes(le16(7, 8, 9));
        assertEquals(3, WavReader.probe(file("s.wav", s.toByteArray()), 0).frames());
    }

    @Test
    void streamingBlocksEqualTheWholeFile() throws Exception {
        float[][] x = ResamplerTest.signal(5000, 44100, 3, 9);
        Path p = dir.resolve("w.wav");
        try (WavWriter w = new WavWriter(p, 44100, 3, WavFormat.FLOAT32).open()) {
            w.write(x);
            w.commit();
        }
        float[][] all = WavReader.readAll(p, 0);
        try (WavReader r = WavReader.open(p)) {
            int at = 0;
            int size = 1;
            float[][] b;
            while ((b = r.read(size)) != null) {
                for (int c = 0; c < 3; c++) {
                    assertArrayEquals(java.util.Arrays.copyOfRange(all[c], at, at + b[c].length), b[c], 0f);
                }
                at += b[0].length;
                size = size * 3 + 1;
            }
            assertEquals(5000, at);
            assertNull(r.read(10));
        }
        for (int c = 0; c < 3; c++) {
            assertArrayEquals(x[c], all[c], 0f);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Refusals.

    private String refusal(Path p, long minFrames) {
        return assertThrows(AudioException.class, () -> WavReader.readAll(p, minFrames)).getMessage();
    }

    @Test
    void missingFolderNotAudio() throws Exception {
        Path missing = dir.resolve("nope.wav");
        assertEquals(missing + ": no such file", refusal(missing, 0));
        assertEquals(dir + ": is a folder, not an audio file", refusal(dir, 0));
        Path text = file("t.wav", "hello, this is not audio at all".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        assertTrue(refusal(text, 0).startsWith(text + ": cannot open audio: not an audio file"));
        Path tiny = file("u.wav", new byte[] {'R', 'I'});
        assertTrue(refusal(tiny, 0).startsWith(tiny + ": cannot open audio:"));
        Path rifx = file("v.wav", riff("RIFX", new Chunk("fmt ", fmt(1, 1, 44100, 16, 2))));
        assertTrue(refusal(rifx, 0).contains("RIFX"));
    }

    @Test
    void damagedHeaders() throws Exception {
        Path noData = file("a.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 44100, 16, 2))));
        assertEquals(noData + ": cannot open audio: damaged header: no 'data' chunk", refusal(noData, 0));
        Path dataFirst = file("b.wav", riff("RIFF", new Chunk("data", le16(1)), new Chunk("fmt ", fmt(1, 1, 44100, 16, 2))));
        assertTrue(refusal(dataFirst, 0).contains("'data' chunk before the 'fmt ' chunk"));
        Path align = file("c.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 2, 44100, 16, 3)), new Chunk("data", le16(1, 2))));
        assertTrue(refusal(align, 0).contains("damaged header: block size 3 for 2 channels"));
        Path cut = file("d.wav", java.util.Arrays.copyOf(riff("RIFF", new Chunk("LIST", new byte[100])), 60));
        assertTrue(refusal(cut, 0).contains("damaged header: the file ends inside its 'LIST' chunk"));
        Path alaw = file("e.wav", riff("RIFF", new Chunk("fmt ", fmt(6, 1, 8000, 8, 1)), new Chunk("data", new byte[10])));
        assertEquals(alaw + ": cannot open audio: unsupported WAV encoding (format tag 0x0006)", refusal(alaw, 0));
        Path noChannels = file("f.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 0, 44100, 16, 2)), new Chunk("data", le16(1))));
        assertEquals(noChannels + ": the file declares no audio channels", refusal(noChannels, 0));
    }

    @Test
    void rateZeroFramesAndMinimumLength() throws Exception {
        Path slow = file("a.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 7999, 16, 2)), new Chunk("data", le16(1))));
        assertEquals(slow + ": sample rate 7999 Hz is outside the supported range 8000\u2013192000 Hz", refusal(slow, 0));
        Path fast = file("b.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 192001, 16, 2)), new Chunk("data", le16(1))));
        assertTrue(refusal(fast, 0).contains("192001 Hz is outside"));
        Path empty = file("c.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 44100, 16, 2)), new Chunk("data", new byte[0])));
        assertEquals(empty + ": contains no audio (0 frames)", refusal(empty, 0));
        Path one = file("d.wav", riff("RIFF", new Chunk("fmt ", fmt(1, 1, 8000, 16, 2)), new Chunk("data", le16(1, 2, 3))));
        assertEquals(one + ": too short: 3 frames (0.000 s), at least 800 frames (0.100 s) are needed", refusal(one, 800));
    }

    @Test
    void truncatedFiles() throws Exception {
        byte[] whole = riff("RIFF", new Chunk("fmt ", fmt(1, 2, 44100, 16, 4)), new Chunk("data", le16(new int[2000])));
        byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 1001);
        Path p = file("t.wav", cut);
        assertEquals(p + ": truncated file: its header declares 1000 frames but only 749 are present", refusal(p, 0));
        // from a stream of unknown length the shortfall shows when the block is read
        try (WavReader r = WavReader.open(new ByteArrayInputStream(cut), "stream.wav", -1, 0)) {
            assertEquals(1000, r.frames());
            r.read(500);
            AudioException e = assertThrows(AudioException.class, () -> r.read(1000));
            assertEquals("stream.wav: cannot decode audio: truncated file: it ends after 749 of the 1000 frames its "
                    + "header declares", e.getMessage());
        }
    }

    @Test
    void nanAndInfNameTheFirstFrameAndChannel() throws Exception {
        Path nan = file("n.wav", riff("RIFF", new Chunk("fmt ", fmt(3, 2, 44100, 32, 8)),
                new Chunk("data", f32(0f, 0f, 0.5f, 0f, 0f, Float.NaN, Float.POSITIVE_INFINITY, 0f))));
        assertEquals(nan + ": contains NaN samples (first at frame 2, channel 1); the file is damaged or not "
                + "normalised audio", refusal(nan, 0));
        Path inf = file("i.wav", riff("RIFF", new Chunk("fmt ", fmt(3, 1, 44100, 32, 4)),
                new Chunk("data", f32(0f, 0f, 0f, Float.NEGATIVE_INFINITY))));
        try (WavReader r = WavReader.open(inf)) {
            r.read(2); // the bad sample is in a later block: counted from the file's start
            AudioException e = assertThrows(AudioException.class, () -> r.read(2));
            assertEquals(inf + ": contains -Inf samples (first at frame 3, channel 0); the file is damaged or not "
                    + "normalised audio", e.getMessage());
        }
        Path big = file("d.wav", riff("RIFF", new Chunk("fmt ", fmt(3, 1, 44100, 64, 8)), new Chunk("data", f64(1e300))));
        assertTrue(refusal(big, 0).contains("contains +Inf samples (first at frame 0, channel 0)"),
                "a double beyond float range becomes +Inf in float32");
    }

    // ------------------------------------------------------------------------------------------
    // Writing.

    private static byte[] dataOf(byte[] wav) {
        for (int i = 12; i + 8 <= wav.length; ) {
            String id = new String(wav, i, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
            int size = ByteBuffer.wrap(wav, i + 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if (id.equals("data")) {
                return java.util.Arrays.copyOfRange(wav, i + 8, i + 8 + size);
            }
            i += 8 + size + (size & 1);
        }
        throw new AssertionError("no data chunk");
    }

    private Path write(String name, WavFormat f, float[][] x) throws Exception {
        Path p = dir.resolve(name);
        try (WavWriter w = new WavWriter(p, 44100, x.length, f).open()) {
            w.write(x);
            w.commit();
        }
        return p;
    }

    @Test
    void pcmQuantisationRoundsHalfToEvenAndClips() throws Exception {
        float[] v = {0f, 0.5f / 32768, 1.5f / 32768, 2.5f / 32768, -2.5f / 32768, 1.0f, -1.0f, 1.5f, -1.5f, 32766.5f / 32768};
        byte[] d16 = dataOf(Files.readAllBytes(write("a.wav", WavFormat.WAV16, new float[][] {v})));
        assertArrayEquals(le16(0, 0, 2, 2, -2, 32767, -32768, 32767, -32768, 32766), d16);
        float[] w = {0.5f / 8388608, 1.5f / 8388608, 1.0f, -1.0f, -2f, 0.25f};
        byte[] d24 = dataOf(Files.readAllBytes(write("b.wav", WavFormat.WAV24, new float[][] {w})));
        assertArrayEquals(le24(0, 2, 8388607, -8388608, -8388608, 2097152), d24);
        assertEquals(32767, WavWriter.quantize(Float.POSITIVE_INFINITY, 16));
    }

    @Test
    void roundTripsAndHeaders() throws Exception {
        float[][] x = ResamplerTest.signal(3001, 44100, 2, 4);
        x[0][5] = 2.5f; // float keeps it
        Path f = write("f.wav", WavFormat.FLOAT32, x);
        float[][] back = WavReader.readAll(f, 0);
        assertArrayEquals(x[0], back[0], 0f);
        assertArrayEquals(x[1], back[1], 0f);
        AudioInfo fi = WavReader.probe(f, 0);
        assertEquals("FLOAT", fi.subtype());
        assertEquals(3001, fi.frames());
        byte[] raw = Files.readAllBytes(f);
        assertEquals(raw.length - 8, ByteBuffer.wrap(raw, 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt(), "RIFF size");
        // a decoded 16-bit file written back as wav16 is bit-identical
        Path p16 = write("p.wav", WavFormat.WAV16, x);
        float[][] d16 = WavReader.readAll(p16, 0);
        Path again = write("q.wav", WavFormat.WAV16, d16);
        assertArrayEquals(dataOf(Files.readAllBytes(p16)), dataOf(Files.readAllBytes(again)));
        for (int t = 0; t < 3001; t++) {
            assertEquals(Math.max(-1f, Math.min(32767f / 32768, x[0][t])), d16[0][t], 0.5f / 32768 + 1e-9f);
        }
        // odd data length (mono 24-bit, odd frames) gets its pad byte and still reads back
        Path odd = write("o.wav", WavFormat.WAV24, new float[][] {{0.1f, 0.2f, 0.3f}});
        assertEquals(3, WavReader.probe(odd, 0).frames());
        assertEquals(0, Files.size(odd) % 2);
    }

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(q -> q.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    @Test
    void atomicWhileWritingCommitAndAbort() throws Exception {
        Path p = dir.resolve("vocals.wav");
        WavWriter w = new WavWriter(p, 44100, 2, WavFormat.WAV16).open();
        w.write(new float[2][100]);
        List<String> during = names();
        assertEquals(1, during.size());
        assertTrue(during.get(0).matches("\\.vocals\\.wav\\.partial-[0-9a-f]{8}"), during.get(0));
        assertEquals(dir.toAbsolutePath(), w.temporaryPath().getParent().toAbsolutePath(), "temp file in the target folder");
        assertFalse(Files.exists(p));
        w.commit();
        assertEquals(List.of("vocals.wav"), names());
        byte[] first = Files.readAllBytes(p);

        // an aborted rewrite leaves the old file alone and no temporary behind
        WavWriter w2 = new WavWriter(p, 44100, 2, WavFormat.WAV16).open();
        w2.write(new float[][] {{0.5f}, {0.5f}});
        w2.abort();
        assertEquals(List.of("vocals.wav"), names());
        assertArrayEquals(first, Files.readAllBytes(p));

        // close() without commit is an abort
        try (WavWriter w3 = new WavWriter(dir.resolve("drums.wav"), 44100, 1, WavFormat.FLOAT32).open()) {
            w3.write(new float[][] {{1f}});
        }
        assertEquals(List.of("vocals.wav"), names());

        // an error while writing deletes the temporary at once
        WavWriter w4 = new WavWriter(dir.resolve("bass.wav"), 44100, 2, WavFormat.WAV24).open();
        assertThrows(IllegalArgumentException.class, () -> w4.write(new float[3][10]));
        assertEquals(List.of("vocals.wav"), names());
        assertThrows(IllegalStateException.class, () -> w4.write(new float[2][10]));

        // a committed rewrite replaces the file
        write("vocals.wav", WavFormat.FLOAT32, new float[][] {{0.25f}, {0.5f}});
        assertEquals(List.of("vocals.wav"), names());
        assertArrayEquals(new float[] {0.25f}, WavReader.readAll(p, 0)[0], 0f);
    }

    @Test
    void unwritableFolders() throws Exception {
        Path missing = dir.resolve("no/such/x.wav");
        AudioException e = assertThrows(AudioException.class, () -> new WavWriter(missing, 44100, 2, WavFormat.WAV16).open());
        assertTrue(e.getMessage().startsWith(missing + ": cannot write: "), e.getMessage());
        assertTrue(e.getMessage().endsWith(" does not exist"), e.getMessage());
        Path aFile = file("plain", new byte[1]);
        AudioException e2 = assertThrows(AudioException.class,
                () -> new WavWriter(aFile.resolve("x.wav"), 44100, 2, WavFormat.WAV16).open());
        assertTrue(e2.getMessage().endsWith(" is not a folder"), e2.getMessage());
        List<String> left = new ArrayList<>(names());
        assertEquals(List.of("plain"), left);
    }
}
