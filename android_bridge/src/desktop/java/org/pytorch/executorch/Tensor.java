package org.pytorch.executorch;

import java.util.Arrays;

/**
 * DESKTOP STAND-IN (see package-info) for {@code org.pytorch.executorch.Tensor}: a shape and a
 * C-order data array. Official signatures kept: {@link #fromBlob(float[], long[])},
 * {@link #fromBlobUnsigned(byte[], long[])}, {@link #shape()}, {@link #numel()}, {@link #dtype()},
 * {@link #getDataAsFloatArray()} and {@link #getDataAsUnsignedByteArray()} (Kotlin's
 * {@code dataAsFloatArray} / {@code dataAsUnsignedByteArray} properties, as Java sees them). Only
 * float32 and uint8 tensors exist here; the other getters throw {@link IllegalStateException} as
 * the official ones do for a tensor of another type.
 */
public abstract class Tensor {
    /** The shape (the official class has this protected field too). */
    protected final long[] shape;

    Tensor(long[] shape) {
        for (long s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("Shape elements must be non negative");
            }
        }
        this.shape = shape.clone();
    }

    /** Number of elements of a shape. */
    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    public long numel() {
        return numel(shape);
    }

    public long[] shape() {
        return shape.clone();
    }

    public abstract DType dtype();

    public float[] getDataAsFloatArray() {
        throw new IllegalStateException("Tensor of type " + getClass().getSimpleName() + " cannot return data as float array.");
    }

    public byte[] getDataAsUnsignedByteArray() {
        throw new IllegalStateException("Tensor of type " + getClass().getSimpleName()
                + " cannot return data as unsigned byte array.");
    }

    /** A float32 tensor holding a copy of {@code data} (as the official one, which copies it). */
    public static Tensor fromBlob(float[] data, long[] shape) {
        checkShape(data == null ? -1 : data.length, shape);
        return new Tensor_float32(data.clone(), shape);
    }

    /** A uint8 tensor holding a copy of {@code data}. */
    public static Tensor fromBlobUnsigned(byte[] data, long[] shape) {
        checkShape(data == null ? -1 : data.length, shape);
        return new Tensor_uint8(data.clone(), shape);
    }

    private static void checkShape(int size, long[] shape) {
        if (size < 0) {
            throw new IllegalArgumentException("Data array must be not null");
        }
        if (shape == null) {
            throw new IllegalArgumentException("Shape must be not null");
        }
        if (numel(shape) != size) {
            throw new IllegalArgumentException("Inconsistent data capacity:" + size + " and shape number elements:"
                    + numel(shape) + " shape:" + Arrays.toString(shape));
        }
    }

    /** The stand-in's native side reads these to pass a tensor to the runtime. */
    abstract Object rawData();

    static final class Tensor_float32 extends Tensor {
        private final float[] data;

        Tensor_float32(float[] data, long[] shape) {
            super(shape);
            this.data = data;
        }

        @Override
        public DType dtype() {
            return DType.FLOAT;
        }

        @Override
        public float[] getDataAsFloatArray() {
            return data.clone();
        }

        @Override
        Object rawData() {
            return data;
        }

        @Override
        public String toString() {
            return "Tensor(" + Arrays.toString(shape) + ", dtype=torch.float32)";
        }
    }

    static final class Tensor_uint8 extends Tensor {
        private final byte[] data;

        Tensor_uint8(byte[] data, long[] shape) {
            super(shape);
            this.data = data;
        }

        @Override
        public DType dtype() {
            return DType.UINT8;
        }

        @Override
        public byte[] getDataAsUnsignedByteArray() {
            return data.clone();
        }

        @Override
        Object rawData() {
            return data;
        }

        @Override
        public String toString() {
            return "Tensor(" + Arrays.toString(shape) + ", dtype=torch.uint8)";
        }
    }
}
