#!/usr/bin/env bash
# Build and test android_bridge without Gradle/Maven: javac (--release 11) + Debian's junit5, and
# g++ for the desktop JNI stand-in of the ExecuTorch runtime.
#
#   android_bridge/build.sh
#
# Environment:
#   DEMIX_PYTHON   python of the environment that has demix-mobile and executorch installed
#                  (default: <repo>/.venv/bin/python); its console scripts demix-golden, demix-export,
#                  demix and demix-validate (next to it) make the golden vectors, the tiny .pte
#                  models, the reference stems and the stem comparisons the tests use
#   JAVA_HOME      JDK to use (default: javac/java/jar on PATH); needs JDK >= 11 (+ JNI headers)
#   JUNIT_DIR      where junit-platform-console-standalone.jar is (default: /usr/share/java)
#   CXX            C++17 compiler for the JNI library (default: g++)
#
# Outputs under android_bridge/build/ (ignored by git): demix-bridge.jar (runnable: java -jar),
# libdemix_executorch_jni.so next to it, golden/, models/ (tiny fp32/int8 .pte, exported once and
# kept while present), e2e/ (test song and the reference runner's stems), test-reports/.
# The last line printed is "N passed, N failed"; the exit status is non-zero if any test failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="$HERE/build"
PYTHON="${DEMIX_PYTHON:-$ROOT/.venv/bin/python}"
JUNIT_DIR="${JUNIT_DIR:-/usr/share/java}"
CONSOLE="$JUNIT_DIR/junit-platform-console-standalone.jar"
if [[ -n "${JAVA_HOME:-}" ]]; then
    JAVAC="$JAVA_HOME/bin/javac"; JAVA="$JAVA_HOME/bin/java"; JAR="$JAVA_HOME/bin/jar"
else
    JAVAC=javac; JAVA=java; JAR=jar
fi

say() { printf '%s\n' "build.sh: $*" >&2; }
die() { say "error: $*"; echo "0 passed, 1 failed"; exit 1; }

# --- JUnit 5 (Debian package junit5) ---------------------------------------------------------
if [[ ! -f "$CONSOLE" ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "installing junit5 with apt-get"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq junit5 >&2 \
            || die "apt-get install junit5 failed"
    fi
    [[ -f "$CONSOLE" ]] || die "$CONSOLE not found: install Debian's junit5 package (apt-get install junit5) or set JUNIT_DIR"
fi
command -v "$JAVAC" >/dev/null || die "javac not found (install a JDK >= 11 or set JAVA_HOME)"

# --- the core must not depend on Android --------------------------------------------------------
if grep -rEn '^\s*import\s+(static\s+)?android(x)?\.' "$HERE/src/main/java" "$HERE/src/desktop/java" >&2; then
    die "android.* imports in src/main/java or src/desktop/java: the core must run on a desktop JVM"
fi

rm -rf "$BUILD/classes" "$BUILD/test-reports"
mkdir -p "$BUILD/classes/standin" "$BUILD/classes/main" "$BUILD/classes/desktop" "$BUILD/classes/test"
JAVAC_FLAGS=(--release 11 -encoding UTF-8 -Xlint:all -Werror)

# --- sources -> build/demix-bridge.jar ----------------------------------------------------------
# Three steps, so that the core is compiled against nothing but the public API of the ExecuTorch
# stand-in (the same names as the official AAR, which replaces the stand-in on Android):
#   src/desktop/java/org/pytorch/executorch   desktop stand-in of ExecuTorch's Java API
#   src/main/java                              the library (the only source set Android builds)
#   src/desktop/java/org/demixmobile           the desktop command (Main-Class of the jar)
say "compiling the ExecuTorch desktop stand-in, the library and the desktop command (--release 11)"
find "$HERE/src/desktop/java/org/pytorch" -name '*.java' | sort > "$BUILD/standin-sources.txt"
"$JAVAC" "${JAVAC_FLAGS[@]}" -d "$BUILD/classes/standin" @"$BUILD/standin-sources.txt" >&2 \
    || die "the ExecuTorch stand-in does not compile"
find "$HERE/src/main/java" -name '*.java' | sort > "$BUILD/main-sources.txt"
"$JAVAC" "${JAVAC_FLAGS[@]}" -cp "$BUILD/classes/standin" -d "$BUILD/classes/main" @"$BUILD/main-sources.txt" >&2 \
    || die "main sources do not compile"
find "$HERE/src/desktop/java/org/demixmobile" -name '*.java' | sort > "$BUILD/desktop-sources.txt"
"$JAVAC" "${JAVAC_FLAGS[@]}" -cp "$BUILD/classes/standin:$BUILD/classes/main" -d "$BUILD/classes/desktop" \
    @"$BUILD/desktop-sources.txt" >&2 || die "the desktop command does not compile"
printf 'Main-Class: org.demixmobile.bridge.desktop.Main\n' > "$BUILD/manifest.txt"
"$JAR" --create --file "$BUILD/demix-bridge.jar.tmp" --manifest "$BUILD/manifest.txt" \
    -C "$BUILD/classes/main" . -C "$BUILD/classes/standin" . -C "$BUILD/classes/desktop" . >&2
mv -f "$BUILD/demix-bridge.jar.tmp" "$BUILD/demix-bridge.jar"
say "wrote $BUILD/demix-bridge.jar"

# --- the JNI library of the stand-in, against the executorch wheel's C++ SDK ----------------------
# Flags as bench/native/build.sh (from the wheel's executorch-config.cmake): the kernel and backend
# libraries register their operators from static initialisers, so they are linked --no-as-needed
# (otherwise loading a program fails with "Missing operator", 0x14); rpath to the wheel's lib/.
[[ -x "$PYTHON" ]] || die "python $PYTHON not found (set DEMIX_PYTHON)"
ET="$("$PYTHON" -c "import importlib.util as u; s = u.find_spec('executorch'); print(s.submodule_search_locations[0])")" \
    || die "$PYTHON has no executorch package (the JNI stand-in is built against its C++ SDK)"
JDK_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v "$JAVAC")")")")}"
[[ -f "$JDK_HOME/include/jni.h" ]] || die "no JNI headers in $JDK_HOME/include (set JAVA_HOME to a JDK)"
[[ -f "$ET/include/executorch/extension/module/module.h" ]] || die "the executorch wheel at $ET ships no C++ headers"
JNI_SO="$BUILD/libdemix_executorch_jni.so"
JNI_SRC="$HERE/src/desktop/cpp/executorch_jni.cpp"
if [[ ! -f "$JNI_SO" || "$JNI_SRC" -nt "$JNI_SO" || "$0" -nt "$JNI_SO" ]]; then
    say "compiling $JNI_SO"
    "${CXX:-g++}" -std=c++17 -O2 -fPIC -shared -Wall -Wextra -Werror \
        -DC10_USING_CUSTOM_GENERATED_MACROS -DET_EVENT_TRACER_ENABLED -DET_USE_THREADPOOL \
        -isystem "$ET/include" -isystem "$ET/include/executorch/runtime/core/portable_type/c10" \
        -isystem "$JDK_HOME/include" -isystem "$JDK_HOME/include/linux" \
        "$JNI_SRC" -o "$JNI_SO.tmp" \
        -L"$ET/lib" -Wl,-rpath,"$ET/lib" \
        -Wl,--push-state,--no-as-needed \
        -lexecutorch_kernels_optimized -lexecutorch_kernels_quantized -lexecutorch_backend_xnnpack \
        -Wl,--pop-state \
        -lexecutorch_threadpool -lexecutorch -lpthread -ldl >&2 || die "the JNI library does not compile"
    mv -f "$JNI_SO.tmp" "$JNI_SO"
