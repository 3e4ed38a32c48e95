#!/bin/bash
# One node's share of job.sh, run through srun so that $SLURM_TMPDIR is that node's local disk:
#   job-node.sh build-env            venv in $SLURM_TMPDIR/env from the wheelhouse
#   job-node.sh stage-data ARCHIVE   extract the dataset archive into $SLURM_TMPDIR/data
#   job-node.sh train [ARGS...]      run the training in that venv, on that data
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:?usage: job-node.sh build-env | stage-data ARCHIVE | train [ARGS...]}"
shift
case "$action" in
  build-env)
    scripts/build-env.sh "$SLURM_TMPDIR/env"
    ;;
  stage-data)
    mkdir -p "$SLURM_TMPDIR/data"
    tar -xf "${1:?stage-data needs the archive}" -C "$SLURM_TMPDIR/data"
    ;;
  train)
    # shellcheck disable=SC1091  # the venv exists only inside the job
    source "$SLURM_TMPDIR/env/bin/activate"
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    exec python -m {{ cookiecutter.package_name }}.train --data-dir "$SLURM_TMPDIR/data" "$@"
    ;;
  *)
    echo "job-node.sh: unknown action '$action'" >&2
    exit 2
    ;;
esac
