#!/bin/bash
# Change this project's answers, or bring it to the newest template, without losing your edits.
#   scripts/regenerate.sh cluster=fir gpus_per_node=4   change answers (same template commit)
#   scripts/regenerate.sh time=1-00:00:00 mem=auto      KEY=auto: derived from the cluster again
#   scripts/regenerate.sh                               the newest template commit, same answers
#   scripts/regenerate.sh --latest cluster=rorqual      both
#   scripts/regenerate.sh --check                       exit 1 when the template has a newer commit
# Options: --checkout REF (a template branch, tag or commit), --template ADDRESS (clone the template
# from there, when it moved). Commit your work first. What changes is left uncommitted for
# 'git diff'; where your edit and the template's change touch the same lines, your version is kept
# and the template's change is printed to make by hand (exit 1). A refused answer changes nothing.
set -euo pipefail
project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly project state="$project/.cruft.json"
say() { printf 'regenerate.sh: %s\n' "$*" >&2; }
fail() {
  say "ERROR: $*"
  exit 2
}

template="" check=0 pass=()
while (($#)); do
  case "$1" in
    --template) template="${2:?--template needs an address}" && shift 2 ;;
    --template=*) template="${1#*=}" && shift ;;
    --check) check=1 && shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
    *) pass+=("$1") && shift ;;
  esac
done
[[ -f "$state" ]] || fail "$state not found: it records the template and answers this project was made from"

recorded() { # recorded KEY: a top-level value of .cruft.json, empty when null
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' "$state" "$1" ||
    fail "cannot read $state (python3 is needed)"
}
template="${template:-$(recorded template)}"
[[ -n "$template" ]] || fail "$state records no template address: pass --template ADDRESS"
export GIT_TERMINAL_PROMPT=0 # an unreachable template fails at once, never asks for a password

if ((check)); then
  ref="$(recorded checkout)"
  newest="$(timeout 30 git ls-remote "$template" "${ref:-HEAD}" 2>/dev/null | head -n 1 | cut -f1)" || true
  commit="$(recorded commit)"
  if [[ -z "$newest" ]]; then
    say "cannot reach the template at $template: not checked"
  elif [[ "$newest" == "$commit" ]]; then
    say "up to date with the template ($template, commit ${commit:0:12})"
  else
    say "the template has a newer commit (${newest:0:12}; this project: ${commit:0:12}): run scripts/regenerate.sh to bring it in"
    exit 1
  fi
  exit 0
fi

# A Python with cookiecutter 2.7: the project's .venv (scripts/setup-laptop.sh), python3, or a
# small venv of its own in ~/.cache, made once.
tools="${XDG_CACHE_HOME:-$HOME/.cache}/cookiecutter-drac-ml/tools"
python=""
for candidate in "$project/.venv/bin/python" python3 "$tools/bin/python"; do
  if "$candidate" -c 'import sys, cookiecutter; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    python="$candidate" && break
  fi
done
if [[ -z "$python" ]]; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    fail "cookiecutter needs Python 3.10 or newer, python3 here is $(python3 -V 2>&1): put a newer python3 first on PATH, or run scripts/setup-laptop.sh (this script uses its .venv)"
  say "installing cookiecutter into $tools (once)"
  python="$tools/bin/python"
  { python3 -m venv --clear "$tools" && "$python" -m pip install -q 'cookiecutter>=2.7,<2.8'; } ||
    fail "could not install cookiecutter into $tools: run scripts/setup-laptop.sh, or pip install 'cookiecutter>=2.7,<2.8'"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
say "fetching the template from $template"
git clone --quiet "$template" "$scratch/template" 2>"$scratch/clone.log" ||
  fail "cannot reach the template at $template ($(tail -n 1 "$scratch/clone.log")): check the address and the network, or pass --template ADDRESS"
[[ -f "$scratch/template/drac_template/regenerate.py" ]] ||
  fail "$template is not cookiecutter-drac-ml (no drac_template/regenerate.py): pass --template ADDRESS"
cd "$scratch/template"
"$python" -m drac_template.regenerate --project "$project" --template "$template" "${pass[@]}"
