package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ArtifactMetadataTest {
    /** The example of docs/contract.md, section 2 (sorted keys, compact, as make_metadata writes it). */
    static final String EXAMPLE = "{\"channels\":2,\"chunk\":433440,\"config\":\"xumx-rt\",\"context\":45150,"
            + "\"format\":\"demix-mobile-artifact\",\"format_version\":1,\"hop\":9030,"
            + "\"input\":{\"name\":\"mix\",\"shape\":[1,2,433440]},\"kind\":\"pte\",\"lookahead\":27090,"
            + "\"model_id\":\"3adee9d586fead30\",\"output\":{\"name\":\"stems\",\"shape\":[1,4,2,433440]},"
            + "\"quantization\":\"fp32\",\"sample_rate\":44100,\"stems\":[\"vocals\",\"drums\",\"bass\",\"other\"]}";

    @Test
    void theContractExampleParses() throws Exception {
        ArtifactMetadata m = ArtifactMetadata.fromBytes(EXAMPLE.getBytes(StandardCharsets.UTF_8), "pte", "m.pte");
        assertEquals(new ChunkSpec(44100, 433440, 45150, 27090, 9030), m.spec());
        assertEquals(Arrays.asList("vocals", "drums", "bass", "other"), m.stems());
        assertEquals("pte", m.kind());
        assertEquals(2, m.channels());
        assertEquals("xumx-rt", m.config());
        assertEquals("3adee9d586fead30", m.modelId());
        assertEquals("fp32", m.quantization());
        assertArrayEquals(new long[] {1, 2, 433440}, m.inputShape());
        assertArrayEquals(new long[] {1, 4, 2, 433440}, m.outputShape());
        assertEquals(361200, m.spec().step());
    }

    @Test
    void kindCheckIsOptionalAndOnnxOrtAreInterchangeable() throws Exception {
        ArtifactMetadata.parse(EXAMPLE, null, "x");
        String onnx = EXAMPLE.replace("\"kind\":\"pte\"", "\"kind\":\"onnx\"");
        assertEquals("onnx", ArtifactMetadata.parse(onnx, "ort", "m.ort").kind());
        assertEquals("onnx", ArtifactMetadata.parse(onnx, "onnx", "m.onnx").kind());
        ModelFileException e = assertThrows(ModelFileException.class, () -> ArtifactMetadata.parse(EXAMPLE, "ptl", "m.ptl"));
        assertEquals("m.ptl is a .ptl file but its metadata says kind 'pte'", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ArtifactMetadata.parse(EXAMPLE, "tflite", "m"));
    }

    @Test
    void quantizationDefaultsToFp32() throws Exception {
        String s = EXAMPLE.replace("\"quantization\":\"fp32\",", "");
        assertEquals("fp32", ArtifactMetadata.parse(s, "pte", "m").quantization());
        String q = EXAMPLE.replace("\"fp32\"", "\"int8\"");
        assertEquals("int8", ArtifactMetadata.parse(q, "pte", "m").quantization());
    }

    private static String refusal(String json) {
        return assertThrows(ModelFileException.class, () -> ArtifactMetadata.parse(json, "pte", "m.pte")).getMessage();
    }

    private static String with(String key, String value) {
        Map<String, Object> m = new LinkedHashMap<>(Golden.map(Json.parse(EXAMPLE)));
        if (value == null) {
            m.remove(key);
        } else {
            m.put(key, Json.parse(value));
        }
        return toJson(m);
    }

    static String toJson(Object o) {
        if (o instanceof Map) {
            StringBuilder sb = new StringBuilder("{");
            for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                sb.append(sb.length() > 1 ? "," : "").append(toJson(e.getKey())).append(':').append(toJson(e.getValue()));
            }
            return sb.append('}').toString();
        }
        if (o instanceof List) {
            StringBuilder sb = new StringBuilder("[");
            for (Object v : (List<?>) o) {
                sb.append(sb.length() > 1 ? "," : "").append(toJson(v));
            }
            return sb.append(']').toString();
        }
        if (o instanceof String) {
            return "\"" + o + "\"";
        }
        return String.valueOf(o);
    }

    @Test
    void wrongFormatOrVersion() {
        assertEquals("m.pte carries unreadable metadata", refusal("{\"format\":"));
        assertEquals("m.pte carries unreadable metadata", refusal(""));
        assertEquals("m.pte is not a demix-mobile artifact", refusal("[1, 2]"));
        assertEquals("m.pte is not a demix-mobile artifact", refusal(with("format", "\"other\"")));
        assertEquals("m.pte is not a demix-mobile artifact", refusal(with("format", null)));
        assertEquals("m.pte has artifact format version 2; this build reads version 1: re-export it with this "
                + "version's demix-export", refusal(with("format_version", "2")));
        assertTrue(refusal(with("format_version", "\"1\"")).contains("format version '1'"));
        assertTrue(refusal(with("format_version", null)).contains("format version None"));
        assertTrue(refusal(with("format_version", "true")).contains("format version true"));
        // 1.0 is the number 1, as in the reference
        assertTrue(refusal(with("format_version", "1.5")).contains("format version 1.5"));
    }

    @Test
    void bytesThatAreNotUtf8() {
        byte[] bad = {'{', (byte) 0xff, '}'};
        ModelFileException e = assertThrows(ModelFileException.class, () -> ArtifactMetadata.fromBytes(bad, "pte", "m.pte"));
        assertEquals("m.pte carries unreadable metadata", e.getMessage());
    }

    @Test
    void missingKeys() {
        for (String key : new String[] {"sample_rate", "chunk", "context", "lookahead", "hop", "stems", "kind", "channels"}) {
            assertEquals("m.pte metadata lacks '" + key + "'", refusal(with(key, null)), key);
        }
    }

    @Test
    void inconsistentSizes() {
        assertEquals("m.pte has inconsistent metadata: non-positive sizes", refusal(with("hop", "0")));
        assertEquals("m.pte has inconsistent metadata: non-positive sizes", refusal(with("context", "-9030")));
        assertEquals("m.pte has inconsistent metadata: chunk, context and lookahead are not multiples of hop",
                refusal(with("chunk", "433441")));
        assertEquals("m.pte has inconsistent metadata: chunk, context and lookahead are not multiples of hop",
                refusal(with("lookahead", "27000")));
        // chunk - context - lookahead >= hop
        String tight = with("chunk", "72240").replace("433440", "72240");
        assertEquals("m.pte has inconsistent metadata: chunk 72240 leaves no room after context and lookahead",
                refusal(tight));
        String justEnough = with("chunk", "81270").replace("433440", "81270");
        assertDoesNotRefuse(justEnough);
        assertEquals("m.pte has inconsistent metadata: sample_rate 7999", refusal(with("sample_rate", "7999")));
        assertEquals("m.pte has inconsistent metadata: sample_rate 192001", refusal(with("sample_rate", "192001")));
        assertEquals("m.pte has inconsistent metadata: channels 1", refusal(with("channels", "1")));
        assertEquals("m.pte has inconsistent metadata: stems []", refusal(with("stems", "[]")));
        assertTrue(refusal(with("stems", "[\"a\",\"b\",\"a\",\"c\"]")).contains("stems ['a', 'b', 'a', 'c']"));
        assertEquals("m.pte has inconsistent metadata: sample_rate 7999; channels 3",
                refusal(with("sample_rate", "7999").replace("\"channels\":2", "\"channels\":3")));
    }

    private static void assertDoesNotRefuse(String json) {
        try {
            ArtifactMetadata.parse(json, "pte", "m.pte");
        } catch (ModelFileException e) {
            throw new AssertionError("refused: " + e.getMessage());
        }
    }

    @Test
    void declaredShapesMustAgreeWithTheSizes() {
        assertTrue(refusal(with("output", "{\"name\":\"stems\",\"shape\":[1,5,2,433440]}"))
                .endsWith("output shape [1, 5, 2, 433440] is not [1, 4, 2, 433440]"));
        assertTrue(refusal(with("input", "{\"name\":\"mix\",\"shape\":[1,2,433441]}")).contains("input shape"));
        assertDoesNotRefuse(with("input", null));
    }

    @Test
    void malformedValues() {
        assertTrue(refusal(with("sample_rate", "\"44100\"")).startsWith("m.pte has malformed metadata (sample_rate"));
        assertTrue(refusal(with("hop", "9030.5")).startsWith("m.pte has malformed metadata (hop"));
        assertTrue(refusal(with("stems", "\"vocals\"")).startsWith("m.pte has malformed metadata (stems"));
        assertTrue(refusal(with("stems", "[\"a\", 2]")).startsWith("m.pte has malformed metadata (stems"));
        assertDoesNotRefuse(with("hop", "9030.0"));
    }

    @Test
    void fromMapTakesAnyNumberType() throws Exception {
        Map<String, Object> m = new LinkedHashMap<>(Golden.map(Json.parse(EXAMPLE)));
        m.put("sample_rate", 48000); // Integer
        m.put("hop", new java.math.BigDecimal("9030"));
        ArtifactMetadata a = ArtifactMetadata.fromMap(m, "pte", "m");
        assertEquals(48000, a.sampleRate());
        assertEquals(9030, a.hop());
    }

    @Test
    void jsonReader() {
        assertEquals(Arrays.asList(1L, -2L, 0.5, "a\u00e9\n", true, null), Json.parse(" [1,-2,5e-1,\"a\\u00e9\\n\",true,null] "));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\":1,\"a\":2}"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[1,]"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("01"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{} x"));
    }
}
