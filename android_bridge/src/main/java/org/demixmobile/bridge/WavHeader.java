package org.demixmobile.bridge;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The header of a WAV stream, parsed and checked (the header half of {@link WavReader}; the
 * WAV part of {@code probe} in {@code mobile_core/contract/audio.py}): RIFF/WAVE or RF64, the
 * {@code fmt } chunk (plain or WAVE_FORMAT_EXTENSIBLE), other chunks skipped, up to the start of
 * the {@code data} chunk. Refuses (with an {@link AudioException} naming the stream) what
 * {@link WavReader} documents, except the length checks that need {@code minFrames}.
 */
final class WavHeader {
    static final int ENC_U8 = 0;
    static final int ENC_INT = 1;
    static final int ENC_FLOAT = 2;
    static final int ENC_DOUBLE = 3;
    private static final byte[] GUID_TAIL = {
        0x00, 0x00, 0x00, 0x00, 0x10, 0x00, (byte) 0x80, 0x00, 0x00, (byte) 0xAA, 0x00, 0x38,
        (byte) 0x9B, 0x71,
    };

    private final String name;
    private final InputStream in;
    private long headerPos; // bytes consumed while parsing the header

    final AudioInfo info;
    final int encoding;
    final int bytesPerSample;
    final int blockAlign;

    WavHeader(InputStream in, String name, long size) throws AudioException {
        this.in = in;
        this.name = name;
        byte[] head = new byte[12];
        if (readUpTo(head, 12) < 12) {
            throw cannotOpen("not an audio file this reader can read (too short for a WAV header)");
        }
        String riff = ascii(head, 0);
        String wave = ascii(head, 8);
        boolean rf64 = riff.equals("RF64");
        if (riff.equals("RIFX")) {
            throw cannotOpen("big-endian WAV (RIFX) is not supported");
        }
        if (!(riff.equals("RIFF") || rf64) || !wave.equals("WAVE")) {
            throw cannotOpen("not an audio file this reader can read (not a RIFF/WAVE file)");
        }
        headerPos = 12;
        long ds64Data = -1;
        int tag = -1;
        int channels = 0;
        long rate = 0;
        int align = 0;
        int bits = 0;
        long dataBytes = -1;
        byte[] ch = new byte[8];
        while (true) {
            int got = readUpTo(ch, 8);
            if (got < 8) {
                throw cannotOpen("damaged header: no 'data' chunk");
            }
            String id = ascii(ch, 0);
            long csize = u32(ch, 4);
            if (id.equals("ds64")) {
                if (csize < 24) {
                    throw cannotOpen("damaged header: 'ds64' chunk too short");
                }
                byte[] b = readExactly((int) csize + (int) (csize & 1), "'ds64' chunk");
                ds64Data = u64(b, 8);
            } else if (id.equals("fmt ")) {
                if (csize < 16 || csize > 1 << 16) {
                    throw cannotOpen("damaged header: 'fmt ' chunk of " + csize + " bytes");
                }
                byte[] b = readExactly((int) csize + (int) (csize & 1), "'fmt ' chunk");
                tag = u16(b, 0);
                channels = u16(b, 2);
                rate = u32(b, 4);
                align = u16(b, 12);
                bits = u16(b, 14);
                if (tag == 0xFFFE) {
                    if (csize < 40 || u16(b, 16) < 22) {
                        throw cannotOpen("damaged header: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short");
                    }
                    for (int i = 0; i < GUID_TAIL.length; i++) {
                        if (b[26 + i] != GUID_TAIL[i]) {
                            throw cannotOpen("unsupported WAV encoding (unknown WAVE_FORMAT_EXTENSIBLE sub-format)");
                        }
                    }
                    tag = u16(b, 24);
                }
            } else if (id.equals("data")) {
                if (tag < 0) {
                    throw cannotOpen("damaged header: 'data' chunk before the 'fmt ' chunk");
                }
                if (rf64 && csize == 0xFFFFFFFFL) {
                    if (ds64Data < 0) {
                        throw cannotOpen("damaged header: RF64 file without a 'ds64' chunk");
                    }
                    dataBytes = ds64Data;
                } else if (csize == 0xFFFFFFFFL) {
                    // a WAV written while streaming: the data runs to the end of the file
                    if (size < 0) {
                        throw cannotOpen("the 'data' chunk has no length and the stream's size is unknown");
                    }
                    dataBytes = size - headerPos;
                } else {
                    dataBytes = csize;
                }
                break;
            } else {
                skip(csize + (csize & 1), "'" + id.trim() + "' chunk");
            }
        }
        if (channels < 1) {
            throw new AudioException(name + ": the file declares no audio channels");
        }
        if (align < 1 || align % channels != 0) {
            throw cannotOpen("damaged header: block size " + align + " for " + channels + " channels");
        }
        int bps = align / channels;
        String subtype;
        int enc;
        if (tag == 1) {
            if (bps < 1 || bps > 4 || bits > 8 * bps || bits < 1) {
                throw cannotOpen("unsupported WAV encoding (" + bits + "-bit integer PCM in " + bps + "-byte samples)");
            }
            enc = bps == 1 ? ENC_U8 : ENC_INT;
            subtype = bps == 1 ? "PCM_U8" : "PCM_" + (8 * bps);
        } else if (tag == 3) {
            if (bps == 4) {
                enc = ENC_FLOAT;
                subtype = "FLOAT";
            } else if (bps == 8) {
                enc = ENC_DOUBLE;
                subtype = "DOUBLE";
            } else {
                throw cannotOpen("unsupported WAV encoding (" + (8 * bps) + "-bit float)");
            }
        } else {
            throw cannotOpen(String.format(Locale.ROOT, "unsupported WAV encoding (format tag 0x%04X)", tag));
        }
        if (rate < Resampler.MIN_RATE || rate > Resampler.MAX_RATE) {
            throw new AudioException(name + ": sample rate " + rate + " Hz is outside the supported range "
                    + Resampler.MIN_RATE + "\u2013" + Resampler.MAX_RATE + " Hz");
        }
        if (size >= 0 && dataBytes > size - headerPos) {
            long present = Math.max(0, size - headerPos) / align;
            throw new AudioException(name + ": truncated file: its header declares " + dataBytes / align
                    + " frames but only " + present + " are present");
        }
        long frames = dataBytes / align;
        this.encoding = enc;
        this.bytesPerSample = bps;
        this.blockAlign = align;
        this.info = new AudioInfo((int) rate, channels, frames, rf64 ? "RF64" : "WAV", subtype);
    }

