package org.demixmobile.bridge;

/**
 * A model file or exported artifact is missing, corrupt, of the wrong kind or version, or its
 * output does not have the promised shape. Mirrors {@code ModelFileError} of
 * {@code mobile_core/errors.py}.
 */
public class ModelFileException extends DemixException {
    private static final long serialVersionUID = 1L;

    public ModelFileException(String message) {
        super(message);
    }

    public ModelFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
