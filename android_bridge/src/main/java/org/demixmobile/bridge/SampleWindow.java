package org.demixmobile.bridge;

import java.util.Arrays;

/**
 * A bounded window over a stream of {@code [2][n]} blocks ({@code _Window} of {@code mobile_core/contract/runner.py}):
 * holds samples {@code [start, start + len)}; a first block is borrowed, not copied.
 */
final class SampleWindow {
    private final Demixer.BlockSource blocks;
    private float[][] buf = {new float[0], new float[0]};
    private int off; // index in buf of sample `start`
    private int len;
    private boolean owned;
    private long start;
    long total;
    boolean exhausted;

    SampleWindow(Demixer.BlockSource blocks) {
        this.blocks = blocks;
    }

    private void pull(long until) throws DemixException {
        while (!exhausted && total < until) {
            float[][] b = blocks.next();
            if (b == null) {
                exhausted = true;
                break;
            }
            int n = b[0].length;
            if (n == 0) {
                continue;
            }
            append(b, n);
            total += n;
        }
    }

    private void append(float[][] b, int n) {
        if (len == 0) {
            buf = b;
            off = 0;
            len = n;
            owned = false;
            return;
        }
        int cap = buf[0].length;
        if (owned && off + len + n <= cap) {
            // room at the end
        } else if (owned && len + n <= cap) {
            for (int c = 0; c < 2; c++) {
                System.arraycopy(buf[c], off, buf[c], 0, len);
            }
            off = 0;
        } else {
            int newCap = Math.max(len + n, len + len / 2);
            float[][] grown = new float[2][newCap];
            for (int c = 0; c < 2; c++) {
                System.arraycopy(buf[c], off, grown[c], 0, len);
            }
            buf = grown;
            off = 0;
            owned = true;
        }
        for (int c = 0; c < 2; c++) {
            System.arraycopy(b[c], 0, buf[c], off + len, n);
        }
        len += n;
    }

    /** Samples {@code [from, from + length)} into {@code dst} as {@code [2][length]} C order, zeros past the end. */
    void take(long from, int length, float[] dst) throws DemixException {
        if (from < start) {
            throw new IllegalStateException("sample " + from + " was already released (window starts at " + start + ")");
        }
        pull(from + length);
        long a = from - start;
        int have = (int) Math.max(0, Math.min(length, len - a));
        for (int c = 0; c < 2; c++) {
            if (have > 0) {
                System.arraycopy(buf[c], off + (int) a, dst, c * length, have);
            }
            Arrays.fill(dst, c * length + have, (c + 1) * length, 0.0f);
        }
    }

    /** Forget samples before {@code before}. */
    void release(long before) {
        long cut = Math.min(before - start, len);
        if (cut > 0) {
            off += (int) cut;
            len -= (int) cut;
            start += cut;
            if (len == 0) {
                buf = new float[][] {new float[0], new float[0]};
                off = 0;
                owned = false;
            }
        }
    }

    /** Read the rest of the stream (discarding it); returns the total sample count. */
    long drain() throws DemixException {
        while (!exhausted) {
            pull(total + 1);
            release(total);
        }
        return total;
    }
}