fi

# --- console scripts of the reference ----------------------------------------------------------
# build/tools/<name> runs the console entry point <name> of $PYTHON's environment, looked up by
# name (not by module path: the Python package layout may change; the entry point names do not).
mkdir -p "$BUILD/tools"
cat > "$BUILD/tools/entry.py" <<'PY'
import sys
from importlib.metadata import entry_points

eps = entry_points()
scripts = eps.select(group="console_scripts") if hasattr(eps, "select") else eps.get("console_scripts", [])
name = sys.argv[1]
main = next((ep for ep in scripts if ep.name == name), None)
if main is None:
    sys.exit(f"no {name} entry point: is demix-mobile installed in this environment?")
sys.argv = [name] + sys.argv[2:]
sys.exit(main.load()())
PY
for tool in demix demix-export demix-golden demix-validate; do
    printf '#!/bin/sh\nexec "%s" "%s" %s "$@"\n' "$PYTHON" "$BUILD/tools/entry.py" "$tool" > "$BUILD/tools/$tool"
    chmod +x "$BUILD/tools/$tool"
done

# --- golden vectors from the reference code -------------------------------------------------------
say "writing golden vectors with demix-golden ($PYTHON)"
rm -rf "$BUILD/golden"
"$BUILD/tools/demix-golden" --out "$BUILD/golden" >&2 || die "demix-golden failed"
[[ -f "$BUILD/golden/manifest.json" ]] || die "demix-golden wrote no manifest.json"

# --- tiny .pte models (exported once; delete build/models to re-export) ----------------------------
MODELS="$BUILD/models"
if [[ ! -f "$MODELS/demix-tiny-fp32.pte" || ! -f "$MODELS/demix-tiny-int8.pte" ]]; then
    say "exporting the tiny model as .pte (fp32, int8) with demix-export: a few minutes, once"
    rm -rf "$MODELS.tmp"
    # 0.35 s chunks (15 slice hops, 7 hops of new output per chunk): a smaller graph exports
    # faster than the default 1.1 s one (measured 4.0 min instead of 6.4 min for both here)
    nice "$BUILD/tools/demix-export" --model tiny --format pte --quant fp32 int8 --chunk-seconds 0.35 \
        --heldout-songs 0 --calib-chunks 2 --repeats 1 --quiet -o "$MODELS.tmp" >&2 || die "demix-export failed"
    [[ -f "$MODELS.tmp/demix-tiny-fp32.pte" && -f "$MODELS.tmp/demix-tiny-int8.pte" ]] \
        || die "demix-export wrote no demix-tiny-{fp32,int8}.pte"
    rm -rf "$MODELS" && mv "$MODELS.tmp" "$MODELS"
