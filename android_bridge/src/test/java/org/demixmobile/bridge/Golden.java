package org.demixmobile.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Map;

/**
 * The golden vectors that {@code demix-golden} writes (format {@code demix-mobile-golden},
 * version 1), found through the system property {@code demix.golden.dir} or the environment
 * variable {@code DEMIX_GOLDEN_DIR} (build.sh sets both). Missing vectors fail the tests.
 */
final class Golden {
    private static Golden instance;

    final Path dir;
    final Map<String, Object> manifest;

    private Golden(Path dir) throws IOException {
        this.dir = dir;
        this.manifest = map(Json.parse(new String(Files.readAllBytes(dir.resolve("manifest.json")), StandardCharsets.UTF_8)));
    }

    static synchronized Golden get() {
        if (instance == null) {
            String where = System.getProperty("demix.golden.dir");
            if (where == null || where.isEmpty()) {
                where = System.getenv("DEMIX_GOLDEN_DIR");
            }
            if (where == null || where.isEmpty()) {
                fail("golden vectors not found: set -Ddemix.golden.dir=DIR or DEMIX_GOLDEN_DIR "
                        + "(android_bridge/build.sh writes them with demix-golden)");
            }
            Path p = Paths.get(where);
            if (!Files.isRegularFile(p.resolve("manifest.json"))) {
                fail("no manifest.json in golden folder " + p);
            }
            try {
                instance = new Golden(p);
            } catch (IOException e) {
                throw new AssertionError("cannot read golden vectors in " + p, e);
            }
        }
        return instance;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) {
        return (List<Object>) o;
    }

    static int integer(Object o) {
        return (int) ((Number) o).longValue();
    }

    Map<String, Object> fileInfo(String rel) {
        Object info = map(manifest.get("files")).get(rel);
        if (info == null) {
            fail("golden manifest does not list " + rel);
        }
        return map(info);
    }

    int[] shape(String rel) {
        List<Object> s = list(fileInfo(rel).get("shape"));
        int[] out = new int[s.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = integer(s.get(i));
        }
        return out;
    }

    byte[] bytes(String rel) {
        try {
            return Files.readAllBytes(dir.resolve(rel));
        } catch (IOException e) {
            throw new AssertionError("cannot read golden file " + rel, e);
        }
    }

    /** Raw little-endian float32, C order, checked against the manifest's shape. */
    float[] floats(String rel) {
        Map<String, Object> info = fileInfo(rel);
        assertEquals("float32", info.get("dtype"), rel);
        assertEquals("little", info.get("byte_order"), rel);
        byte[] raw = bytes(rel);
        long count = 1;
        for (int d : shape(rel)) {
            count *= d;
        }
        assertEquals(count * 4, raw.length, rel + ": size does not match the manifest's shape");
        float[] out = new float[(int) count];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    /** A 2-D array [rows][cols]. */
    float[][] matrix(String rel) {
        int[] s = shape(rel);
        assertEquals(2, s.length, rel + " is not 2-D");
        float[] f = floats(rel);
        float[][] out = new float[s[0]][s[1]];
        for (int r = 0; r < s[0]; r++) {
            System.arraycopy(f, r * s[1], out[r], 0, s[1]);
        }
        return out;
    }

    /** A 3-D array [a][b][c]. */
    float[][][] cube(String rel) {
        int[] s = shape(rel);
        assertEquals(3, s.length, rel + " is not 3-D");
        float[] f = floats(rel);
        float[][][] out = new float[s[0]][s[1]][s[2]];
        for (int a = 0; a < s[0]; a++) {
            for (int b = 0; b < s[1]; b++) {
                System.arraycopy(f, (a * s[1] + b) * s[2], out[a][b], 0, s[2]);
            }
        }
        return out;
    }

    static String sha256(byte[] raw) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(raw);
            StringBuilder sb = new StringBuilder();
            for (byte b : d) {
                sb.append(String.format("%02x", b));
            }
            return sb.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static double maxAbsDiff(float[][] a, float[][] b) {
        assertEquals(a.length, b.length, "channel count");
        double m = 0;
        for (int c = 0; c < a.length; c++) {
            assertEquals(a[c].length, b[c].length, "length of channel " + c);
            for (int t = 0; t < a[c].length; t++) {
                double d = Math.abs((double) a[c][t] - (double) b[c][t]);
                if (!(d <= m)) {
                    m = d; // also catches NaN
                }
            }
        }
        return m;
    }
}
