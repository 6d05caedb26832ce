#!/usr/bin/env bash
# Build bench/native/build/demix_native against the ExecuTorch pip wheel's own C++ SDK.
#
#   bench/native/build.sh              # uses .venv/bin/python of the repository
#   PYTHON=/path/to/python bench/native/build.sh
#   CXX=clang++ CXXFLAGS=-O2 bench/native/build.sh
#
# No CMake needed: one g++ command line. The wheel's include/ and lib/ are found through the
# Python that has executorch installed. The kernel and backend libraries only register
# operators from static initialisers, so they are linked with --no-as-needed (otherwise the
# linker drops them and loading a program fails with "Missing operator", error 0x14); an rpath
# to the wheel's lib/ lets the binary run without LD_LIBRARY_PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
cxx="${CXX:-g++}"
out="$here/build"

if [[ ! -x "$python" ]]; then
  echo "build.sh: error: no Python at $python (set PYTHON=...)" >&2
  exit 1
fi
et="$("$python" -c "import importlib.util as u; s = u.find_spec('executorch'); print(s.submodule_search_locations[0])")" || {
  echo "build.sh: error: $python has no executorch package" >&2
  exit 1
}
inc="$et/include"
lib="$et/lib"
for need in "$inc/executorch/extension/module/module.h" "$lib/libexecutorch.so" \
            "$lib/libexecutorch_kernels_optimized.so" "$lib/libexecutorch_kernels_quantized.so" \
            "$lib/libexecutorch_backend_xnnpack.so" "$lib/libexecutorch_threadpool.so"; do
  if [[ ! -e "$need" ]]; then
    echo "build.sh: error: the executorch wheel at $et lacks $need" >&2
    exit 1
  fi
done

mkdir -p "$out"
# Definitions and include dirs as lib/cmake/executorch/executorch-config.cmake gives them
# (EXECUTORCH_COMPILE_DEFINITIONS, EXECUTORCH_INCLUDE_DIRS): the shipped libraries are built with
# ET_EVENT_TRACER_ENABLED, which changes class layouts, so it must match.
set -x
"$cxx" -std=c++17 ${CXXFLAGS:--O2} -Wall -Wextra \
  -DC10_USING_CUSTOM_GENERATED_MACROS -DET_EVENT_TRACER_ENABLED -DET_USE_THREADPOOL \
  -isystem "$inc" -isystem "$inc/executorch/runtime/core/portable_type/c10" \
  "$here/demix_native.cpp" -o "$out/demix_native.$$.tmp" \
  -L"$lib" -Wl,-rpath,"$lib" \
  -Wl,--push-state,--no-as-needed \
  -lexecutorch_kernels_optimized -lexecutorch_kernels_quantized -lexecutorch_backend_xnnpack \
  -Wl,--pop-state \
  -lexecutorch_threadpool -lexecutorch -lpthread -ldl
mv -f "$out/demix_native.$$.tmp" "$out/demix_native"
