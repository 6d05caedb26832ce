package org.demixmobile.bridge;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * The metadata every exported artifact carries (docs/contract.md, section 2, "Metadata"), read
 * and checked like the reference runner. Mirrors {@code mobile_core/contract/artifacts.py} (keys, reading)
 * and {@code check_metadata} of {@code mobile_core/contract/runtimes.py} (the refusals).
 *
 * <p>The runtime adapter reads the raw metadata (for a {@code .pte}: the {@code uint8} tensor of
 * method {@value #PTE_METADATA_METHOD}) and hands it to {@link #fromBytes}, {@link #parse} or
 * {@link #fromMap}; every refusal is a {@link ModelFileException} with one line naming the
 * {@code source}.
 */
public final class ArtifactMetadata {
    public static final String FORMAT = "demix-mobile-artifact";
    public static final int FORMAT_VERSION = 1;
    /** Artifact kinds; {@code onnx} and {@code ort} are interchangeable. */
    public static final List<String> KINDS =
            Collections.unmodifiableList(Arrays.asList("pte", "ptl", "onnx", "ort"));
    public static final String PTE_METADATA_METHOD = "get_metadata";
    public static final String ONNX_METADATA_KEY = "demix_metadata";
    public static final String PTL_METADATA_FILE = "demix_metadata.json";
    public static final String INPUT_NAME = "mix";
    public static final String OUTPUT_NAME = "stems";

    private final Map<String, Object> raw;
    private final String kind;
    private final ChunkSpec spec;
    private final List<String> stems;
    private final int channels;
    private final String config;
    private final String modelId;
    private final String quantization;

    private ArtifactMetadata(Map<String, Object> raw, String kind, ChunkSpec spec, List<String> stems,
                             int channels, String config, String modelId, String quantization) {
        this.raw = raw;
        this.kind = kind;
        this.spec = spec;
        this.stems = stems;
        this.channels = channels;
        this.config = config;
        this.modelId = modelId;
        this.quantization = quantization;
    }

    /**
     * Metadata from its UTF-8 bytes (e.g. the {@code get_metadata} tensor of a {@code .pte}).
     *
     * @param fileKind the kind the file is ({@code pte}, {@code ptl}, {@code onnx}, {@code ort}),
     *     or null not to check it
     * @param source how to name the artifact in messages (its path)
     */
    public static ArtifactMetadata fromBytes(byte[] utf8, String fileKind, String source)
            throws ModelFileException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFileException(source + " carries unreadable metadata");
        }
        return parse(text, fileKind, source);
    }

    /** Metadata from its JSON text; see {@link #fromBytes}. */
    public static ArtifactMetadata parse(String json, String fileKind, String source)
            throws ModelFileException {
        Object parsed;
        try {
            parsed = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(source + " carries unreadable metadata");
        }
        if (!(parsed instanceof Map)) {
            throw new ModelFileException(source + " is not a demix-mobile artifact");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) parsed;
        return fromMap(map, fileKind, source);
    }

    /**
     * Metadata from an already parsed JSON object (numbers as any {@link Number}, lists as
     * {@link List}, nested objects as {@link Map}); see {@link #fromBytes}.
     */
    public static ArtifactMetadata fromMap(Map<String, ?> meta, String fileKind, String source)
            throws ModelFileException {
        if (fileKind != null && !KINDS.contains(fileKind)) {
            throw new IllegalArgumentException("unknown artifact kind " + fileKind + "; expected one of " + KINDS);
        }
        if (meta == null || !FORMAT.equals(meta.get("format"))) {
            throw new ModelFileException(source + " is not a demix-mobile artifact");
        }
        Object version = meta.get("format_version");
        if (!isInteger(version, FORMAT_VERSION)) {
            throw new ModelFileException(source + " has artifact format version " + pyRepr(version)
                    + "; this build reads version " + FORMAT_VERSION
                    + ": re-export it with this version's demix-export");
        }
        for (String key : new String[] {"sample_rate", "chunk", "context", "lookahead", "hop", "stems"}) {
            if (!meta.containsKey(key)) {
                throw new ModelFileException(source + " metadata lacks '" + key + "'");
            }
        }
        // kind and channels: the contract requires them (the Python runner tolerates their absence).
        for (String key : new String[] {"kind", "channels"}) {
            if (!meta.containsKey(key)) {
                throw new ModelFileException(source + " metadata lacks '" + key + "'");
            }
        }
        Object declared = meta.get("kind");
        if (fileKind != null && !sameKind(declared, fileKind)) {
            throw new ModelFileException(source + " is a ." + fileKind + " file but its metadata says kind "
                    + pyRepr(declared));
        }
        if (!(declared instanceof String) || !KINDS.contains(declared)) {
            throw new ModelFileException(source + " has malformed metadata (kind " + pyRepr(declared) + ")");
        }
        ChunkSpec spec;
        List<String> stems;
        int channels;
        try {
            int sampleRate = intField(meta, "sample_rate");
            int chunk = intField(meta, "chunk");
            int context = intField(meta, "context");
            int lookahead = intField(meta, "lookahead");
            int hop = intField(meta, "hop");
            channels = intField(meta, "channels");
            stems = stringList(meta.get("stems"), "stems");
            List<String> problems = new ArrayList<>(ChunkSpec.problems(sampleRate, chunk, context, lookahead, hop));
            if (stems.isEmpty() || new HashSet<>(stems).size() != stems.size()) {
                problems.add("stems " + pyList(stems));
            }
            if (channels != 2) {
                problems.add("channels " + channels);
            }
            if (problems.isEmpty()) {
                checkShape(meta.get("input"), "input", new long[] {1, 2, chunk}, problems);
                checkShape(meta.get("output"), "output", new long[] {1, stems.size(), 2, chunk}, problems);
            }
            if (!problems.isEmpty()) {
                throw new ModelFileException(source + " has inconsistent metadata: " + String.join("; ", problems));
            }
            spec = new ChunkSpec(sampleRate, chunk, context, lookahead, hop);
        } catch (MalformedException e) {
            throw new ModelFileException(source + " has malformed metadata (" + e.getMessage() + ")");
        }
        String quantization = optString(meta.get("quantization"), "fp32");
        @SuppressWarnings("unchecked")
        Map<String, Object> raw = Collections.unmodifiableMap((Map<String, Object>) meta);
        return new ArtifactMetadata(raw, (String) declared, spec, Collections.unmodifiableList(stems),
                channels, optString(meta.get("config"), null), optString(meta.get("model_id"), null),
                quantization);
    }

    private static final class MalformedException extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedException(String message) {
            super(message);
        }
    }

    private static boolean sameKind(Object declared, String fileKind) {
        if (fileKind.equals(declared)) {
            return true;
        }
        boolean onnxFamily = "onnx".equals(fileKind) || "ort".equals(fileKind);
        return onnxFamily && ("onnx".equals(declared) || "ort".equals(declared));
    }

    /** Whether {@code v} is a JSON number equal to the integer {@code want} (1 and 1.0 both are). */
    private static boolean isInteger(Object v, long want) {
        if (!(v instanceof Number)) {
            return false;
        }
        Number n = (Number) v;
        if (v instanceof Double || v instanceof Float || v instanceof java.math.BigDecimal) {
            return n.doubleValue() == (double) want;
        }
        return n.longValue() == want && new java.math.BigDecimal(n.toString()).compareTo(
                java.math.BigDecimal.valueOf(want)) == 0;
    }

    /** An integer field: a JSON number with an integral value that fits an int. */
    private static int intField(Map<String, ?> meta, String key) throws MalformedException {
        Object v = meta.get(key);
        if (!(v instanceof Number)) {
            throw new MalformedException(key + " " + pyRepr(v) + " is not a number");
        }
        double d = ((Number) v).doubleValue();
        if (!(v instanceof Double || v instanceof Float || v instanceof java.math.BigDecimal)) {
            long l = ((Number) v).longValue();
            if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
                throw new MalformedException(key + " " + v + " is out of range");
            }
            return (int) l;
        }
        if (Double.isNaN(d) || Double.isInfinite(d) || d != Math.rint(d)) {
            throw new MalformedException(key + " " + v + " is not a whole number");
        }
        if (d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) {
            throw new MalformedException(key + " " + v + " is out of range");
        }
        return (int) d;
    }

    private static List<String> stringList(Object v, String key) throws MalformedException {
        if (!(v instanceof List)) {
            throw new MalformedException(key + " " + pyRepr(v) + " is not a list");
        }
        List<String> out = new ArrayList<>();
        for (Object s : (List<?>) v) {
            if (!(s instanceof String)) {
                throw new MalformedException(key + " holds " + pyRepr(s) + ", not a name");
            }
            out.add((String) s);
        }
        return out;
    }

    private static void checkShape(Object tensor, String what, long[] want, List<String> problems) {
        if (tensor == null) {
            return; // optional for planning; only an inconsistent declared shape is refused
        }
        Object shape = tensor instanceof Map ? ((Map<?, ?>) tensor).get("shape") : null;
        List<Long> got = new ArrayList<>();
        boolean ok = shape instanceof List && ((List<?>) shape).size() == want.length;
        if (shape instanceof List) {
            for (Object d : (List<?>) shape) {
                if (d instanceof Number && isInteger(d, ((Number) d).longValue())) {
                    got.add(((Number) d).longValue());
                } else {
                    ok = false;
                }
            }
        }
        if (ok) {
            for (int i = 0; i < want.length; i++) {
                if (got.get(i) != want[i]) {
                    ok = false;
                    break;
                }
            }
        }
        if (!ok) {
            problems.add(what + " shape " + (shape instanceof List ? shape.toString() : pyRepr(shape))
                    + " is not " + Arrays.toString(want));
        }
    }

    private static String optString(Object v, String dflt) {
        return v instanceof String ? (String) v : (v == null ? dflt : String.valueOf(v));
    }

    private static String pyRepr(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof String) {
            return "'" + v + "'";
        }
        return String.valueOf(v);
    }

    private static String pyList(List<String> items) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < items.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append('\'').append(items.get(i)).append('\'');
        }
        return sb.append(']').toString();
    }

    /** The chunk geometry the artifact was exported for. */
    public ChunkSpec spec() {
        return spec;
    }

    /** {@code pte}, {@code ptl}, {@code onnx} or {@code ort}, as the metadata says. */
    public String kind() {
        return kind;
    }

    public int sampleRate() {
        return spec.sampleRate();
    }

    public int chunk() {
        return spec.chunk();
    }

    public int context() {
        return spec.context();
    }

    public int lookahead() {
        return spec.lookahead();
    }

    public int hop() {
        return spec.hop();
    }

    /** Stem names in output order. */
    public List<String> stems() {
        return stems;
    }

    public int channels() {
        return channels;
    }

    /** Configuration name, or null if absent. */
    public String config() {
        return config;
    }

    /** 16-hex weight hash, or null if absent. */
    public String modelId() {
        return modelId;
    }

    /** {@code fp32} or {@code int8} ({@code fp32} when absent, like the reference). */
    public String quantization() {
        return quantization;
    }

    /** Shape of the model input: {@code [1, 2, L]}. */
    public long[] inputShape() {
        return new long[] {1, 2, spec.chunk()};
    }

    /** Shape of the model output: {@code [1, S, 2, L]}. */
    public long[] outputShape() {
        return new long[] {1, stems.size(), 2, spec.chunk()};
    }

    /** The whole metadata object as parsed (read-only). */
    public Map<String, Object> raw() {
        return raw;
    }
}
