package org.demixmobile.bridge;

/**
 * Cooperative cancellation: another thread calls {@link #cancel()}; the {@link Demixer} checks
 * {@link #isCancelled()} before every chunk (and before committing the stems) and then stops with
 * a {@link CancelledException}, leaving no stem files behind. A thread interrupt is honoured the
 * same way.
 */
public final class Cancellation {
    private volatile boolean cancelled;

    /** Ask the run to stop at its next check. Safe to call from any thread, more than once. */
    public void cancel() {
        cancelled = true;
    }

    /** Whether {@link #cancel()} has been called. */
    public boolean isCancelled() {
        return cancelled;
    }
}
