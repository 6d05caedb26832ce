package org.demixmobile.bridge;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Writes each stem to {@code <folder>/<stem>.wav}, all or nothing (docs/contract.md, section 6;
 * {@code _StemSink} and {@code _make_folder} of {@code mobile_core/contract/runner.py}).
 *
 * <p>{@link #open} creates the folder (and missing parents) if needed, then one
 * {@link WavWriter} per stem; {@link #finish()} renames every stem into place; {@link #abort()}
 * deletes every temporary file, every stem of this sink already renamed, and the folders this
 * sink created (if empty).
 */
public final class WavFolderSink implements StemSink {
    private final Path folder;
    private final WavFormat format;
    private final List<WavWriter> writers = new ArrayList<>();
    private final List<Path> committed = new ArrayList<>();
    private List<Path> created = Collections.emptyList();
    private List<Path> outputs = Collections.emptyList();

    public WavFolderSink(Path folder, WavFormat format) {
        this.folder = folder;
        this.format = format;
    }

    public Path folder() {
        return folder;
    }

    /** The stem files (final names), in stem order, once opened. */
    public List<Path> outputs() {
        return outputs;
    }

    @Override
    public void open(List<String> stems, int sampleRate, int channels, long frames) throws DemixException {
        List<Path> paths = new ArrayList<>();
        for (String s : stems) {
            if (s.isEmpty() || s.equals(".") || s.equals("..") || s.indexOf('/') >= 0 || s.indexOf('\\') >= 0
                    || s.indexOf('\0') >= 0) {
                throw new DemixException("stem name '" + s + "' cannot be used as a file name");
            }
            paths.add(folder.resolve(s + ".wav"));
        }
        created = makeFolder(folder);
        outputs = Collections.unmodifiableList(paths);
        try {
            for (Path p : paths) {
                WavWriter w = new WavWriter(p, sampleRate, channels, format);
                writers.add(w);
                w.open();
            }
        } catch (DemixException | RuntimeException e) {
            abort();
            throw e;
        }
    }

    @Override
    public void write(float[][][] block) throws DemixException {
        if (block.length != writers.size()) {
            throw new IllegalArgumentException("expected " + writers.size() + " stems, got " + block.length);
        }
        for (int k = 0; k < writers.size(); k++) {
            writers.get(k).write(block[k]);
        }
    }

    @Override
    public void finish() throws DemixException {
        for (WavWriter w : writers) {
            w.commit();
            committed.add(w.path());
        }
    }

    @Override
    public void abort() {
        for (WavWriter w : writers) {
            w.abort();
        }
        for (Path p : committed) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException | SecurityException ignored) {
                // best effort
            }
        }
        committed.clear();
        for (int i = created.size() - 1; i >= 0; i--) { // deepest first
            try {
                Files.delete(created.get(i));
            } catch (IOException | SecurityException e) {
                break;
            }
        }
        created = Collections.emptyList();
    }

    /** Create {@code folder} and missing parents; returns the folders created (outermost first). */
    static List<Path> makeFolder(Path folder) throws AudioException {
        List<Path> missing = new ArrayList<>();
        Path p = folder.toAbsolutePath();
        while (p != null && !Files.exists(p)) {
            missing.add(p);
            p = p.getParent();
        }
        try {
            Files.createDirectories(folder);
        } catch (IOException | SecurityException e) {
            String m = e.getMessage();
            throw new AudioException("cannot create output folder " + folder + ": "
                    + (m == null ? e.getClass().getSimpleName() : m), e);
        }
        if (!Files.isDirectory(folder)) {
            throw new AudioException("cannot write to " + folder + ": not a folder");
        }
        Collections.reverse(missing);
        return missing;
    }
}
