#!/usr/bin/env bash
# The C++ front end (addon/CMakeLists.txt): libchori and chori-predict under build/, against
# .venv's torch (its CMake package: torch.utils.cmake_prefix_path). CMake is the system's when
# it is 3.19 or newer, else the `cmake` package from PyPI, installed into .venv.
#   bash scripts/build-cpp.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
python=.venv/bin/python

cmake_ok() { "$1" -P <(echo 'if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "too old")
endif()') >/dev/null 2>&1; }
cmake=$(command -v cmake || true)
if [ -z "$cmake" ] || ! cmake_ok "$cmake"; then
  if [ ! -x .venv/bin/cmake ]; then
    echo "build-cpp: no CMake >= 3.19 on PATH; installing the cmake package into .venv"
    .venv/bin/pip install --disable-pip-version-check --quiet 'cmake>=3.19'
  fi
  cmake=.venv/bin/cmake
fi
prefix=$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
echo "build-cpp: $("$cmake" --version | head -1) ($cmake), libtorch from $prefix"
start=$(date +%s)
mkdir -p "$build"
"$cmake" -S addon -B "$build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log" >&2; exit 1; }
"$cmake" --build "$build" -j "$(nproc)"
echo "build-cpp: built $build/libchori.so and $build/chori-predict in $(( $(date +%s) - start )) s"
