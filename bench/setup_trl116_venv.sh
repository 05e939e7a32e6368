#!/usr/bin/env bash
# The benchmark-only virtual environment with TRL 1.16.0 (for its RLOOTrainer, bench/trl_rloo.py), kept apart
# from the studio's own .venv and from bench/.venv-trl (TRL 1.12, for PPO). torch is installed first and pinned
# to the CPU wheel so pip does not pull a CUDA build; the other versions match the studio's venv.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-trl116/bin/python ] || python3 -m venv .venv-trl116
.venv-trl116/bin/pip install -q torch==2.13.0
.venv-trl116/bin/pip install -q "trl==1.16.0" "transformers==5.24.0" "peft==0.21.2" gguf safetensors psutil
.venv-trl116/bin/python -c "import trl, torch; print('trl', trl.__version__, 'torch', torch.__version__)"
