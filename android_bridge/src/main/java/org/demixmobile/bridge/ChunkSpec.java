package org.demixmobile.bridge;

/**
 * Geometry of an exported chunk graph, all in samples at {@link #sampleRate()}. Mirrors
 * {@code ChunkSpec} of {@code mobile_core/contract/chunking.py}; an app gets it from the artifact's
 * metadata ({@link ArtifactMetadata#spec()}), never from constants.
 *
 * <p>The constructor only refuses values the plan cannot divide by ({@code hop < 1},
 * {@code chunk < 1}); the full consistency checks of the contract are made by
 * {@link ArtifactMetadata} (and {@link #check()}).
 */
public final class ChunkSpec {
    private final int sampleRate;
    private final int chunk;
    private final int context;
    private final int lookahead;
    private final int hop;

    public ChunkSpec(int sampleRate, int chunk, int context, int lookahead, int hop) {
        if (hop < 1 || chunk < 1) {
            throw new IllegalArgumentException("chunk and hop must be positive, got chunk " + chunk
                    + ", hop " + hop);
        }
        this.sampleRate = sampleRate;
        this.chunk = chunk;
        this.context = context;
        this.lookahead = lookahead;
        this.hop = hop;
    }

    /** The model rate, Hz. */
    public int sampleRate() {
        return sampleRate;
    }

    /** {@code L}: samples per model call. */
    public int chunk() {
        return chunk;
    }

    /** Samples of left context per chunk. */
    public int context() {
        return context;
    }

    /** Samples of right look-ahead per chunk. */
    public int lookahead() {
        return lookahead;
    }

    /** Slice hop {@code h} of the transform. */
    public int hop() {
        return hop;
    }

    /** Samples of new output per chunk: {@code chunk - context - lookahead}. */
    public int step() {
        return chunk - context - lookahead;
    }

    /** Slice length {@code 2 h}. */
    public int sllen() {
        return 2 * hop;
    }

    /**
     * The problems the contract's metadata checks find in this geometry (empty if none), phrased
     * like the reference runner: sample rate range, sizes, multiples of hop, room for a step.
     */
    public java.util.List<String> check() {
        return problems(sampleRate, chunk, context, lookahead, hop);
    }

    /**
     * {@link #check()} for numbers that are not a ChunkSpec yet (the metadata reader checks them
     * before one can exist).
     */
    static java.util.List<String> problems(int sampleRate, int chunk, int context, int lookahead, int hop) {
        java.util.List<String> problems = new java.util.ArrayList<>();
        if (sampleRate < Resampler.MIN_RATE || sampleRate > Resampler.MAX_RATE) {
            problems.add("sample_rate " + sampleRate);
        }
        if (hop < 1 || Math.min(chunk, Math.min(context, lookahead)) < 0) {
            problems.add("non-positive sizes");
        } else if (chunk % hop != 0 || context % hop != 0 || lookahead % hop != 0) {
            problems.add("chunk, context and lookahead are not multiples of hop");
        } else if ((long) chunk - context - lookahead < hop) {
            problems.add("chunk " + chunk + " leaves no room after context and lookahead");
        }
        return problems;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof ChunkSpec)) {
            return false;
        }
        ChunkSpec s = (ChunkSpec) o;
        return sampleRate == s.sampleRate && chunk == s.chunk && context == s.context
                && lookahead == s.lookahead && hop == s.hop;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(sampleRate, chunk, context, lookahead, hop);
    }

    @Override
    public String toString() {
        return "ChunkSpec(sample_rate=" + sampleRate + ", chunk=" + chunk + ", context=" + context
                + ", lookahead=" + lookahead + ", hop=" + hop + ")";
    }
}
