package org.demixmobile.bridge;

/** Told after every chunk the model has processed (the Python runner's {@code progress.update(1)}). */
public interface ProgressListener {
    /**
     * Called on the demixing thread after chunk {@code chunksDone} (1-based) of
     * {@code chunksTotal}. Keep it short; it may call {@link Cancellation#cancel()}.
     */
    void onChunk(int chunksDone, int chunksTotal);
}
