package org.demixmobile.bridge;

import java.util.List;

/**
 * Where the {@link Demixer} sends the stems: blocks {@code [K][channels][n]} of the K selected
 * stems at the output rate, already resampled back / made mono / cut as asked. Implementations:
 * {@link WavFolderSink} (one atomic WAV per stem), {@link MemoryStemSink}.
 *
 * <p>Call order: {@link #open} once, {@link #write} any number of times, then either
 * {@link #finish()} (success: make the stems visible) or {@link #abort()} (failure or
 * cancellation: leave nothing behind). {@code abort} may follow a failed {@code open} or
 * {@code finish}.
 */
public interface StemSink {
    /**
     * Prepare for {@code frames} frames of each of {@code stems} at {@code sampleRate} Hz with
     * {@code channels} channels (2, or 1 for mono out).
     */
    void open(List<String> stems, int sampleRate, int channels, long frames) throws DemixException;

    /** The next block of every stem: {@code [K][channels][n]}, K = number of stems opened. */
    void write(float[][][] block) throws DemixException;

    /** All frames were written: commit. */
    void finish() throws DemixException;

    /** Give up: remove whatever this sink wrote. Never throws. */
    void abort();
}
