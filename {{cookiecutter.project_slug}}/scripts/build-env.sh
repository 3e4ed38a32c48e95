#!/bin/bash
# Build a venv from DRAC's wheelhouse, the way the DRAC wiki does: scripts/build-env.sh VENV_DIR
# Load the python module first (job.sh and setup-cluster.sh do).
set -euo pipefail
venv="${1:?usage: build-env.sh VENV_DIR}"
requirements="$(cd "$(dirname "$0")/.." && pwd)/requirements.txt"
fail() {
  echo "build-env.sh: ERROR: $*" >&2
  exit 1
}
command -v virtualenv >/dev/null 2>&1 ||
  fail "virtualenv is missing: load the python module first (module load {{ drac.python().stdenv }} python/{{ cookiecutter.python_version }})"
virtualenv --no-download "$venv" >/dev/null
"$venv/bin/pip" install --no-index --upgrade pip >/dev/null ||
  fail "pip could not be upgraded from the wheelhouse"
"$venv/bin/pip" install --no-index -r "$requirements" ||
  fail "a package of requirements.txt is not in DRAC's wheelhouse for this Python; on a login node run: avail_wheels -r requirements.txt --not-available-only"
echo "build-env.sh: venv ready in $venv"
