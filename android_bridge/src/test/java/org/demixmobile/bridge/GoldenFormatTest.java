package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The golden set is the one this bridge reads, intact, and states the constants the Java uses. */
class GoldenFormatTest {
    @Test
    void formatAndVersion() {
        Golden g = Golden.get();
        assertEquals("demix-mobile-golden", g.manifest.get("format"));
        assertEquals(1L, g.manifest.get("version"));
    }

    @Test
    void everyFileMatchesItsSha256() {
        Golden g = Golden.get();
        Map<String, Object> files = Golden.map(g.manifest.get("files"));
        assertFalse(files.isEmpty());
        for (Map.Entry<String, Object> e : files.entrySet()) {
            String want = (String) Golden.map(e.getValue()).get("sha256");
            assertEquals(want, Golden.sha256(g.bytes(e.getKey())), e.getKey());
        }
    }

    @Test
    void contractConstantsMatchTheJava() {
        Map<String, Object> rs = Golden.map(Golden.map(Golden.get().manifest.get("contract")).get("resampler"));
        assertEquals((long) Resampler.ZERO_CROSSINGS, rs.get("ZERO_CROSSINGS"));
        assertEquals(Resampler.CUTOFF, ((Number) rs.get("CUTOFF")).doubleValue());
        assertEquals(Resampler.KAISER_BETA, ((Number) rs.get("KAISER_BETA")).doubleValue());
        assertEquals((long) Resampler.I0_TERMS, rs.get("I0_TERMS"));
        assertEquals((long) Resampler.MIN_RATE, rs.get("MIN_RATE"));
        assertEquals((long) Resampler.MAX_RATE, rs.get("MAX_RATE"));
    }
}
