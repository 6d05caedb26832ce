package org.demixmobile.bridge;

/**
 * The input audio (or the place to write output audio) cannot be used. Mirrors {@code AudioError}
 * of {@code mobile_core/errors.py}.
 */
public class AudioException extends DemixException {
    private static final long serialVersionUID = 1L;

    public AudioException(String message) {
        super(message);
    }

    public AudioException(String message, Throwable cause) {
        super(message, cause);
    }
}
