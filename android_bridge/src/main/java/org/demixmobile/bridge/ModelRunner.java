package org.demixmobile.bridge;

import java.util.List;

/**
 * One fixed-length chunk in, stems out: what the {@link Demixer} needs from a model, whatever runs
 * it. Mirrors the {@code Backend} protocol of {@code mobile_core/contract/backends.py}.
 *
 * <p>{@link ExecutorchRunner} implements it over {@code org.pytorch.executorch.Module}: it reads
 * the metadata with
 * {@code module.execute("get_metadata")[0].toTensor().getDataAsUnsignedByteArray()} and
 * {@link ArtifactMetadata#fromBytes}, takes {@link #spec()} and {@link #stems()} from it, and runs
 * {@code module.forward(EValue.from(Tensor.fromBlob(chunk, new long[] {1, 2, L})))}, returning
 * the output tensor's float data (on a desktop JVM through the JNI stand-in of that API).
 *
 * <p>Layouts are C order (row-major) float32, as the exported graph's tensors:
 * <ul>
 *   <li>input {@code [1, 2, L]}: {@code chunk[c * L + t]}, channel 0 = left;</li>
 *   <li>output {@code [1, S, 2, L]}: {@code out[(s * 2 + c) * L + t]}, stems in {@link #stems()}
 *       order.</li>
 * </ul>
 * The graph is stateless: every call is independent. The demixer checks the output length and
 * fails with a {@link ModelFileException} if it is not {@code S * 2 * L}.
 */
public interface ModelRunner extends AutoCloseable {
    /** The chunk geometry (from the artifact's metadata). */
    ChunkSpec spec();

    /** Output stem names, in output order (from the artifact's metadata). */
    List<String> stems();

    /** How to name the model in messages (its path). */
    default String name() {
        return "model";
    }

    /**
     * Run one chunk.
     *
     * @param chunk {@code [1, 2, L]} float32 at {@code spec().sampleRate()}, C order; the runner
     *     must not keep it (the demixer may reuse it)
     * @return {@code [1, S, 2, L]} float32, C order
     * @throws DemixException (typically {@link ModelFileException}) if the runtime fails
     */
    float[] run(float[] chunk) throws DemixException;

    /** Release the runtime. The demixer never calls it: the owner of the runner does. */
    @Override
    default void close() {
    }
}
