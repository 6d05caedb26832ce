package org.demixmobile.bridge;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/**
 * The chunk plan of the contract (docs/contract.md, section 4); mirrors {@code plan_chunks} of
 * {@code mobile_core/contract/chunking.py}.
 *
 * <p>A song of {@code N} samples (at the model rate) has
 * {@code S = (ceil(N / q) + 1) / 2 + 1} slices, {@code q = (2h) / 4}. A chunk's input is
 * {@code song[start, start + L)} (zeros past the song's end) and its output is kept on song samples
 * {@code [keepFrom, keepTo)}. The kept ranges tile {@code [0, N)} in order; a song with
 * {@code S - 1 <= m} ({@code m = L / h}) is one chunk.
 */
public final class ChunkPlan implements Iterable<ChunkPlan.Chunk> {

    /** One chunk: input {@code song[start, start + L)}, output kept on {@code [keepFrom, keepTo)}. */
    public static final class Chunk {
        public final long start;
        public final long keepFrom;
        public final long keepTo;

        public Chunk(long start, long keepFrom, long keepTo) {
            this.start = start;
            this.keepFrom = keepFrom;
            this.keepTo = keepTo;
        }

        /** First kept offset inside the chunk: {@code keepFrom - start}. */
        public int keepOffset() {
            return (int) (keepFrom - start);
        }

        /** Kept samples: {@code keepTo - keepFrom}. */
        public int keepLength() {
            return (int) (keepTo - keepFrom);
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Chunk)) {
                return false;
            }
            Chunk c = (Chunk) o;
            return start == c.start && keepFrom == c.keepFrom && keepTo == c.keepTo;
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(start, keepFrom, keepTo);
        }

        @Override
        public String toString() {
            return "(" + start + ", " + keepFrom + ", " + keepTo + ")";
        }
    }

    private final long nSamples;
    private final ChunkSpec spec;
    private final List<Chunk> chunks;

    private ChunkPlan(long nSamples, ChunkSpec spec, List<Chunk> chunks) {
        this.nSamples = nSamples;
        this.spec = spec;
        this.chunks = Collections.unmodifiableList(chunks);
    }

    /** Slices the reference transform emits for {@code nSamples} (&gt;= 1) samples. */
    public static long nSlices(long nSamples, int sllen) {
        if (nSamples < 1) {
            throw new IllegalArgumentException("need at least one sample, got " + nSamples);
        }
        long q = sllen / 4;
        long quarters = -Math.floorDiv(-nSamples, q);
        return (quarters + 1) / 2 + 1;
    }

    /**
     * The chunks that cover a song of {@code nSamples} samples.
     *
     * @throws IllegalArgumentException if {@code nSamples < 1}
     */
    public static ChunkPlan plan(long nSamples, ChunkSpec spec) {
        if (nSamples < 1) {
            throw new IllegalArgumentException("need at least one sample, got " + nSamples);
        }
        long h = spec.hop();
        long m = spec.chunk() / h;
        long cl = spec.context() / h;
        long cr = spec.lookahead() / h;
        long stepq = m - cl - cr;
        if (stepq < 1) {
            throw new IllegalArgumentException("chunk leaves no room after context and lookahead: " + spec);
        }
        long s = nSlices(nSamples, spec.sllen());
        List<Chunk> out = new ArrayList<>();
        if (s - 1 <= m) {
            out.add(new Chunk(0, 0, nSamples));
            return new ChunkPlan(nSamples, spec, out);
        }
        long end = 0;
        long k = 0;
        while (k + m < s - 1) {
            long keepFrom = k == 0 ? 0 : (k + cl) * h;
            end = (k + m - cr) * h;
            out.add(new Chunk(k * h, keepFrom, end));
            k += stepq;
        }
        long last = s - 1 - m;
        out.add(new Chunk(last * h, end, nSamples));
        return new ChunkPlan(nSamples, spec, out);
    }

    public long nSamples() {
        return nSamples;
    }

    public ChunkSpec spec() {
        return spec;
    }

    public List<Chunk> chunks() {
        return chunks;
    }

    public int size() {
        return chunks.size();
    }

    public Chunk get(int i) {
        return chunks.get(i);
    }

    @Override
    public Iterator<Chunk> iterator() {
        return chunks.iterator();
    }

    @Override
    public String toString() {
        return chunks.toString();
    }
}