    private AudioException cannotOpen(String why) {
        return new AudioException(name + ": cannot open audio: " + why);
    }

    private int readUpTo(byte[] b, int n) throws AudioException {
        int got = 0;
        try {
            while (got < n) {
                int r = in.read(b, got, n - got);
                if (r < 0) {
                    break;
                }
                got += r;
            }
        } catch (IOException e) {
            throw new AudioException(name + ": cannot open audio: " + reason(e), e);
        }
        headerPos += got;
        return got;
    }

    private byte[] readExactly(int n, String what) throws AudioException {
        byte[] b = new byte[n];
        if (readUpTo(b, n) < n) {
            throw cannotOpen("damaged header: the file ends inside its " + what);
        }
        return b;
    }

    private void skip(long n, String what) throws AudioException {
        byte[] tmp = new byte[8192];
        long left = n;
        while (left > 0) {
            int step = (int) Math.min(tmp.length, left);
            if (readUpTo(tmp, step) < step) {
                throw cannotOpen("damaged header: the file ends inside its " + what);
            }
            left -= step;
        }
    }

    private static String ascii(byte[] b, int off) {
        return new String(b, off, 4, StandardCharsets.ISO_8859_1);
    }

    private static int u16(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8;
    }

    private static long u32(byte[] b, int off) {
        return (b[off] & 0xffL) | (b[off + 1] & 0xffL) << 8 | (b[off + 2] & 0xffL) << 16 | (b[off + 3] & 0xffL) << 24;
    }

    private static long u64(byte[] b, int off) {
        return u32(b, off) | u32(b, off + 4) << 32;
    }

    static String reason(IOException e) {
        String m = e.getMessage();
        return m == null || m.isEmpty() ? e.getClass().getSimpleName() : m.split("\n")[0];
    }
}
