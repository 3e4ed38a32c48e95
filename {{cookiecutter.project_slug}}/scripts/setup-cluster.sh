#!/bin/bash
# On a login node: the project's venv in your home, from DRAC's wheelhouse, for interactive work.
#   scripts/setup-cluster.sh            then: source ~/venvs/{{ cookiecutter.project_slug }}/bin/activate
# Jobs set up their own venv in $SLURM_TMPDIR (job.sh); this one is for the login node and salloc.
# A venv made here for the first time also fills the jobs' environment cache, so that the first
# job starts warm (scripts/job-node.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-$HOME/venvs/{{ cookiecutter.project_slug }}}"
if ! command -v module >/dev/null 2>&1; then
  echo "setup-cluster.sh: ERROR: the 'module' command is missing; run this on a {{ drac.cluster(cookiecutter.cluster).name }} login node" >&2
  exit 1
fi
module load {{ drac.python().stdenv }} python/{{ cookiecutter.python_version }}
fresh=1
[[ ! -e "$venv" ]] || fresh=0
scripts/build-env.sh "$venv"
if ((fresh)); then
  scripts/job-node.sh cache-env "$venv"
fi
echo "setup-cluster.sh: activate it with: module load {{ drac.python().stdenv }} python/{{ cookiecutter.python_version }} && source $venv/bin/activate"
