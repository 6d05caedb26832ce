package org.demixmobile.bridge.desktop;

import java.io.PrintStream;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.demixmobile.bridge.DemixException;
import org.demixmobile.bridge.Demixer;
import org.demixmobile.bridge.ExecutorchRunner;
import org.demixmobile.bridge.WavFormat;

/**
 * {@code demix-bridge}: the bridge end to end on a desktop JVM, no Python.
 *
 * <pre>
 * java -jar demix-bridge.jar SONG.wav [SONG.wav ...] -m MODEL.pte [-o OUT] [--format wav16|wav24|float32]
 *      [--keep-rate] [--stems vocals,drums] [--mono-out] [--threads N] [-q]
 * </pre>
 *
 * Stems go to {@code OUT/<song file name without extension>/<stem>.wav}, as with {@code demix}.
 * The model runs through {@link ExecutorchRunner} over the desktop JNI stand-in of ExecuTorch's
 * Java API. A bad song or model gives one line {@code demix-bridge: error: ...} on stderr and
 * nothing written for it; the other songs still run; the exit status is 1 if anything failed
 * (2 for bad usage). One summary line per song goes to stdout unless {@code -q}.
 */
public final class Main {
    static final String PROG = "demix-bridge";
    static final String USAGE = "usage: " + PROG + " SONG.wav [SONG.wav ...] -m MODEL.pte [-o OUT] "
            + "[--format wav16|wav24|float32] [--keep-rate] [--stems a,b] [--mono-out] [--threads N] [-q]";

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Parsed command line. */
    static final class Args {
        final List<Path> songs = new ArrayList<>();
        String model;
        Path out = Paths.get("separated");
        WavFormat format = WavFormat.WAV16;
        boolean keepRate;
        boolean monoOut;
        boolean quiet;
        List<String> stems;
        int threads;
    }

    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    static Args parse(String[] argv) throws UsageException {
        Args a = new Args();
        for (int i = 0; i < argv.length; i++) {
            String s = argv[i];
            switch (s) {
                case "-m":
                case "--model":
                    a.model = value(argv, ++i, s);
                    break;
                case "-o":
                case "--out":
                    a.out = Paths.get(value(argv, ++i, s));
                    break;
                case "--format":
                    try {
                        a.format = WavFormat.fromName(value(argv, ++i, s));
                    } catch (IllegalArgumentException e) {
                        throw new UsageException(e.getMessage());
                    }
                    break;
                case "--keep-rate":
                    a.keepRate = true;
                    break;
                case "--mono-out":
                    a.monoOut = true;
                    break;
                case "-q":
                case "--quiet":
                    a.quiet = true;
                    break;
                case "--stems":
                    a.stems = Arrays.asList(value(argv, ++i, s).split(","));
                    break;
                case "--threads":
                    String t = value(argv, ++i, s);
                    try {
                        a.threads = Integer.parseInt(t);
                    } catch (NumberFormatException e) {
                        a.threads = -1;
                    }
                    if (a.threads < 1 || a.threads > 256) {
                        throw new UsageException("--threads takes an integer 1-256, got '" + t + "'");
                    }
                    break;
                default:
                    if (s.startsWith("-") && s.length() > 1) {
                        throw new UsageException("unknown option " + s);
                    }
                    a.songs.add(Paths.get(s));
            }
        }
        if (a.model == null) {
            throw new UsageException("-m MODEL.pte is required");
        }
        if (a.songs.isEmpty()) {
            throw new UsageException("no songs given");
        }
        return a;
    }

    private static String value(String[] argv, int i, String option) throws UsageException {
        if (i >= argv.length) {
            throw new UsageException(option + " needs a value");
        }
        return argv[i];
    }

    /** Run the command; returns the exit status. */
    static int run(String[] argv, PrintStream out, PrintStream err) {
        if (argv.length == 1 && (argv[0].equals("-h") || argv[0].equals("--help"))) {
            out.println(USAGE);
            return 0;
        }
        Args a;
        try {
            a = parse(argv);
        } catch (UsageException e) {
            err.println(PROG + ": error: " + e.getMessage() + " (" + USAGE + ")");
            return 2;
        }
        ExecutorchRunner model;
        try {
            model = ExecutorchRunner.open(a.model, a.threads);
        } catch (DemixException e) {
            err.println(errorLine(e));
            return 1;
        } catch (RuntimeException | LinkageError e) {
            err.println(PROG + ": error: " + a.model + ": " + oneLine(e));
            return 1;
        }
        int failed = 0;
        try {
            Demixer demixer = new Demixer(model);
            Demixer.Options opts = new Demixer.Options().format(a.format).keepRate(a.keepRate)
                    .monoOut(a.monoOut).stems(a.stems);
            for (Path song : a.songs) {
                try {
                    Demixer.Result r = demixer.separateFile(song, a.out.resolve(songName(song)), opts);
                    if (!a.quiet) {
                        out.println(String.format(Locale.ROOT, "%s -> %s: %d stems, %.2f s of audio in %.2f s (%d chunks, RTF %.3f)",
                                song, a.out.resolve(songName(song)), r.stems.size(), r.duration(), r.elapsed, r.chunks, r.rtf()));
                    }
                } catch (DemixException e) {
                    err.println(errorLine(e));
                    failed++;
                } catch (RuntimeException | OutOfMemoryError e) {
                    err.println(PROG + ": error: " + song + ": " + oneLine(e));
                    failed++;
                }
            }
        } finally {
            model.close();
        }
        return failed == 0 ? 0 : 1;
    }

    /** The song's folder name: its file name without the extension (as {@code demix}). */
    static String songName(Path song) {
        String n = song.getFileName() == null ? song.toString() : song.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    static String errorLine(DemixException e) {
        return PROG + ": error: " + oneLine(e);
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.trim().isEmpty()) {
            m = e.getClass().getName();
        }
        return m.trim().replaceAll("\\s*\\R\\s*", " ");
    }
}
