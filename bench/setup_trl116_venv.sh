#!/usr/bin/env bash
# The one virtual environment with TRL 1.16 (test and benchmark dependency only; the studio never imports it):
# bench/trl_rloo.py and bench/trl_kto_loss.py compare against its trainers, tests/test_jobs_trl.py runs exported
# jobs in it. Kept apart from the studio's .venv and from bench/.venv-trl (TRL 1.12, for PPO). torch comes first,
# pinned to the CPU wheel, so pip pulls no CUDA build. Idempotent: a no-op when the pins are already there.
set -euo pipefail
cd "$(dirname "$0")"
V=.venv-trl116
PINS=("trl==1.16.0" "transformers==5.24.0" "peft==0.21.2" "accelerate==1.15.0" "datasets==5.2.0" gguf safetensors psutil)
NODEPS="openrlhf==0.11.2"  # only for its argument parser's source, which the PPO job's flags are checked against
stamp="$V/.pins"
[[ -f "$stamp" && "$(cat "$stamp")" == "${PINS[*]} $NODEPS" ]] && exit 0
[ -x $V/bin/python ] || python3 -m venv $V
$V/bin/pip install -q --disable-pip-version-check torch==2.13.0
$V/bin/pip install -q --disable-pip-version-check "${PINS[@]}"
$V/bin/pip install -q --disable-pip-version-check --no-deps "$NODEPS"
$V/bin/python -c "import trl, torch; print('trl', trl.__version__, 'torch', torch.__version__)"
echo "${PINS[*]} $NODEPS" > "$stamp"
