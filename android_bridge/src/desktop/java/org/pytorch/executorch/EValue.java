package org.pytorch.executorch;

/**
 * DESKTOP STAND-IN (see package-info) for {@code org.pytorch.executorch.EValue}, tensors only:
 * {@link #from(Tensor)}, {@link #toTensor()}, {@link #isTensor()}, {@link #isNone()}. (The
 * official class also boxes bool, long, double and String values; the bridge does not use them.)
 */
public final class EValue {
    private final Tensor tensor;

    private EValue(Tensor tensor) {
        this.tensor = tensor;
    }

    public static EValue from(Tensor tensor) {
        if (tensor == null) {
            throw new IllegalArgumentException("tensor must be not null");
        }
        return new EValue(tensor);
    }

    public static EValue optionalNone() {
        return new EValue(null);
    }

    public boolean isTensor() {
        return tensor != null;
    }

    public boolean isNone() {
        return tensor == null;
    }

    public Tensor toTensor() {
        if (tensor == null) {
            throw new IllegalStateException("Expected EValue type Tensor, actual type None");
        }
        return tensor;
    }

    @Override
    public String toString() {
        return "EValue(" + (tensor == null ? "None" : tensor) + ")";
    }
}
