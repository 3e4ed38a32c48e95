#!/bin/bash
# On a login node: the project's venv in your home, from DRAC's wheelhouse, for interactive work,
# with this project installed in it (python -m <package>.train works from any folder).
#   scripts/setup-cluster.sh            then: source ~/venvs/{{ cookiecutter.project_slug }}/bin/activate
{%- if drac.cluster(cookiecutter.cluster).job_venv == "home" %}
# On {{ drac.cluster(cookiecutter.cluster).name }}, jobs use this venv too (the wiki's advice there: $SLURM_TMPDIR is a RAM disk
# and HOME is read-only in jobs): run this again after changing requirements.txt.
{%- else %}
# Jobs set up their own venv in $SLURM_TMPDIR (job.sh); this one is for the login node and salloc.
# A venv made here for the first time also fills the jobs' environment cache, so that the first
# job starts warm (scripts/job-node.sh).
{%- endif %}
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-$HOME/venvs/{{ cookiecutter.project_slug }}}"
if ! command -v module >/dev/null 2>&1; then
  echo "setup-cluster.sh: ERROR: the 'module' command is missing; run this on a {{ drac.cluster(cookiecutter.cluster).name }} login node" >&2
  exit 1
fi
mapfile -t modules < <(scripts/modules.sh) # StdEnv, python and modules.txt's, as job.sh loads them
module load "${modules[@]}"
{%- if drac.cluster(cookiecutter.cluster).job_venv == "home" %}
scripts/build-env.sh "$venv"
scripts/job-node.sh record-env "$venv"
scripts/job-node.sh add-project "$venv"
echo "setup-cluster.sh: {{ drac.cluster(cookiecutter.cluster).name }}'s jobs use this venv (HOME is read-only in jobs): run this again after changing requirements.txt"
{%- else %}
fresh=1
[[ ! -e "$venv" ]] || fresh=0
scripts/build-env.sh "$venv"
scripts/job-node.sh record-env "$venv"
if ((fresh)); then
  scripts/job-node.sh cache-env "$venv"
fi
scripts/job-node.sh add-project "$venv" # after the cache: the cached venv is not this project's
{%- endif %}
echo "setup-cluster.sh: activate it with: module load ${modules[*]} && source $venv/bin/activate"
