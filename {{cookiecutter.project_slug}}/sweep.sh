#!/bin/bash
# A job array: one task per parameter line, at most MAX_RUNNING at once.
#   ./sweep.sh [PARAM_FILE] [MAX_RUNNING] [-- TRAINING FLAGS FOR EVERY TASK]
# Each non-empty, non-# line of PARAM_FILE (default sweep.txt) holds training flags for one
# task. Task N logs to {{ cookiecutter.project_slug }}-<array id>_N.out and writes its checkpoint and metrics to
# its own folder, $SCRATCH/{{ cookiecutter.project_slug }}/runs/<array id>_N.
set -euo pipefail
cd "$(dirname "$0")"
params="${1:-sweep.txt}"
max_running="${2:-4}"
shift $(($# < 2 ? $# : 2))
[[ "${1:-}" == "--" ]] && shift
[[ -f "$params" ]] || {
  echo "sweep.sh: parameter file not found: $params" >&2
  exit 1
}
[[ "$max_running" =~ ^[1-9][0-9]*$ ]] || {
  echo "sweep.sh: MAX_RUNNING '$max_running': expected a whole number, at least 1; e.g. 4" >&2
  exit 1
}
count="$(grep -c -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$params" || true)"
[[ "$count" -gt 0 ]] || {
  echo "sweep.sh: $params has no parameter lines" >&2
  exit 1
}
SWEEP_FILE="$(realpath "$params")" exec sbatch --array="1-$count%$max_running" --output=%x-%A_%a.out job.sh "$@"