fi

# --- end-to-end case: songs and the reference runner's stems --------------------------------------
# Two mono float32 WAVs of odd length (3.26 s and 3.1 s): mono48k.wav at 48 kHz (resampled to the
# model's 44.1 kHz, several chunks) and mono44k.wav at 44.1 kHz (no resampling: the model sees
# bit-identical chunks in Java and Python). The reference stems come from
# `demix -m <model>.pte --format float32`, redone when missing or older than the model or a song.
E2E="$BUILD/e2e"
if [[ ! -f "$E2E/song/mono48k.wav" || ! -f "$E2E/song/mono44k.wav" ]]; then
    mkdir -p "$E2E/song"
    "$PYTHON" - "$E2E/song" >&2 <<'PY' || die "cannot write the test songs"
import sys
import numpy as np
import soundfile as sf

for name, rate, n, seed in (("mono48k", 48000, 3 * 48000 + 12345, 15), ("mono44k", 44100, 3 * 44100 + 4321, 16)):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 1.5 * t)) / 2
    x += 0.1 * np.sign(np.sin(2 * np.pi * 2 * t)) * np.exp(-((t * 4) % 1) * 8) * rng.standard_normal(n)
    x += 0.05 * rng.standard_normal(n)
    sf.write(f"{sys.argv[1]}/{name}.wav", x.astype(np.float32), rate, subtype="FLOAT")
PY
fi
for q in fp32 int8; do
    ref="$E2E/ref-$q"
    if [[ ! -d "$ref/mono48k" || ! -d "$ref/mono44k" || "$MODELS/demix-tiny-$q.pte" -nt "$ref" \
          || "$E2E/song/mono48k.wav" -nt "$ref" ]]; then
        say "reference stems: demix -m demix-tiny-$q.pte --format float32"
        rm -rf "$ref"
        nice "$BUILD/tools/demix" -m "$MODELS/demix-tiny-$q.pte" --format float32 -q -o "$ref" \
            "$E2E/song/mono48k.wav" "$E2E/song/mono44k.wav" >&2 || die "demix failed on the test songs"
    fi
done

# --- tests ------------------------------------------------------------------------------------
say "compiling tests"
find "$HERE/src/test/java" -name '*.java' | sort > "$BUILD/test-sources.txt"
"$JAVAC" --release 11 -encoding UTF-8 -Xlint:all -Xlint:-try -d "$BUILD/classes/test" \
    -cp "$BUILD/demix-bridge.jar:$CONSOLE" @"$BUILD/test-sources.txt" >&2 || die "tests do not compile"

say "running tests"
# The runtime tests find: the models, the e2e song and reference stems, demix-validate, the jar
# (the desktop command) and the java launcher through these properties (see RuntimeFixtures).
export DEMIX_GOLDEN_DIR="$BUILD/golden"
set +e
"$JAVA" -Ddemix.golden.dir="$BUILD/golden" -Ddemix.models.dir="$MODELS" -Ddemix.e2e.dir="$E2E" \
    -Ddemix.validate="$BUILD/tools/demix-validate" -Ddemix.bridge.jar="$BUILD/demix-bridge.jar" \
    -Djava.library.path="$BUILD" -jar "$CONSOLE" \
    --class-path "$BUILD/classes/test:$BUILD/demix-bridge.jar" \
    --scan-class-path --disable-banner --disable-ansi-colors --details=tree --details-theme=ascii \
    --reports-dir "$BUILD/test-reports" 2>&1 | tee "$BUILD/test-output.txt" >&2
status=${PIPESTATUS[0]}
set -e

count() { # "[        12 tests successful      ]" -> 12
    sed -n "s/^\[ *\([0-9][0-9]*\) $1 *\]\$/\1/p" "$BUILD/test-output.txt" | tail -n 1
}
passed="$(count 'tests successful')"
failed="$(count 'tests failed')"
aborted="$(count 'tests aborted')"
found="$(count 'tests found')"
failed_containers="$(count 'containers failed')"
[[ -n "$passed" && -n "$failed" ]] || die "could not read the test launcher's summary (exit status $status)"
failed=$(( failed + ${failed_containers:-0} ))
if [[ "${aborted:-0}" != 0 ]]; then
    say "$aborted tests aborted (counted as not passed)"
fi
if [[ "${found:-0}" == 0 ]]; then
    say "no tests found"
    failed=$(( failed + 1 ))
fi
echo "$passed passed, $failed failed"
if [[ "$failed" != 0 || "$status" != 0 ]]; then
    exit 1
fi
