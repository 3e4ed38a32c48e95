#!/bin/bash
# One run as a chain of N jobs: each job starts when the one before it ends, however it ended, and
# resumes the run from its last checkpoint; once the run is done, the jobs left end at once.
# For a run longer than the time limit, and for clusters where a job cannot requeue itself.
#   scripts/chain.sh N [SBATCH OPTIONS] [-- TRAINING FLAGS]
#   scripts/chain.sh 3 --time=1-00:00:00 -- --epochs 200
# RUN_ID=<name> scripts/chain.sh ... names the run (or goes on with an earlier one); by default
# the run is named after the first job's id. Prints one line per job submitted.
set -euo pipefail
cd "$(dirname "$0")/.."
die() {
  echo "chain.sh: $*" >&2
  exit 1
}
count="${1:-}"
[[ "$count" =~ ^[1-9][0-9]?$ ]] || die "N '$count': expected the number of jobs, 1 to 99; e.g. scripts/chain.sh 3 -- --epochs 200"
shift
sbatch_options=()
while (($#)) && [[ "$1" != -- ]]; do
  sbatch_options+=("$1")
  shift
done
if (($#)); then shift; fi # the --; what is left goes to the training
export CHAIN_JOB=1         # job.sh: end at once when the run is already done
after=() ids=()
for ((i = 1; i <= count; i++)); do
  job_id="$(sbatch --parsable "${after[@]}" "${sbatch_options[@]}" job.sh "$@")" ||
    die "sbatch refused job $i of $count (its message is above)${ids[*]:+; submitted before it: ${ids[*]}}"
  job_id="${job_id%%;*}"
  ids+=("$job_id")
  export RUN_ID="${RUN_ID:-$job_id}"
  echo "Submitted batch job $job_id ($i of $count, run $RUN_ID)"
  after=(--dependency=afterany:"$job_id")
done
