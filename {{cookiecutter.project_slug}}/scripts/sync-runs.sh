#!/bin/bash
# On a login node: upload to Weights & Biases the runs that jobs wrote offline, each run once.
#   scripts/sync-runs.sh [RUNS]      RUNS: the jobs' runs folder (default: where job.sh writes them)
# Activate the login-node venv first (scripts/setup-cluster.sh), which has wandb, and log in once
# (wandb login). A run uploaded in full is marked (.synced beside it) and skipped the next time;
# a run written in the last 10 minutes is left for the next time (its job may be writing it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-${RESULTS_ROOT:-${SCRATCH:-$HOME/scratch}/{{ cookiecutter.project_slug }}}/runs}"
say() { printf 'sync-runs.sh: %s\n' "$*"; }
command -v wandb >/dev/null 2>&1 || {
  say "ERROR: no wandb command: activate the login-node venv first: source ~/venvs/{{ cookiecutter.project_slug }}/bin/activate" >&2
  exit 1
}
[[ -d "$runs" ]] || {
  say "ERROR: no runs folder $runs (give it: scripts/sync-runs.sh RUNS)" >&2
  exit 1
}
synced=0 skipped=0 failed=0
for offline in "$runs"/*/wandb/offline-run-*; do
  [[ -d "$offline" ]] || continue
  if [[ -e "$offline.synced" ]]; then
    skipped=$((skipped + 1))
  elif [[ -n "$(find "$offline" -mmin -10 -print -quit)" ]]; then
    say "not yet $offline: written in the last 10 minutes (is its job still running?); run this again once it ends"
  elif wandb sync "$offline"; then
    touch "$offline.synced"
    synced=$((synced + 1))
  else
    say "could not upload $offline: it is tried again next time"
    failed=$((failed + 1))
  fi
done
say "$synced run(s) uploaded, $skipped already uploaded before, $failed failed, in $runs"
[[ "$failed" -eq 0 ]]
