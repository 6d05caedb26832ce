package org.demixmobile.bridge;

/**
 * Stem file formats (docs/contract-audio.md, "Writing stems"; {@code WAV_FORMATS} of
 * {@code mobile_core/contract/audio.py}).
 */
public enum WavFormat {
    /** PCM 16: {@code clamp(round_half_even(x * 32768), -32768, 32767)}. */
    WAV16("wav16", 16),
    /** PCM 24: {@code clamp(round_half_even(x * 8388608), -8388608, 8388607)}. */
    WAV24("wav24", 24),
    /** IEEE float 32: {@code x} unchanged, not clipped. */
    FLOAT32("float32", 32);

    private final String cliName;
    private final int bits;

    WavFormat(String cliName, int bits) {
        this.cliName = cliName;
        this.bits = bits;
    }

    /** The name the command line uses: {@code wav16}, {@code wav24}, {@code float32}. */
    public String cliName() {
        return cliName;
    }

    public int bits() {
        return bits;
    }

    public int bytesPerSample() {
        return bits / 8;
    }

    /** Format by its command-line name. */
    public static WavFormat fromName(String name) {
        for (WavFormat f : values()) {
            if (f.cliName.equals(name)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown output format '" + name
                + "'; choose one of ['float32', 'wav16', 'wav24']");
    }
}
