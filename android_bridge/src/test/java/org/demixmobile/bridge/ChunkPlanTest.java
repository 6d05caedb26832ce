package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ChunkPlanTest {
    static final ChunkSpec XUMX = new ChunkSpec(44100, 433440, 45150, 27090, 9030);
    static final ChunkSpec TINY = new ChunkSpec(44100, 48384, 5040, 3024, 1008);

    @Test
    void everyGoldenPlanMatchesPython() {
        Golden g = Golden.get();
        Object parsed = Json.parse(new String(g.bytes((String) g.manifest.get("chunk_plans")), StandardCharsets.UTF_8));
        int plans = 0;
        for (Object o : Golden.list(parsed)) {
            Map<String, Object> cfg = Golden.map(o);
            Map<String, Object> s = Golden.map(cfg.get("spec"));
            ChunkSpec spec = new ChunkSpec(Golden.integer(s.get("sample_rate")), Golden.integer(s.get("chunk")),
                    Golden.integer(s.get("context")), Golden.integer(s.get("lookahead")), Golden.integer(s.get("hop")));
            assertEquals(Golden.integer(cfg.get("step")), spec.step(), cfg.get("config") + " step");
            for (Object p : Golden.list(cfg.get("plans"))) {
                Map<String, Object> plan = Golden.map(p);
                long n = ((Number) plan.get("n_samples")).longValue();
                List<ChunkPlan.Chunk> want = new ArrayList<>();
                for (Object c : Golden.list(plan.get("chunks"))) {
                    List<Object> t = Golden.list(c);
                    want.add(new ChunkPlan.Chunk(((Number) t.get(0)).longValue(), ((Number) t.get(1)).longValue(),
                            ((Number) t.get(2)).longValue()));
                }
                assertEquals(want, ChunkPlan.plan(n, spec).chunks(), cfg.get("config") + "/" + cfg.get("chunk_hops")
                        + " hops, " + n + " samples");
                plans++;
            }
        }
        assertTrue(plans >= 20, "only " + plans + " golden plans");
    }

    @Test
    void stitchedGoldenPlanMatchesPython() {
        Map<String, Object> st = Golden.map(Golden.get().manifest.get("stitched"));
        Map<String, Object> s = Golden.map(st.get("spec"));
        ChunkSpec spec = new ChunkSpec(Golden.integer(s.get("sample_rate")), Golden.integer(s.get("chunk")),
                Golden.integer(s.get("context")), Golden.integer(s.get("lookahead")), Golden.integer(s.get("hop")));
        List<ChunkPlan.Chunk> want = new ArrayList<>();
        for (Object c : Golden.list(st.get("chunks"))) {
            List<Object> t = Golden.list(c);
            want.add(new ChunkPlan.Chunk(((Number) t.get(0)).longValue(), ((Number) t.get(1)).longValue(),
                    ((Number) t.get(2)).longValue()));
        }
        assertEquals(want, ChunkPlan.plan(((Number) st.get("n_samples")).longValue(), spec).chunks());
    }

    @Test
    void contractTableNumbers() {
        assertEquals(361200, XUMX.step());
        assertEquals(40320, TINY.step());
        assertEquals(1, ChunkPlan.plan(433440, XUMX).size());
        assertEquals(2, ChunkPlan.plan(433441, XUMX).size());
    }

    @Test
    void slices() {
        // S = (ceil(N / q) + 1) // 2 + 1, q = 2h // 4
        assertEquals((1 + 1) / 2 + 1, ChunkPlan.nSlices(1, 2016));
        assertEquals((2 + 1) / 2 + 1, ChunkPlan.nSlices(505, 2016));
        assertEquals((96 + 1) / 2 + 1, ChunkPlan.nSlices(48384, 2016));
        assertThrows(IllegalArgumentException.class, () -> ChunkPlan.nSlices(0, 2016));
    }

    @Test
    void propertiesForManyLengths() {
        Random rng = new Random(7);
        ChunkSpec[] specs = {XUMX, TINY, new ChunkSpec(44100, 16128, 5040, 3024, 1008), new ChunkSpec(22050, 9 * 100, 0, 0, 100)};
        for (ChunkSpec spec : specs) {
            for (int i = 0; i < 300; i++) {
                long n = 1 + (long) (Math.pow(rng.nextDouble(), 2) * 60 * spec.chunk());
                check(n, spec);
            }
            check(44100L * 3600 + 1, spec); // an hour
        }
    }

    private static void check(long n, ChunkSpec spec) {
        ChunkPlan plan = ChunkPlan.plan(n, spec);
        long h = spec.hop();
        long s = ChunkPlan.nSlices(n, spec.sllen());
        long m = spec.chunk() / h;
        long at = 0;
        for (int i = 0; i < plan.size(); i++) {
            ChunkPlan.Chunk c = plan.get(i);
            assertEquals(at, c.keepFrom, "kept ranges tile [0, N): chunk " + i + " of " + n);
            assertTrue(c.keepTo > c.keepFrom || n == 0, "empty chunk");
            assertTrue(c.start >= 0 && c.start % h == 0);
            assertTrue(c.keepFrom >= c.start && c.keepTo <= c.start + spec.chunk(), "kept inside the chunk");
            if (i > 0) {
                assertTrue(c.keepFrom - c.start >= spec.context(), "context before the kept part");
            }
            if (i + 1 < plan.size()) {
                assertTrue(c.start + spec.chunk() - c.keepTo >= spec.lookahead(), "look-ahead after the kept part");
            }
            if (i > 0 && i + 1 < plan.size()) {
                assertEquals(spec.step(), c.start - plan.get(i - 1).start, "step");
            }
            at = c.keepTo;
        }
        assertEquals(n, at, "kept ranges end at N");
        if (plan.size() > 1) {
            assertEquals((s - 1 - m) * h, plan.get(plan.size() - 1).start, "last chunk ends on the last slice");
        }
    }

    @Test
    void badInputsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> ChunkPlan.plan(0, TINY));
        assertThrows(IllegalArgumentException.class, () -> new ChunkSpec(44100, 100, 0, 0, 0));
    }
}
