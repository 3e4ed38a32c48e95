#!/usr/bin/env bash
# On a laptop or workstation: .venv with the cluster's Python version, the packages of
# requirements.txt and requirements-dev.txt, this project in editable mode, and the pre-commit hook.
#   scripts/setup-laptop.sh        (again at any time: it reuses .venv and only tops it up)
{%- if cookiecutter.framework == "pytorch" %}
# On Linux without a GPU, a CPU-only torch is much smaller to download:
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu scripts/setup-laptop.sh
{%- endif %}
set -euo pipefail

python_version={{ cookiecutter.python_version.split('.')[:2] | join('.') | shquote }}
python="python$python_version"
venv=.venv

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup-laptop.sh: %s\n' "$*"; }
fail() {
  printf 'setup-laptop.sh: ERROR: %s\n' "$*" >&2
  exit 1
}

if [[ -x "$venv/bin/python" ]]; then
  have="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
    fail "$venv exists but its python does not run: remove it (rm -rf $venv) and run this again"
  [[ "$have" == "$python_version" ]] ||
    fail "$venv has Python $have, the cluster uses $python_version: remove it (rm -rf $venv) and run this again"
  say "reusing $venv (Python $have)"
else
  # Run it rather than look it up: a pyenv shim exists even when that version is not selected.
  "$python" -c 'import sys' >/dev/null 2>&1 ||
    fail "$python not found or not runnable: the cluster runs Python $python_version, install the same here, e.g. 'uv python install $python_version', 'pyenv install $python_version' (then 'pyenv local $python_version'), or 'sudo apt install python$python_version python$python_version-venv', then run this again"
  if command -v virtualenv >/dev/null 2>&1; then
    say "creating $venv with virtualenv -p $python (as on the cluster)"
    virtualenv -p "$python" "$venv"
  else
    say "note: virtualenv not found, using '$python -m venv' instead (pip install --user virtualenv to match the cluster)"
    "$python" -m venv "$venv" ||
      fail "'$python -m venv' failed; install virtualenv, or on Debian/Ubuntu: sudo apt install python$python_version-venv"
  fi
fi

say "installing requirements.txt, requirements-dev.txt and this project (editable)"
"$venv/bin/python" -m pip install --upgrade pip
"$venv/bin/python" -m pip install -r requirements.txt -r requirements-dev.txt
"$venv/bin/python" -m pip install -e .

if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  "$venv/bin/pre-commit" install
else
  say "not in a git repository: after 'git init', run: $venv/bin/pre-commit install"
fi

say "ready. Try: $venv/bin/python -m pytest -q    and    $venv/bin/pre-commit run --all-files"
