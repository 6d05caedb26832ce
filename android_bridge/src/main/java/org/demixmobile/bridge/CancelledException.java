package org.demixmobile.bridge;

/**
 * The caller cancelled a run through its {@link Cancellation}. Nothing of the run is left behind
 * (the stem sink was aborted). The Python reference has no counterpart (it has no cancellation).
 */
public class CancelledException extends DemixException {
    private static final long serialVersionUID = 1L;

    public CancelledException(String message) {
        super(message);
    }
}
