#!/bin/bash
# Train my_ml_project on Narval. Submit from this folder: sbatch job.sh [training flags]
# or run a command of your own instead (README, "Bring your own training script"): sbatch job.sh -- COMMAND [ARGS]
# The job builds its venv in $SLURM_TMPDIR, stages the dataset there, trains, and saves a
# checkpoint and requeues itself 300 s before its time limit; the next run resumes.
#SBATCH --job-name=my_ml_project              # logs and squeue show this name
#SBATCH --account=def-someuser                # Slurm account (CCDB group name); SBATCH_ACCOUNT overrides it
#SBATCH --time=3:00:00                        # time limit per run, D-HH:MM:SS (Narval max 7-00:00:00)
#SBATCH --nodes=1                             # nodes
#SBATCH --ntasks-per-node=1                   # one task per GPU
#SBATCH --cpus-per-task=6                     # cores per task
#SBATCH --mem=62G                             # memory per node
#SBATCH --gpus-per-node=a100_3g.20gb:1        # NVIDIA A100-SXM4 40 GB, MIG slice 3g, per node
#SBATCH --output=%x-%j.out                    # log: <job name>-<job id>.out in the submit folder
#SBATCH --open-mode=append                    # a requeued run appends to the same log
#SBATCH --signal=B:USR1@300                   # warn this script 300 s before the time limit
#SBATCH --requeue                             # the job may be requeued (it does so itself)
set -euo pipefail
if [[ -z "${SLURM_JOB_ID:-}" ]]; then
  echo "job.sh: this is a Slurm job: submit it on the cluster with: sbatch job.sh [training flags]" >&2
  exit 1
fi

readonly placeholder_accounts=(def-someuser aip-someuser)
project_space="$HOME/projects/def-someuser"
user="${USER:-$(id -un)}" # your folder in the group's project space is $project_space/$user
dataset_archive="${DATASET_ARCHIVE:-$project_space/$user/my_ml_project/data/dataset.tar}"
results_root="${RESULTS_ROOT:-${SCRATCH:-$HOME/scratch}/my_ml_project}"
# A run is a folder under runs/: RUN_ID=<an earlier job id, or a name> resumes (or names) one.
run_name="${RUN_ID:-${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}}"
run_id="$run_name${SLURM_ARRAY_TASK_ID:+_$SLURM_ARRAY_TASK_ID}"
run_dir="$results_root/runs/$run_id"

run_start="$(date +%s.%N)"
max_stalls="${MAX_REQUEUES_WITHOUT_PROGRESS:-3}" # requeues in a row that saved no new step
checkpoint_mark() { stat -c %Y "$run_dir"/checkpoint[.-]* 2>/dev/null | sort -n | tail -n 1 || true; } # the newest one's time
start_mark="$(checkpoint_mark)"

log() { printf '%s job.sh: %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  log "ERROR: $*"
  exit 1
}
seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

cd "$SLURM_SUBMIT_DIR"
log "job $SLURM_JOB_ID (run $((${SLURM_RESTART_COUNT:-0} + 1))) on $SLURM_JOB_NUM_NODES node(s): ${SLURM_JOB_NODELIST:-?}"

# ---- fail early, with the fix, before anything slow ----
[[ " ${placeholder_accounts[*]} " != *" ${SLURM_JOB_ACCOUNT:-} "* ]] ||
  die "the job runs under the placeholder account $SLURM_JOB_ACCOUNT: put your account (CCDB group name) in job.sh (#SBATCH --account) and scripts/bashrc-snippet.sh, or run: sbatch --account=def-yourprof job.sh"
