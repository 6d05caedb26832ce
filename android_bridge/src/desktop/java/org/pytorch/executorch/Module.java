package org.pytorch.executorch;

import java.io.Closeable;
import java.io.File;
import java.net.URISyntaxException;
import java.security.CodeSource;

/**
 * DESKTOP STAND-IN (see package-info) for {@code org.pytorch.executorch.Module}: an ExecuTorch
 * program ({@code .pte}) loaded by the pip wheel's C++ {@code executorch::extension::Module}
 * through {@code libdemix_executorch_jni.so}.
 *
 * <p>Official signatures kept: {@code LOAD_MODE_*}, {@link #load(String)},
 * {@link #load(String, int)}, {@link #load(String, int, int)}, {@link #forward(EValue...)},
 * {@link #execute(String, EValue...)}, {@link #loadMethod(String)}, {@link #getMethods()},
 * {@link #destroy()}, {@link #close()}. As in the official 1.4/1.5 binding, loading a program
 * that the runtime refuses throws an {@link ExecutorchRuntimeException} from {@code load}, a
 * failed method throws one from {@code execute}/{@code loadMethod}, and using a destroyed module
 * throws {@link IllegalStateException}. Inputs and outputs are float32 or uint8 tensors only.
 *
 * <p>The native library is found, in this order: the file named by the system property
 * {@code demix.executorch.jni}; {@code libdemix_executorch_jni.so} next to the jar (or class
 * folder) holding this class; {@code System.loadLibrary("demix_executorch_jni")}
 * ({@code -Djava.library.path}).
 */
public class Module implements Closeable {
    /** Load mode: read the whole file into memory. */
    public static final int LOAD_MODE_FILE = 0;
    /** Load mode: map the file (pages are read when used). */
    public static final int LOAD_MODE_MMAP = 1;
    /** Load mode: map the file and lock it in memory, failing if locking fails. */
    public static final int LOAD_MODE_MMAP_USE_MLOCK = 2;
    /** Load mode: map the file and try to lock it in memory. */
    public static final int LOAD_MODE_MMAP_USE_MLOCK_IGNORE_ERRORS = 3;

    static final String LIBRARY = "demix_executorch_jni";

    static {
        loadNativeLibrary();
    }

    private long handle;

    private Module(long handle) {
        this.handle = handle;
    }

    public static Module load(String modelPath) {
        return load(modelPath, LOAD_MODE_FILE, 0);
    }

    public static Module load(String modelPath, int loadMode) {
        return load(modelPath, loadMode, 0);
    }

    /**
     * @param numThreads threads of the runtime's (process-wide) pool; 0 leaves it as it is
     */
    public static Module load(String modelPath, int loadMode, int numThreads) {
        if (modelPath == null) {
            throw new IllegalArgumentException("Cannot load model path: path is null");
        }
        File f = new File(modelPath);
        if (!f.exists()) {
            throw new IllegalArgumentException("Cannot load model path: path does not exist: " + modelPath);
        }
        if (!f.isFile()) {
            throw new IllegalArgumentException("Cannot load model path: path is not a file: " + modelPath);
        }
        if (!f.canRead()) {
            throw new IllegalArgumentException("Cannot load model path: path is not readable: " + modelPath);
        }
        if (loadMode < LOAD_MODE_FILE || loadMode > LOAD_MODE_MMAP_USE_MLOCK_IGNORE_ERRORS) {
            throw new IllegalArgumentException("unknown load mode " + loadMode);
        }
        return new Module(nativeLoad(modelPath, loadMode, Math.max(0, numThreads)));
    }

    public EValue[] forward(EValue... inputs) {
        return execute("forward", inputs);
    }

    public synchronized EValue[] execute(String methodName, EValue... inputs) {
        checkAlive();
        int n = inputs == null ? 0 : inputs.length;
        Object[] data = new Object[n];
        long[][] shapes = new long[n][];
        for (int i = 0; i < n; i++) {
            Tensor t = inputs[i].toTensor();
            data[i] = t.rawData();
            shapes[i] = t.shape;
        }
        Object[] out = nativeExecute(handle, methodName, data, shapes);
        EValue[] result = new EValue[out.length / 2];
        for (int i = 0; i < result.length; i++) {
            Object d = out[2 * i];
            long[] shape = (long[]) out[2 * i + 1];
            if (d instanceof float[]) {
                result[i] = EValue.from(new Tensor.Tensor_float32((float[]) d, shape));
            } else if (d instanceof byte[]) {
                result[i] = EValue.from(new Tensor.Tensor_uint8((byte[]) d, shape));
            } else {
                result[i] = EValue.optionalNone();
            }
        }
        return result;
    }

    /** Load a method now instead of at its first {@link #execute}; throws if it cannot be loaded. */
    public synchronized void loadMethod(String methodName) {
        checkAlive();
        int code = nativeLoadMethod(handle, methodName);
        if (code != 0) {
            throw new ExecutorchRuntimeException(code, "Failed to load method: " + methodName + lastLog());
        }
    }

    public synchronized String[] getMethods() {
        checkAlive();
        return nativeMethodNames(handle);
    }

    /** Free the native program now (the official class also frees it when garbage-collected). */
    public synchronized void destroy() {
        if (handle != 0) {
            nativeDestroy(handle);
            handle = 0;
        }
    }

    @Override
    public void close() {
        destroy();
    }

    private void checkAlive() {
        if (handle == 0) {
            throw new IllegalStateException("Module has been destroyed");
        }
    }

    private static String lastLog() {
        String s = nativeLastLog();
        return s == null || s.isEmpty() ? "" : " (" + s + ")";
    }

    private static void loadNativeLibrary() {
        String explicit = System.getProperty("demix.executorch.jni");
        if (explicit != null && !explicit.isEmpty()) {
            System.load(new File(explicit).getAbsolutePath());
            return;
        }
        String file = System.mapLibraryName(LIBRARY);
        try {
            CodeSource cs = Module.class.getProtectionDomain().getCodeSource();
            if (cs != null && cs.getLocation() != null) {
                File where = new File(cs.getLocation().toURI());
                File dir = where.isDirectory() ? where : where.getParentFile();
                File lib = dir == null ? null : new File(dir, file);
                if (lib != null && lib.isFile()) {
                    System.load(lib.getAbsolutePath());
                    return;
                }
            }
        } catch (URISyntaxException | SecurityException | IllegalArgumentException e) {
            // fall through to java.library.path
        }
        try {
            System.loadLibrary(LIBRARY);
        } catch (UnsatisfiedLinkError e) {
            UnsatisfiedLinkError err = new UnsatisfiedLinkError("cannot load the desktop ExecuTorch JNI library " + file
                    + ": put it next to the jar, or pass -Djava.library.path=DIR or -Ddemix.executorch.jni=FILE ("
                    + e.getMessage() + ")");
            err.initCause(e);
            throw err;
        }
    }

    private static native long nativeLoad(String path, int loadMode, int numThreads);

    private static native Object[] nativeExecute(long handle, String method, Object[] data, long[][] shapes);

    private static native int nativeLoadMethod(long handle, String method);

    private static native String[] nativeMethodNames(long handle);

    private static native void nativeDestroy(long handle);

    private static native String nativeLastLog();
}
