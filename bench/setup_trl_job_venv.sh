#!/usr/bin/env bash
# The venv that runs exported TRL jobs in tests (tests/test_jobs_trl.py): TRL 1.16 is a test dependency
# only, never imported by the studio. torch comes first, pinned to the CPU wheel, so pip pulls no CUDA build.
# Idempotent: a no-op when the pinned versions are already there.
set -euo pipefail
cd "$(dirname "$0")"
V=.venv-trl-job
PINS=("trl==1.16.0" "transformers==5.24.0" "peft==0.21.2" "accelerate==1.15.0" "datasets==5.2.0")
NODEPS="openrlhf==0.11.2"
stamp="$V/.pins"
[[ -f "$stamp" && "$(cat "$stamp")" == "${PINS[*]} $NODEPS" ]] && exit 0
[ -x $V/bin/python ] || python3 -m venv $V
$V/bin/pip install -q --disable-pip-version-check torch==2.13.0
$V/bin/pip install -q --disable-pip-version-check "${PINS[@]}"
# OpenRLHF only for its argument parser's source, which the PPO job's flags are checked against (no GPU deps).
$V/bin/pip install -q --disable-pip-version-check --no-deps "$NODEPS"
$V/bin/python -c "import trl, torch; print('trl', trl.__version__, 'torch', torch.__version__)"
echo "${PINS[*]} $NODEPS" > "$stamp"
