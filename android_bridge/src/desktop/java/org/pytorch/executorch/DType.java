package org.pytorch.executorch;

/**
 * DESKTOP STAND-IN (see package-info): the tensor element types of the official
 * {@code org.pytorch.executorch.DType}, with the same names and {@code jniCode}s (ExecuTorch's
 * {@code ScalarType} numbers). The stand-in's tensors hold only {@link #UINT8} and {@link #FLOAT}.
 */
public enum DType {
    UINT8(0),
    INT8(1),
    INT16(2),
    INT32(3),
    INT64(4),
    HALF(5),
    FLOAT(6),
    DOUBLE(7),
    COMPLEX_HALF(8),
    COMPLEX_FLOAT(9),
    COMPLEX_DOUBLE(10),
    BOOL(11),
    QINT8(12),
    QUINT8(13),
    QINT32(14),
    BFLOAT16(15),
    QINT4X2(16),
    QINT2X4(17),
    BITS1X8(18),
    BITS2X4(19),
    BITS4X2(20),
    BITS8(21),
    BITS16(22);

    /** ExecuTorch's ScalarType number of this type. */
    public final int jniCode;

    DType(int jniCode) {
        this.jniCode = jniCode;
    }
}
