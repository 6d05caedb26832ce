package org.demixmobile.bridge;

/**
 * An error the user can act on (a bad file, a bad option), with a one-line message that names the
 * file or value at fault. Mirrors {@code DemixError} of {@code mobile_core/errors.py}.
 */
public class DemixException extends Exception {
    private static final long serialVersionUID = 1L;

    public DemixException(String message) {
        super(message);
    }

    public DemixException(String message, Throwable cause) {
        super(message, cause);
    }
}
