package org.demixmobile.bridge;

import java.util.Arrays;

/**
 * The output side of {@link Demixer#separate(PcmSource, StemSink, Demixer.Options)}: selects
 * stems, makes them mono, resamples them back and cuts them, then writes them to the sink.
 */
final class OutputStage {
    private final StemSink sink;
    private final int[] index;
    private final int chans;
    private final Resampler resampler; // null: output at the model rate
    private final long nOut;
    long written;

    OutputStage(StemSink sink, int[] index, int chans, int modelRate, int outRate, long nOut) throws AudioException {
        this.sink = sink;
        this.index = index;
        this.chans = chans;
        this.resampler = outRate == modelRate ? null : new Resampler(modelRate, outRate, chans * index.length);
        this.nOut = nOut;
    }

    void write(float[][][] stems) throws DemixException {
        int n = stems[0][0].length;
        float[][] flat = new float[index.length * chans][];
        for (int k = 0; k < index.length; k++) {
            float[][] st = stems[index[k]];
            if (chans == 1) {
                float[] m = new float[n];
                for (int t = 0; t < n; t++) {
                    m[t] = (st[0][t] + st[1][t]) / 2.0f;
                }
                flat[k] = m;
            } else {
                flat[2 * k] = st[0];
                flat[2 * k + 1] = st[1];
            }
        }
        emit(resampler == null ? flat : resampler.process(flat));
    }

    private void emit(float[][] y) throws DemixException {
        long n = Math.min(y[0].length, nOut - written);
        if (n <= 0) {
            return;
        }
        float[][][] block = new float[index.length][chans][];
        for (int k = 0; k < index.length; k++) {
            for (int c = 0; c < chans; c++) {
                float[] row = y[k * chans + c];
                block[k][c] = row.length == n ? row : Arrays.copyOf(row, (int) n);
            }
        }
        sink.write(block);
        written += n;
    }

    void finish() throws DemixException {
        if (resampler != null) {
            emit(resampler.flush());
        }
        if (written != nOut) {
            throw new AudioException("wrote " + written + " samples per stem, expected " + nOut);
        }
    }
}
