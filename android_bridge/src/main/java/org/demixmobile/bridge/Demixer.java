package org.demixmobile.bridge;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The reference runner's pipeline around a {@link ModelRunner}: PCM in, stems out, streaming.
 * Mirrors {@code mobile_core/contract/runner.py} (docs/contract.md, sections 1, 3, 5 and 6):
 *
 * <pre>
 * PcmSource blocks [C][n]            (WavReader, or the platform decoder)
 *   -&gt; NaN/Inf check, ChannelRules.toStereo -&gt; [2][n]
 *   -&gt; Resampler (streaming) to the model rate
 *   -&gt; window of about one chunk; ChunkPlan; per chunk ModelRunner.run; keep each chunk's middle
 *   -&gt; [optional] mono (L+R)/2, resample back to the input rate (streaming), cut to the input length
 *   -&gt; StemSink (WavFolderSink: one atomic WAV per stem; nothing left behind on failure)
 * </pre>
 *
 * The pieces: {@link SampleWindow} (the chunk loop's bounded window), {@link ModelRateBlocks}
 * (decode to model-rate stereo), {@link OutputStage} (stems to the sink). Memory does not depend on
 * the song's length: about one chunk of input, the model's output for
 * one chunk, and the resamplers' small buffers. A {@link ProgressListener} is told after every
 * chunk; a {@link Cancellation} (or a thread interrupt) stops the run before the next chunk with a
 * {@link CancelledException}, after aborting the sink. Not thread-safe: one run at a time per
 * instance (the model runner is stateless, so separate instances may share one if it allows
 * concurrent calls).
 */
public final class Demixer {
    /** Shortest input accepted, in seconds: fewer than {@code ceil(0.1 * rate)} frames are refused. */
    public static final double MIN_SECONDS = 0.1;

    private final ModelRunner model;
    private final ChunkSpec spec;
    private final List<String> stems;

    public Demixer(ModelRunner model) {
        if (model == null || model.spec() == null || model.stems() == null || model.stems().isEmpty()) {
            throw new IllegalArgumentException("the model runner must have a chunk spec and at least one stem");
        }
        this.model = model;
        this.spec = model.spec();
        this.stems = Collections.unmodifiableList(new ArrayList<>(model.stems()));
    }

    public ChunkSpec spec() {
        return spec;
    }

    public List<String> stems() {
        return stems;
    }

    // ------------------------------------------------------------------------------------------
    // Options and result.

    /** What to write and how; defaults: {@code wav16}, model rate, all stems, stereo. */
    public static final class Options {
        private WavFormat format = WavFormat.WAV16;
        private boolean keepRate;
        private List<String> stems;
        private boolean monoOut;
        private ProgressListener progress;
        private Cancellation cancellation;
        private int blockFrames = WavReader.DEFAULT_BLOCK_FRAMES;

        /** Output WAV format (for {@link #separateToFolder} / {@link #separateFile}). */
        public Options format(WavFormat f) {
            this.format = f;
            return this;
        }

        /** Write stems at the input's rate (resampled back, cut to the input's frame count). */
        public Options keepRate(boolean on) {
            this.keepRate = on;
            return this;
        }

        /** Names of the stems to write, in this order (default: all, in the model's order). */
        public Options stems(List<String> names) {
            this.stems = names == null ? null : new ArrayList<>(names);
            return this;
        }

        /** For a mono input write mono stems, {@code (L + R) / 2}. */
        public Options monoOut(boolean on) {
            this.monoOut = on;
            return this;
        }

        public Options progress(ProgressListener listener) {
            this.progress = listener;
            return this;
        }

        public Options cancellation(Cancellation c) {
            this.cancellation = c;
            return this;
        }

        /** Frames per decoded block (default 65536). */
        public Options blockFrames(int frames) {
            if (frames < 1) {
                throw new IllegalArgumentException("blockFrames must be at least 1, got " + frames);
            }
            this.blockFrames = frames;
            return this;
        }

        public WavFormat format() {
            return format;
        }
    }

    /** What one run did (mirrors {@code TrackResult} of {@code mobile_core/contract/runner.py}). */
    public static final class Result {
        public final String input;
        public final List<String> stems;
        public final int inputRate;
        public final int inputChannels;
        public final int outputRate;
        public final int outputChannels;
        /** Input frames. */
        public final long frames;
        /** Samples at the model rate. */
        public final long modelSamples;
        /** Frames per written stem. */
        public final long outputFrames;
        public final int chunks;
        /** Seconds of wall time. */
        public final double elapsed;

        Result(String input, List<String> stems, int inputRate, int inputChannels, int outputRate,
               int outputChannels, long frames, long modelSamples, long outputFrames, int chunks, double elapsed) {
            this.input = input;
            this.stems = stems;
            this.inputRate = inputRate;
            this.inputChannels = inputChannels;
            this.outputRate = outputRate;
            this.outputChannels = outputChannels;
            this.frames = frames;
            this.modelSamples = modelSamples;
            this.outputFrames = outputFrames;
            this.chunks = chunks;
            this.elapsed = elapsed;
        }

        /** Seconds of audio. */
        public double duration() {
            return (double) frames / inputRate;
        }

        /** Real-time factor: processing time / audio duration. */
        public double rtf() {
            return duration() > 0 ? elapsed / duration() : Double.POSITIVE_INFINITY;
        }
    }

    // ------------------------------------------------------------------------------------------
    // The chunk loop.

    /** A stream of stereo blocks {@code [2][n]} at the model rate; null at the end. */
    public interface BlockSource {
        float[][] next() throws DemixException;
    }

    /** Receives each chunk's kept middle: {@code [S][2][n]}. */
    public interface ChunkOutput {
        void accept(float[][][] stems) throws DemixException;
    }

    private static void checkCancelled(Cancellation cancel, int done, int total) throws CancelledException {
        if ((cancel != null && cancel.isCancelled()) || Thread.currentThread().isInterrupted()) {
            throw new CancelledException("cancelled after " + done + " of " + total + " chunks");
        }
    }

    /**
     * Run the chunk loop over a stream of model-rate stereo blocks ({@code stitch} of the
     * reference).
     *
     * @param blocks {@code [2][n]} float32 blocks at the model rate, {@code nSamples} in all
     * @param nSamples the song's length at the model rate (drives the plan)
     * @param plan the plan (null: {@code ChunkPlan.plan(nSamples, spec())})
     * @param out receives {@code [S][2][keepTo - keepFrom]} per chunk, adding up to {@code nSamples}
     * @param source how to name the input in the length error (may be null)
     * @throws AudioException if the stream does not hold {@code nSamples} samples
     * @throws ModelFileException if the model's output has the wrong length
     * @throws CancelledException when cancelled (before a chunk)
     */
    public void stitch(BlockSource blocks, long nSamples, ChunkPlan plan, ChunkOutput out,
                       ProgressListener progress, Cancellation cancel, String source) throws DemixException {
        if (plan == null) {
            plan = ChunkPlan.plan(nSamples, spec);
        }
        int L = spec.chunk();
        int S = stems.size();
        long want = (long) S * 2 * L;
        SampleWindow window = new SampleWindow(blocks);
        float[] x = new float[2 * L];
        int total = plan.size();
        for (int i = 0; i < total; i++) {
            checkCancelled(cancel, i, total);
            ChunkPlan.Chunk ch = plan.get(i);
            window.take(ch.start, L, x);
            if (i + 1 < total) {
                window.release(plan.get(i + 1).start);
            }
            float[] y = model.run(x);
            if (y == null || y.length != want) {
                throw new ModelFileException(model.name() + " returned " + (y == null ? "no output" : y.length + " values")
                        + "; its metadata promises stems [1, " + S + ", 2, " + L + "] (" + want + " values)");
            }
            int a = ch.keepOffset();
            int n = ch.keepLength();
            float[][][] kept = new float[S][2][n];
            for (int s = 0; s < S; s++) {
                for (int c = 0; c < 2; c++) {
                    System.arraycopy(y, (s * 2 + c) * L + a, kept[s][c], 0, n);
                }
            }
            out.accept(kept);
            if (progress != null) {
                progress.onChunk(i + 1, total);
            }
        }
        long got = window.drain();
        if (got != nSamples) {
            throw new AudioException((source == null ? "" : source + ": ") + "the decoded audio holds " + got
                    + " samples at " + spec.sampleRate() + " Hz where its header promised " + nSamples
                    + ": the file is damaged or its length field is wrong");
        }
    }

    /**
     * In-memory chunked separation ({@code separate} of the reference): {@code mix[2][N]} float32
     * at the model rate to {@code stems[S][2][N]} in {@link #stems()} order.
     */
    public float[][][] separate(float[][] mix) throws DemixException {
        if (mix == null || mix.length != 2 || mix[0].length != mix[1].length) {
            throw new IllegalArgumentException("expected a stereo mix [2][N]");
        }
        int n = mix[0].length;
        float[][][] result = new float[stems.size()][2][n];
        int[] at = {0};
        boolean[] given = {false};
        BlockSource one = () -> {
            if (given[0]) {
                return null;
            }
            given[0] = true;
            return mix;
        };
        stitch(one, n, null, block -> {
            int k = block[0][0].length;
            for (int s = 0; s < block.length; s++) {
                for (int c = 0; c < 2; c++) {
                    System.arraycopy(block[s][c], 0, result[s][c], at[0], k);
                }
            }
            at[0] += k;
        }, null, null, null);
        return result;
    }

    // ------------------------------------------------------------------------------------------
    // The whole pipeline (input side: ModelRateBlocks; output side: OutputStage).

    /**
     * Separate one decoded input into a {@link StemSink} ({@code separate_file} of the reference,
     * with the output side abstracted). On any error, and on cancellation, the sink is aborted.
     *
     * @throws AudioException bad input (too short, bad rate, NaN/Inf, length mismatch)
     * @throws ModelFileException the model failed or returned the wrong shape
     * @throws CancelledException cancelled
     * @throws DemixException unknown stem names
     */
    public Result separate(PcmSource src, StemSink sink, Options opts) throws DemixException {
        long t0 = System.nanoTime();
        Options o = opts == null ? new Options() : opts;
        List<String> names = chooseStems(o);
        String name = src.name();
        int sr = Resampler.checkSampleRate(src.sampleRate(), name + ": sample rate");
        if (src.channels() < 1) {
            throw new AudioException(name + ": the file declares no audio channels");
        }
        long frames = src.frames();
        if (frames <= 0) {
            throw new AudioException(name + ": contains no audio (0 frames)");
        }
        long minFrames = (long) Math.ceil(MIN_SECONDS * sr);
        if (frames < minFrames) {
            throw new AudioException(String.format(Locale.ROOT,
                    "%s: too short: %d frames (%.4f s); at least %s s (%d frames) are needed",
                    name, frames, (double) frames / sr, MIN_SECONDS, minFrames));
        }
        int rate = spec.sampleRate();
        long nModel = Resampler.outputLength(frames, sr, rate);
        int outRate = o.keepRate ? sr : rate;
        long nOut = o.keepRate ? frames : nModel;
        boolean mono = o.monoOut && src.channels() == 1;
        int chans = mono ? 1 : 2;
        ChunkPlan plan = ChunkPlan.plan(nModel, spec);
        int[] index = new int[names.size()];
        for (int k = 0; k < index.length; k++) {
            index[k] = stems.indexOf(names.get(k));
        }
        List<String> chosen = Collections.unmodifiableList(new ArrayList<>(names));
        try {
            sink.open(chosen, outRate, chans, nOut);
            OutputStage stage = new OutputStage(sink, index, chans, rate, outRate, nOut);
            ModelRateBlocks blocks = new ModelRateBlocks(src, rate, o.blockFrames);
            stitch(blocks, nModel, plan, stage::write, o.progress, o.cancellation, name);
            stage.finish();
            checkCancelled(o.cancellation, plan.size(), plan.size());
            sink.finish();
        } catch (DemixException | RuntimeException | Error e) {
            sink.abort();
            throw e;
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        return new Result(name, chosen, sr, src.channels(), outRate, chans, frames, nModel, nOut, plan.size(), elapsed);
    }

    private List<String> chooseStems(Options o) throws DemixException {
        List<String> names = o.stems == null || o.stems.isEmpty() ? stems : o.stems;
        List<String> unknown = new ArrayList<>();
        for (String s : names) {
            if (!stems.contains(s)) {
                unknown.add(s);
            }
        }
        if (!unknown.isEmpty()) {
            throw new DemixException("unknown stem(s) " + String.join(", ", unknown) + "; this model has "
                    + String.join(", ", stems));
        }
        return names;
    }

    /** {@link #separate(PcmSource, StemSink, Options)} into {@code outDir/<stem>.wav}, atomically. */
    public Result separateToFolder(PcmSource src, Path outDir, Options opts) throws DemixException {
        Options o = opts == null ? new Options() : opts;
        return separate(src, new WavFolderSink(outDir, o.format), o);
    }

    /** Separate a WAV file into {@code outDir/<stem>.wav} (the input file is only read). */
    public Result separateFile(Path input, Path outDir, Options opts) throws DemixException {
        Options o = opts == null ? new Options() : opts;
        chooseStems(o); // refuse unknown stem names before the file is touched
        try (WavReader r = WavReader.open(input)) {
            return separateToFolder(r, outDir, o);
        }
    }
}
