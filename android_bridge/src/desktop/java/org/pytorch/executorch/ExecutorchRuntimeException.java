package org.pytorch.executorch;

/**
 * DESKTOP STAND-IN (see package-info) for {@code org.pytorch.executorch.ExecutorchRuntimeException}:
 * what the runtime throws when loading or running fails, with ExecuTorch's error code and the
 * official message format {@code [ExecuTorch Error 0x..] <meaning>: <details>}.
 */
public class ExecutorchRuntimeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int errorCode;

    public ExecutorchRuntimeException(int errorCode, String details) {
        super(format(errorCode, details));
        this.errorCode = errorCode;
    }

    public int getErrorCode() {
        return errorCode;
    }

    private static String format(int code, String details) {
        return "[ExecuTorch Error 0x" + Integer.toHexString(code) + "] " + meaning(code) + ": "
                + (details == null ? "No details provided" : details);
    }

    private static String meaning(int code) {
        switch (code) {
            case 0x00: return "Operation successful";
            case 0x01: return "Internal error";
            case 0x02: return "Invalid state";
            case 0x03: return "End of method reached";
            case 0x04: return "Already loaded";
            case 0x10: return "Operation not supported";
            case 0x11: return "Operation not implemented";
            case 0x12: return "Invalid argument";
            case 0x13: return "Invalid type";
            case 0x14: return "Operator missing";
            case 0x15: return "Exceeded max kernels";
            case 0x16: return "Kernel already registered";
            case 0x20: return "Resource not found";
            case 0x21: return "Memory allocation failed";
            case 0x22: return "Access failed";
            case 0x23: return "Invalid program";
            case 0x24: return "Invalid external data";
            case 0x25: return "Out of resources";
            case 0x30: return "Delegate invalid compatibility";
            case 0x31: return "Delegate memory allocation failed";
            case 0x32: return "Delegate invalid handle";
            default: return "Unknown error code 0x" + Integer.toHexString(code);
        }
    }
}
