#!/usr/bin/env bash
# llama-cpp-python in its own venv (a test dependency only; the studio never imports it): with it,
# tests/training/test_gguf_export.py also runs the exported GGUF in llama.cpp itself and checks its greedy answers.
# PyPI has only its source for Linux here, so this compiles llama.cpp: about 10 minutes on 2 quiet cores
# (28 min at nice 19 on a busy machine). Idempotent: a no-op when the pin is already there.
set -euo pipefail
cd "$(dirname "$0")"
V=.venv-llama
PIN="llama-cpp-python==0.3.36"  # the same release whose converter the studio uses (scripts/fetch_gguf_converter.py)
[[ -f "$V/.pins" && "$(cat "$V/.pins")" == "$PIN" ]] && exit 0
[ -x $V/bin/python ] || python3 -m venv $V
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF" \
  $V/bin/pip install -q --disable-pip-version-check "$PIN"
$V/bin/python -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"
echo "$PIN" > "$V/.pins"
