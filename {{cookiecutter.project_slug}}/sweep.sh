#!/bin/bash
# A job array: one task per parameter line, at most MAX_RUNNING at once.
#   ./sweep.sh [PARAM_FILE] [MAX_RUNNING] [-- TRAINING FLAGS FOR EVERY TASK]
#   ./sweep.sh sweep.txt 4 -- -- python my_train.py    your own command (job.sh -- COMMAND): each
#                                                      task adds its line's words to it
# Each non-empty, non-# line of PARAM_FILE (default sweep.txt) holds training flags for one
# task. Task N logs to {{ cookiecutter.project_slug }}-<array id>_N.out and writes its checkpoint and metrics to
# its own folder, $SCRATCH/{{ cookiecutter.project_slug }}/runs/<array id>_N.
# Each task counts as one job against {{ drac.cluster(cookiecutter.cluster).name }}'s limit of {{ drac.cluster(cookiecutter.cluster).job_limit }} jobs per user, pending or running.
# A task reads its line when it starts: do not edit PARAM_FILE while tasks are pending.
set -euo pipefail
cd "$(dirname "$0")"
job_limit={{ drac.cluster(cookiecutter.cluster).job_limit }}
die() {
  echo "sweep.sh: $*" >&2
  exit 1
}
command -v sbatch >/dev/null 2>&1 ||
  die "this submits a job array on the cluster: run it there, in the project folder (no sbatch here)"
params="${1:-sweep.txt}"
max_running="${2:-4}"
shift $(($# < 2 ? $# : 2))
[[ "${1:-}" == "--" ]] && shift
[[ -f "$params" ]] || die "parameter file not found: $params"
[[ "$max_running" =~ ^[1-9][0-9]*$ ]] || die "MAX_RUNNING '$max_running': expected a whole number, at least 1; e.g. 4"
count="$(grep -c -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$params" || true)"
[[ "$count" -gt 0 ]] || die "$params has no parameter lines"
queued="$(squeue -h -u "${USER:-$(id -un)}" -r 2>/dev/null | wc -l)" || queued=0 # each array task counts
((queued + count <= job_limit)) ||
  die "$count tasks and your $queued queued jobs exceed the limit of $job_limit jobs per user; split $params, or wait for jobs to end"
SWEEP_FILE="$(realpath "$params")" exec sbatch --array="1-$count%$max_running" --output=%x-%A_%a.out job.sh "$@"
