#!/usr/bin/env bash
# On a laptop or workstation: .venv with the cluster's Python version, the packages of
# requirements.txt and requirements-dev.txt, this project in editable mode, and the pre-commit hook.
#   scripts/setup-laptop.sh                       (again at any time: it reuses .venv and tops it up)
#   PYTHON=python3.11 scripts/setup-laptop.sh     another local Python than the cluster's (a warning);
#                                                 remembered in .venv: later runs need no PYTHON=
{%- if cookiecutter.framework == "pytorch" %}
#   scripts/setup-laptop.sh --cuda                torch with CUDA, where it would take the CPU build
# On Linux without an NVIDIA GPU, torch comes from PyTorch's CPU index (about 200 MB, not 5 GB).
{%- endif %}
set -euo pipefail

python_version={{ cookiecutter.python_version.split('.')[:2] | join('.') | shquote }}
python="${PYTHON:-python$python_version}"
venv=.venv
chosen="$venv/.python-chosen" # the version of a Python chosen with PYTHON=, for later runs

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup-laptop.sh: %s\n' "$*"; }
fail() {
  printf 'setup-laptop.sh: ERROR: %s\n' "$*" >&2
  exit 1
}

if [[ -x "$venv/bin/python" ]]; then
  have="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
    fail "$venv exists but its python does not run: remove it (rm -rf $venv) and run this again"
  [[ "$have" == "$python_version" || -n "${PYTHON:-}" || "$(cat "$chosen" 2>/dev/null)" == "$have" ]] ||
    fail "$venv has Python $have, the cluster uses $python_version: remove it (rm -rf $venv) and run this again, or keep it: PYTHON=python$have scripts/setup-laptop.sh"
  say "reusing $venv (Python $have)"
else
  # Run it rather than look it up: a pyenv shim exists even when that version is not selected.
  if ! "$python" -c 'import sys' >/dev/null 2>&1; then
    found=""
    for minor in $(seq 20 -1 10); do
      if [[ "python3.$minor" != "$python" ]] && "python3.$minor" -c 'import sys' >/dev/null 2>&1; then
        found="${found:+$found }python3.$minor"
      fi
    done
    [[ -z "${PYTHON:-}" ]] || fail "PYTHON=$python: not found or not runnable here;${found:+ Pythons found here: $found}"
    fail "$python not found or not runnable: the cluster runs Python $python_version, install the same here, e.g. 'uv python install $python_version', 'pyenv install $python_version' (then 'pyenv local $python_version'), or 'sudo apt install python$python_version python$python_version-venv', then run this again${found:+; or use a Python found here ($found), for example: PYTHON=${found%% *} scripts/setup-laptop.sh}"
  fi
  have="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if command -v virtualenv >/dev/null 2>&1; then
    say "creating $venv with virtualenv -p $python (as on the cluster)"
    virtualenv -p "$python" "$venv"
  else
    say "note: virtualenv not found, using '$python -m venv' instead (pip install --user virtualenv to match the cluster)"
    "$python" -m venv "$venv" ||
      fail "'$python -m venv' failed; install virtualenv, or on Debian/Ubuntu: sudo apt install python$have-venv"
  fi
fi
if [[ -n "${PYTHON:-}" && "$have" != "$python_version" ]]; then
  echo "$have" >"$chosen"
  say "$venv keeps Python $have: later runs need no PYTHON= (rm -rf $venv to start again)"
fi

if [[ "$have" != "$python_version" ]]; then
  say "WARNING: $venv runs Python $have, the cluster $python_version: what works here may not work there, and the wheels differ"
fi

index=()
{%- if cookiecutter.framework == "pytorch" %}
if [[ "$(uname -s)" == Linux && "${1:-}" != --cuda ]] && ! command -v nvidia-smi >/dev/null 2>&1; then
  say "no NVIDIA GPU here: torch's CPU build, from PyTorch's CPU index (scripts/setup-laptop.sh --cuda for CUDA)"
  index=(--extra-index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}")
fi
{%- endif %}
say "installing requirements.txt, requirements-dev.txt and this project (editable)"
"$venv/bin/python" -m pip install --upgrade pip
# ${a[@]+"${a[@]}"}: an empty array under set -u, in macOS's bash 3.2 too
"$venv/bin/python" -m pip install ${index[@]+"${index[@]}"} -r requirements.txt -r requirements-dev.txt -e .

if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  "$venv/bin/pre-commit" install
else
  say "not in a git repository: after 'git init', run: $venv/bin/pre-commit install"
fi

say "ready. Try: $venv/bin/python -m pytest -q    and    $venv/bin/pre-commit run --all-files"
