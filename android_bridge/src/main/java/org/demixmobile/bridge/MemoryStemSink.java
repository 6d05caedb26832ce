package org.demixmobile.bridge;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** A {@link StemSink} that keeps the stems in memory: {@link #stems()} is {@code [K][channels][frames]}. */
public final class MemoryStemSink implements StemSink {
    private List<String> names = Collections.emptyList();
    private float[][][] data;
    private int at;
    private int sampleRate;
    private boolean finished;

    @Override
    public void open(List<String> stems, int sampleRate, int channels, long frames) {
        if (frames > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("too many frames to hold in memory: " + frames);
        }
        this.names = Collections.unmodifiableList(new ArrayList<>(stems));
        this.sampleRate = sampleRate;
        this.data = new float[stems.size()][channels][(int) frames];
        this.at = 0;
        this.finished = false;
    }

    @Override
    public void write(float[][][] block) {
        int n = block[0][0].length;
        if (at + n > data[0][0].length) {
            throw new IllegalStateException("more frames than promised");
        }
        for (int k = 0; k < data.length; k++) {
            for (int c = 0; c < data[k].length; c++) {
                System.arraycopy(block[k][c], 0, data[k][c], at, n);
            }
        }
        at += n;
    }

    @Override
    public void finish() {
        finished = true;
    }

    @Override
    public void abort() {
        data = null;
        finished = false;
    }

    /** Stem names, as opened. */
    public List<String> names() {
        return names;
    }

    public int sampleRate() {
        return sampleRate;
    }

    /** The stems {@code [K][channels][frames]} after {@link #finish()}; null after an abort. */
    public float[][][] stems() {
        return finished ? data : null;
    }
}
