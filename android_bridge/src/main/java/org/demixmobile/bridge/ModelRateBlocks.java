package org.demixmobile.bridge;

/**
 * Decode -&gt; NaN/Inf check -&gt; channel rule -&gt; streaming resampler to the model rate
 * ({@code model_rate_blocks} of {@code mobile_core/contract/runner.py}): the input side of
 * {@link Demixer#separate(PcmSource, StemSink, Demixer.Options)}.
 */
final class ModelRateBlocks implements Demixer.BlockSource {
    private final PcmSource src;
    private final Resampler resampler;
    private final int blockFrames;
    private long framesIn;
    private boolean ended;

    ModelRateBlocks(PcmSource src, int modelRate, int blockFrames) throws AudioException {
        this.src = src;
        this.resampler = new Resampler(src.sampleRate(), modelRate, 2);
        this.blockFrames = blockFrames;
    }

    @Override
    public float[][] next() throws DemixException {
        while (!ended) {
            float[][] b = src.read(blockFrames);
            if (b == null) {
                ended = true;
                float[][] y = resampler.flush();
                return y[0].length > 0 ? y : null;
            }
            if (b.length != src.channels()) {
                throw new AudioException(src.name() + ": the decoder returned " + b.length
                        + " channels where the header says " + src.channels());
            }
            WavReader.checkFinite(src.name(), b, framesIn);
            framesIn += b[0].length;
            float[][] y = resampler.process(ChannelRules.toStereo(b));
            if (y[0].length > 0) {
                return y;
            }
        }
        return null;
    }
}
