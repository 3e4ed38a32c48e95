#!/bin/bash
# On a login node: the project's venv in your home, from DRAC's wheelhouse, for interactive work,
# with this project installed in it (python -m <package>.train works from any folder).
#   scripts/setup-cluster.sh    then, from any folder:
#   module load $(cat ~/venvs/{{ cookiecutter.project_slug }}/modules) && source ~/venvs/{{ cookiecutter.project_slug }}/bin/activate
{%- if drac.cluster(cookiecutter.cluster).job_venv == "home" %}
# On {{ drac.cluster(cookiecutter.cluster).name }}, jobs use this venv too (the wiki's advice there: $SLURM_TMPDIR is a RAM disk
# and HOME is read-only in jobs): run this again after changing requirements.txt.
{%- else %}
# Jobs set up their own venv in $SLURM_TMPDIR (job.sh); this one is for the login node and salloc.
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
# A venv made here for the first time fills the jobs' environment cache: the first job starts warm.
if ((fresh)); then scripts/job-node.sh cache-env "$venv"; fi
scripts/job-node.sh add-project "$venv" # after the cache: the cached venv is not this project's
{%- endif %}
printf '%s\n' "${modules[@]}" >"$venv/modules" # what to load before activating it, from any folder
echo "setup-cluster.sh: activate it with: module load \$(cat $venv/modules) && source $venv/bin/activate"