[[ "$run_name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
  die "RUN_ID '$run_name': expected letters, digits, '.', '_' or '-' (a job id or a name); e.g. RUN_ID=baseline sbatch job.sh"
[[ -f "$dataset_archive" ]] ||
  die "dataset archive not found: $dataset_archive; make one with 'python -m my_ml_project.make_dataset data/dataset.tar' and copy it there, or run: DATASET_ARCHIVE=/path/to/archive.tar sbatch job.sh"
[[ "${1:-}" != -- || $# -gt 1 ]] || die "nothing after --: sbatch job.sh -- COMMAND [ARGS], e.g. sbatch job.sh -- python my_train.py"
words=("$@") # training flags, or -- and a command of your own (words, never evaluated as code)
submit=(sbatch job.sh)
if [[ -n "${SLURM_ARRAY_TASK_ID:-}" ]]; then
  sweep_file="${SWEEP_FILE:-sweep.txt}"
  [[ -f "$sweep_file" ]] || die "sweep file not found: $sweep_file (sweep.sh sets SWEEP_FILE)"
  [[ "$SLURM_ARRAY_TASK_ID" =~ ^[1-9][0-9]*$ ]] ||
    die "array task $SLURM_ARRAY_TASK_ID: a sweep's tasks are numbered from 1, one per line of $sweep_file (./sweep.sh numbers them)"
  line="$(awk -v n="$SLURM_ARRAY_TASK_ID" '/^[[:space:]]*(#|$)/ { next } ++i == n { print; exit }' "$sweep_file")"
  [[ -n "$line" ]] || die "$sweep_file has no parameter line $SLURM_ARRAY_TASK_ID"
  read -r -a sweep_args <<<"$line"
  words+=("${sweep_args[@]}")
  submit=(SWEEP_FILE="$sweep_file" sbatch --array="$SLURM_ARRAY_TASK_ID" job.sh)
  log "sweep task $SLURM_ARRAY_TASK_ID: $line"
fi
if [[ "${1:-}" == -- ]]; then # a sweep line adds to the command or to the training flags
  work=(run "${words[@]:1}") # what scripts/job-node.sh runs on each node
else
  for arg in "${words[@]}"; do
    case "$arg" in
      --run-dir | --run-dir=* | --data-dir | --data-dir=*)
        die "${arg%%=*} is job.sh's to set (the run folder $run_dir, the data in \$SLURM_TMPDIR): name a run with RUN_ID=<name> sbatch job.sh, choose the data with DATASET_ARCHIVE=<archive>" ;;
    esac
  done
  work=(train --run-dir "$run_dir" "${words[@]}")
fi
# what a resumed job needs to find this run's folder and data again (sbatch options are not known)
for name in DATASET_ARCHIVE RESULTS_ROOT; do
  if [[ -n "${!name:-}" ]]; then submit=("$name=${!name}" "${submit[@]}"); fi
done
resume="$(printf '%q ' RUN_ID="$run_name" "${submit[@]}" "$@")" # the command that resumes this run
done_mark="$run_dir/done" # holds the words of the run's last training that finished
if [[ -n "${CHAIN_JOB:-}" && -f "$done_mark" && "$(cat "$done_mark")" == "$(printf '%s\n' "${words[@]}")" ]]; then
  log "run $run_id is done already: this job of scripts/chain.sh ends without training; results in $run_dir"
  exit 0
fi

# ---- software: the cluster's modules, a venv on each node's local disk ----
command -v module >/dev/null 2>&1 || die "the 'module' command is missing: submit from a login shell on the cluster"
module_list="$(scripts/modules.sh)" || die "scripts/modules.sh could not read modules.txt: see the line above"
mapfile -t modules <<<"$module_list"
module purge # only the project's modules, not those of the shell that submitted the job
module load "${modules[@]}" ||
  die "could not load ${modules[*]} (scripts/modules.sh: StdEnv/2023, python, modules.txt); run 'module spider <name>' on a login node"
export OMP_NUM_THREADS="$SLURM_CPUS_PER_TASK"
export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK" # srun does not inherit --cpus-per-task
# Narval's compute nodes have no internet: Hugging Face reads only its cache, W&B writes to disk.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1
export WANDB_MODE=offline
export HF_HOME="${HF_HOME:-${SCRATCH:-$HOME/scratch}/huggingface}" # where the login node downloads (scripts/bashrc-snippet.sh)
export HF_HUB_DISABLE_XET=1                   # the wiki's Huggingface page: hf_xet fails on DRAC's systems
per_node=(srun --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --kill-on-bad-exit=1)

run_args=(--job-id "$SLURM_JOB_ID" --restart "${SLURM_RESTART_COUNT:-0}" --nodes "${SLURM_JOB_NODELIST:-}"
  --gpus "$((1 * SLURM_JOB_NUM_NODES))" --start "$run_start")
report() { # OUTCOME: add this job to $run_dir/run.json, and log the one-line summary
  python scripts/run-report.py "$run_dir" "${run_args[@]}" --setup "$setup_seconds" --outcome "$1" |
    while IFS= read -r line; do log "$line"; done || true
}

requeue() { # WHY: requeue the job to resume, unless it keeps coming back without a new checkpoint
  local stalls=0
  mkdir -p "$run_dir"
  [[ "$(checkpoint_mark)" != "$start_mark" ]] || stalls="$(($(cat "$stalls_file" 2>/dev/null || echo 0) + 1))"
  echo "$stalls" >"$stalls_file"
  if ((stalls > max_stalls)); then
    report failed
    die "$1, but the job was requeued $max_stalls times in a row without a new checkpoint: not again (MAX_REQUEUES_WITHOUT_PROGRESS=$max_stalls); see the lines above, then resume with: $resume"
  fi
  report requeued
  log "$1; requeueing job $SLURM_JOB_ID to resume"
  if ! scontrol requeue "$SLURM_JOB_ID"; then # some clusters refuse Slurm commands from compute nodes
    report stopped >/dev/null # its summary is the one above
    log "the cluster refused the requeue: the run stopped; resume it from its last checkpoint with: $resume(or chain jobs from the start: scripts/chain.sh)"
  fi
}

phase=setup
asking="" # the process that asks the training to save, once the time limit is near
setup_seconds=0
stalls_file="$run_dir/requeues-without-progress" # how many requeues in a row saved no new checkpoint
# a new job (RUN_ID=... sbatch job.sh too) starts its count afresh
[[ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]] || rm -f "$stalls_file"
on_time_limit() {
  trapped=1
  if [[ "$phase" != train ]]; then
    requeue "time limit reached during $phase"
    exit 0
  elif [[ -z "$asking" ]]; then # now and every 10 s: a training still starting up gets it once it listens
    log "time limit in 300 s: asking the training to save a checkpoint"
    scancel --signal=USR1 "$SLURM_JOB_ID" || true # its errors shown once, not every 10 s
    while sleep 10; do scancel --signal=USR1 "$SLURM_JOB_ID" 2>/dev/null || true; done &
    asking=$!
  fi
}
trap on_time_limit USR1

log "setting up the venv in \$SLURM_TMPDIR on each node, from the environment cache or the wheelhouse"
setup_start="$(date +%s.%N)"
"${per_node[@]}" scripts/job-node.sh build-env || die "the venv could not be set up on every node: see the lines above"
log "venv ready on every node in $(seconds_since "$setup_start") s"
log "staging $dataset_archive into \$SLURM_TMPDIR/data"
"${per_node[@]}" scripts/job-node.sh stage-data "$dataset_archive" ||
  die "$dataset_archive could not be extracted on every node (a tar archive? room in \$SLURM_TMPDIR?): see the lines above"
setup_seconds="$(seconds_since "$setup_start")"
mkdir -p "$run_dir"
export JOB_RUN_DIR="$run_dir" # job-node.sh samples the GPUs into $JOB_RUN_DIR/usage
# A run Slurm kills (a node failure, an administrator's requeue) cannot report itself: the next
# run's report finds it from this, and from job-node.sh's heartbeat.
report started

# ---- the work: in the background, so the USR1 trap runs while it trains ----
phase=train
stopped="$run_dir/stopped.json" # rank 0 writes it once the checkpoint of a stop is complete
hung="$run_dir/hung.json"       # a rank's watchdog writes it when no step finished for --hang-minutes
rm -f "$stopped" "$hung"
log "training; results and checkpoints in $run_dir"
log_start="$(stat -L -c %s /proc/$$/fd/1 2>/dev/null || echo 0)" # this job's log: what the training prints
srun --kill-on-bad-exit=1 scripts/job-node.sh "${work[@]}" & # your command: JOB_RUN_DIR is its run folder, JOB_DATA_DIR its data
train_pid=$!
while :; do # a trap cuts a wait short (status > 128): wait again until the training ends
  trapped=0 status=0
  wait "$train_pid" || status=$?
  ((status > 128 && trapped)) || break
done
[[ -z "$asking" ]] || kill "$asking" 2>/dev/null || true

# The marker, not srun's status, says a stop was saved: with several ranks, srun terminates the
# ranks still shutting down once the first exits 3, and may report their status instead.
if [[ -f "$stopped" ]]; then
  requeue "checkpoint saved (training exited with status $status)"
elif [[ -f "$hung" ]]; then
  requeue "the training hung: no step finished for --hang-minutes (the watchdog's stacks are above)"
elif [[ "$status" -eq 0 ]]; then
  printf '%s\n' "${words[@]}" >"$done_mark"
  report "done"
  log "done: results in $run_dir"
else
  report failed
  # exit 2: bad input, or a run folder of other settings; not a crash
  [[ "$status" -ne 2 ]] || die "training refused to start (exit 2): the error above says why and how to go on; nothing was trained"
  # the module a Python traceback of this run named missing, if any (this job's log is a file)
  [[ ! -f /proc/$$/fd/1 ]] || module="$(tail -c "+$((log_start + 1))" /proc/$$/fd/1 |
    sed -n "s/^ModuleNotFoundError: No module named '\([^'.]*\).*/\1/p" | tail -n 1)"
  [[ -z "${module:-}" ]] || die "no module named '$module' in the venv: add the package that provides it to requirements.txt (most have its name: pip install --no-index $module; PIL is pillow, sklearn is scikit-learn; avail_wheels NAME lists DRAC's wheels), then resume with: $resume"
  die "training exited with status $status (see the lines above); after a fix, resume from its last checkpoint with: $resume"
fi
