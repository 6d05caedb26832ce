package org.demixmobile.bridge;

import java.io.File;
import java.util.Arrays;
import java.util.List;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * The {@link ModelRunner} over ExecuTorch's Java API ({@code org.pytorch.executorch}): a
 * demix-mobile {@code .pte} program, its metadata read from the program itself. Mirrors
 * {@code PteBackend} of {@code mobile_core/contract/runtimes.py} and the metadata checks of
 * {@code artifacts.py} (docs/contract.md, section 2; docs/formats.md, "Metadata").
 *
 * <p>Uses only {@code Module.load(String, int, int)}, {@code Module.getMethods()},
 * {@code Module.execute}, {@code Module.loadMethod}, {@code Module.forward},
 * {@code Module.destroy}, {@code EValue.from}/{@code toTensor}/{@code isTensor} and
 * {@code Tensor.fromBlob(float[], long[])}, {@code shape()}, {@code dtype()},
 * {@code getDataAsFloatArray()}, {@code getDataAsUnsignedByteArray()}: on Android these come from
 * the {@code org.pytorch:executorch-android} AAR, on a desktop JVM from the JNI stand-in in
 * {@code src/desktop} (same signatures).
 *
 * <p>Opening checks, each refusal a {@link ModelFileException} naming the file: the file exists
 * and is a readable file; the runtime loads the program; it has the methods {@code get_metadata}
 * and {@code forward}; {@code get_metadata} returns a uint8 tensor whose UTF-8 JSON passes every
 * check of {@link ArtifactMetadata#fromBytes} (format, version, kind {@code pte}, geometry,
 * stems, channels, rate, declared shapes); the runtime loads {@code forward}. At run time the
 * output must be a float32 tensor of shape {@code [1, S, 2, L]}.
 *
 * <p>Not thread-safe beyond what {@code Module} guarantees (the official one serialises calls
 * with a lock); the demixer calls {@link #run} from one thread.
 */
public final class ExecutorchRunner implements ModelRunner {
    /** ExecuTorch's {@code Module.LOAD_MODE_MMAP}: the program's weights are paged in from the file. */
    public static final int LOAD_MODE = Module.LOAD_MODE_MMAP;

    private final Module module;
    private final ArtifactMetadata meta;
    private final String name;
    private final long[] inputShape;
    private final long[] outputShape;
    private boolean closed;

    private ExecutorchRunner(Module module, ArtifactMetadata meta, String name) {
        this.module = module;
        this.meta = meta;
        this.name = name;
        this.inputShape = new long[] {1, 2, meta.chunk()};
        this.outputShape = new long[] {1, meta.stems().size(), 2, meta.chunk()};
    }

    /** Open a {@code .pte} with the runtime's default thread count. */
    public static ExecutorchRunner open(String path) throws ModelFileException {
        return open(path, 0);
    }

    /**
     * Open a {@code .pte} and check it (see the class comment).
     *
     * @param numThreads CPU threads of the runtime's pool; 0: the runtime's default
     * @throws ModelFileException the file is missing, not a program the runtime loads, not a
     *     demix-mobile artifact, or of a format version this bridge does not know
     */
    public static ExecutorchRunner open(String path, int numThreads) throws ModelFileException {
        if (numThreads < 0) {
            throw new IllegalArgumentException("numThreads must be >= 0, got " + numThreads);
        }
        File f = new File(path);
        if (!f.exists()) {
            throw new ModelFileException(path + ": no such file");
        }
        if (f.isDirectory()) {
            throw new ModelFileException(path + ": is a folder, not a .pte file");
        }
        if (!f.canRead()) {
            throw new ModelFileException(path + ": cannot read the file (permission denied)");
        }
        Module module;
        try {
            module = Module.load(path, LOAD_MODE, numThreads);
        } catch (RuntimeException e) {
            throw new ModelFileException(path + " is not a loadable ExecuTorch program (" + why(e) + ")", e);
        } catch (LinkageError e) {
            throw new ModelFileException("cannot open " + path + ": the ExecuTorch runtime library is not available ("
                    + why(e) + ")", e);
        }
        try {
            ArtifactMetadata meta = readMetadata(module, path);
            try {
                module.loadMethod("forward");
            } catch (RuntimeException e) {
                throw new ModelFileException(path + ": the ExecuTorch runtime cannot load method 'forward' ("
                        + why(e) + ")", e);
            }
            return new ExecutorchRunner(module, meta, path);
        } catch (ModelFileException | RuntimeException | Error e) {
            destroyQuietly(module);
            throw e;
        }
    }

    /** The artifact's metadata, from its {@code get_metadata} method, checked. */
    static ArtifactMetadata readMetadata(Module module, String path) throws ModelFileException {
        List<String> methods;
        try {
            methods = Arrays.asList(module.getMethods());
        } catch (RuntimeException e) {
            throw new ModelFileException(path + " is not a loadable ExecuTorch program (" + why(e) + ")", e);
        }
        for (String need : new String[] {ArtifactMetadata.PTE_METADATA_METHOD, "forward"}) {
            if (!methods.contains(need)) {
                throw new ModelFileException(path + " has no '" + need + "' method: not a demix-mobile .pte");
            }
        }
        byte[] bytes;
        try {
            EValue[] out = module.execute(ArtifactMetadata.PTE_METADATA_METHOD);
            if (out == null || out.length < 1 || !out[0].isTensor()) {
                throw new ModelFileException(path + ": " + ArtifactMetadata.PTE_METADATA_METHOD
                        + " returned no tensor: not a demix-mobile .pte");
            }
            bytes = out[0].toTensor().getDataAsUnsignedByteArray();
        } catch (IllegalStateException e) {
            // the official Tensor throws this for a tensor that is not uint8
            throw new ModelFileException(path + ": " + ArtifactMetadata.PTE_METADATA_METHOD
                    + " does not return a uint8 tensor: not a demix-mobile .pte", e);
        } catch (RuntimeException e) {
            throw new ModelFileException(path + ": " + ArtifactMetadata.PTE_METADATA_METHOD + " failed (" + why(e) + ")", e);
        }
        return ArtifactMetadata.fromBytes(bytes, "pte", path);
    }

    @Override
    public ChunkSpec spec() {
        return meta.spec();
    }

    @Override
    public List<String> stems() {
        return meta.stems();
    }

    @Override
    public String name() {
        return name;
    }

    /** The artifact's metadata (checked). */
    public ArtifactMetadata metadata() {
        return meta;
    }

    @Override
    public float[] run(float[] chunk) throws DemixException {
        if (closed) {
            throw new IllegalStateException(name + ": the runner is closed");
        }
        if (chunk == null || chunk.length != 2 * meta.chunk()) {
            throw new IllegalArgumentException("expected a chunk [1, 2, " + meta.chunk() + "] ("
                    + 2L * meta.chunk() + " values), got " + (chunk == null ? "null" : chunk.length + " values"));
        }
        Tensor y;
        try {
            EValue[] out = module.forward(EValue.from(Tensor.fromBlob(chunk, inputShape)));
            if (out == null || out.length < 1 || !out[0].isTensor()) {
                throw new ModelFileException(name + ": forward returned no tensor");
            }
            y = out[0].toTensor();
        } catch (RuntimeException e) {
            throw new ModelFileException(name + ": the ExecuTorch runtime failed on a chunk (" + why(e) + ")", e);
        }
        long[] shape = y.shape();
        if (!Arrays.equals(shape, outputShape)) {
            throw new ModelFileException(name + " returned stems of shape " + Arrays.toString(shape)
                    + "; its metadata promises " + Arrays.toString(outputShape));
        }
        try {
            return y.getDataAsFloatArray();
        } catch (IllegalStateException e) {
            throw new ModelFileException(name + " returned stems of type " + y.dtype() + "; float32 expected", e);
        }
    }

    /** Free the native program (idempotent). */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            destroyQuietly(module);
        }
    }

    private static void destroyQuietly(Module module) {
        try {
            module.destroy();
        } catch (RuntimeException e) {
            // the official binding refuses while a method runs; the GC frees it later
        }
    }

    /** A one-line reason from a runtime exception. */
    static String why(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.trim().isEmpty()) {
            return e.getClass().getSimpleName();
        }
        m = m.trim();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl).trim();
    }
}
