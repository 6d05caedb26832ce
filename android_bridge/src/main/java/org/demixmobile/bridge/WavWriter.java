package org.demixmobile.bridge;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;

/**
 * Writes one WAV file blockwise; it appears under its final name only when complete. Mirrors
 * {@code AtomicWavWriter} of {@code mobile_core/contract/audio.py}; normative text: docs/contract-audio.md,
 * "Writing stems", and docs/contract.md, section 6.
 *
 * <p>{@link #open()} creates a hidden temporary file {@code .<name>.partial-<8 hex>} in the
 * target folder; {@link #write} appends planar {@code [C][n]} blocks; {@link #commit()} finishes
 * the header and renames the file into place (replacing an existing file of that name);
 * {@link #abort()} (or {@link #close()} without a commit) deletes the temporary file. On any
 * write error the temporary file is deleted too, so nothing partial is left behind.
 *
 * <p>Samples: {@code wav16} {@code clamp(round_half_even(x * 32768), -32768, 32767)},
 * {@code wav24} likewise with 2^23, {@code float32} unchanged.
 */
public final class WavWriter implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final long MAX_DATA_BYTES = 0xFFFFFFFFL - 64;

    private final Path path;
    private final int sampleRate;
    private final int channels;
    private final WavFormat format;
    private Path tmp;
    private FileChannel file;
    private ByteBuffer buffer;
    private long dataBytes;
    private int headerBytes;
    private boolean committed;

    public WavWriter(Path path, int sampleRate, int channels, WavFormat format) {
        if (channels < 1) {
            throw new IllegalArgumentException("channels must be at least 1, got " + channels);
        }
        if (sampleRate < 1) {
            throw new IllegalArgumentException("sample rate must be positive, got " + sampleRate);
        }
        if (format == null) {
            throw new IllegalArgumentException("format is required");
        }
        this.path = path;
        this.sampleRate = sampleRate;
        this.channels = channels;
        this.format = format;
    }

    public Path path() {
        return path;
    }

    /** The temporary file while open, else null. */
    public Path temporaryPath() {
        return tmp;
    }

    /** Frames written so far. */
    public long frames() {
        return dataBytes / ((long) channels * format.bytesPerSample());
    }

    /**
     * Create the temporary file and write a provisional header.
     *
     * @throws AudioException if the folder does not exist, is not a folder or cannot be written
     */
    public WavWriter open() throws AudioException {
        if (file != null || committed) {
            throw new IllegalStateException("WavWriter.open called twice");
        }
        Path folder = path.toAbsolutePath().getParent();
        if (folder == null || !Files.isDirectory(folder)) {
            String why = folder != null && Files.exists(folder) ? "is not a folder" : "does not exist";
            throw new AudioException(path + ": cannot write: " + folder + " " + why);
        }
        String prefix = "." + path.getFileName() + ".partial-";
        IOException last = null;
        for (int i = 0; i < 100 && tmp == null; i++) {
            Path candidate = folder.resolve(prefix + String.format("%08x", RANDOM.nextInt()));
            try {
                file = FileChannel.open(candidate, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                tmp = candidate;
            } catch (FileAlreadyExistsException e) {
                last = e;
            } catch (IOException | SecurityException e) {
                throw new AudioException(path + ": cannot write to folder " + folder + ": " + reason(e), e);
            }
        }
        if (tmp == null) {
            throw new AudioException(path + ": cannot write to folder " + folder + ": no free temporary name", last);
        }
        buffer = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        try {
            writeHeader(0);
        } catch (IOException e) {
            discard();
            throw new AudioException(path + ": cannot write: " + reason(e), e);
        }
        return this;
    }

    private void writeHeader(long data) throws IOException {
        boolean isFloat = format == WavFormat.FLOAT32;
        int bps = format.bytesPerSample();
        int fmtSize = isFloat ? 18 : 16;
        headerBytes = 12 + 8 + fmtSize + (isFloat ? 12 : 0) + 8;
        ByteBuffer h = ByteBuffer.allocate(headerBytes).order(ByteOrder.LITTLE_ENDIAN);
        h.put(new byte[] {'R', 'I', 'F', 'F'}).putInt((int) (headerBytes - 8 + data + (data & 1)));
        h.put(new byte[] {'W', 'A', 'V', 'E'});
        h.put(new byte[] {'f', 'm', 't', ' '}).putInt(fmtSize);
        h.putShort((short) (isFloat ? 3 : 1)).putShort((short) channels).putInt(sampleRate);
        h.putInt(sampleRate * channels * bps).putShort((short) (channels * bps)).putShort((short) (8 * bps));
        if (isFloat) {
            h.putShort((short) 0);
            h.put(new byte[] {'f', 'a', 'c', 't'}).putInt(4).putInt((int) (data / ((long) channels * bps)));
        }
        h.put(new byte[] {'d', 'a', 't', 'a'}).putInt((int) data);
        h.flip();
        long pos = 0;
        while (h.hasRemaining()) {
            pos += file.write(h, pos);
        }
        file.position(headerBytes + data);
    }

    /**
     * Append planar samples {@code [channels][n]}.
     *
     * @throws AudioException on an I/O error (the temporary file is then deleted)
     * @throws IllegalArgumentException for a block of the wrong shape (the temporary file is
     *     deleted too)
     */
    public void write(float[][] block) throws AudioException {
        if (file == null) {
            throw new IllegalStateException("WavWriter.write called on a writer that is not open");
        }
        if (block == null || block.length != channels) {
            discard();
            throw new IllegalArgumentException("expected a block [" + channels + "][n], got "
                    + (block == null ? "null" : block.length + " channels"));
        }
        int n = block[0].length;
        for (float[] row : block) {
            if (row.length != n) {
                discard();
                throw new IllegalArgumentException("channels of unequal length in one block");
            }
        }
        int bps = format.bytesPerSample();
        long add = (long) n * channels * bps;
        if (dataBytes + add > MAX_DATA_BYTES) {
            discard();
            throw new AudioException(path + ": cannot write: more than 4 GiB of samples does not fit a WAV file");
        }
        try {
            for (int t = 0; t < n; t++) {
                if (buffer.remaining() < channels * bps) {
                    drain();
                }
                for (int c = 0; c < channels; c++) {
                    float x = block[c][t];
                    switch (format) {
                        case WAV16:
                            buffer.putShort((short) quantize(x, 16));
                            break;
                        case WAV24: {
                            int v = quantize(x, 24);
                            buffer.put((byte) v).put((byte) (v >> 8)).put((byte) (v >> 16));
                            break;
                        }
                        default:
                            buffer.putFloat(x);
                            break;
                    }
                }
            }
            drain();
        } catch (IOException e) {
            discard();
            throw new AudioException(path + ": cannot write: " + reason(e), e);
        }
        dataBytes += add;
    }

    /** {@code clamp(round_half_even(x * 2^(bits-1)), -2^(bits-1), 2^(bits-1) - 1)}, computed in double. */
    static int quantize(float x, int bits) {
        double full = (double) (1 << (bits - 1));
        double q = Math.rint((double) x * full);
        q = Math.max(-full, Math.min(full - 1, q));
        return (int) q;
    }

    private void drain() throws IOException {
        buffer.flip();
        while (buffer.hasRemaining()) {
            file.write(buffer);
        }
        buffer.clear();
    }

    /**
     * Finish the file and move it to its final name.
     *
     * @throws AudioException if that fails (the temporary file is then deleted)
     */
    public void commit() throws AudioException {
        if (file == null || tmp == null) {
            throw new IllegalStateException("WavWriter.commit called on a writer that is not open");
        }
        try {
            if ((dataBytes & 1) == 1) {
                buffer.put((byte) 0);
                drain();
            }
            writeHeader(dataBytes);
            file.force(false);
            file.close();
            file = null;
            try {
                Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | SecurityException e) {
            discard();
            throw new AudioException(path + ": cannot write: " + reason(e), e);
        }
        tmp = null;
        committed = true;
    }

    /** Give up: delete the temporary file; the final name is not touched. Never throws. */
    public void abort() {
        discard();
    }

    private void discard() {
        if (file != null) {
            try {
                file.close();
            } catch (IOException ignored) {
                // already failing: the original error is the one to report
            }
            file = null;
        }
        if (tmp != null) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException | SecurityException ignored) {
                // nothing more can be done
            }
            tmp = null;
        }
    }

    /** Whether {@link #commit()} has succeeded. */
    public boolean isCommitted() {
        return committed;
    }

    /** Abort unless committed (use in try-with-resources; call {@link #commit()} explicitly). */
    @Override
    public void close() {
        if (!committed) {
            discard();
        }
    }

    private static String reason(Exception e) {
        String m = e.getMessage();
        return m == null || m.isEmpty() ? e.getClass().getSimpleName() : m.split("\n")[0];
    }
}
