#!/usr/bin/env bash
# The benchmark-only virtual environment with TRL 1.12.0 (the last release with PPOTrainer), kept apart
# from the studio's own .venv. torch is pinned to the CPU wheel so pip does not pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-trl/bin/python ] || python3 -m venv .venv-trl
.venv-trl/bin/pip install -q torch==2.13.0
.venv-trl/bin/pip install -q "trl==1.12.0" peft gguf safetensors psutil
.venv-trl/bin/python -c "import trl, torch; print('trl', trl.__version__, 'torch', torch.__version__)"
