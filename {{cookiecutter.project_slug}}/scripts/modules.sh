#!/bin/bash
# The modules every part of the project loads, one a line: {{ drac.python().stdenv }}, python/{{ cookiecutter.python_version }}, then
# those of modules.txt. job.sh, scripts/setup-cluster.sh and scripts/doctor.sh load what it
# prints; scripts/job-node.sh keys the environment cache on it.
set -euo pipefail
cd "$(dirname "$0")/.."
printf '%s\n' {{ drac.python().stdenv | shquote }} {{ ("python/" ~ cookiecutter.python_version) | shquote }}
[[ -f modules.txt ]] || exit 0
sed -e 's/#.*//' -e 's/\r$//' modules.txt | while read -r -a names; do # words, never run as code
  for name in "${names[@]}"; do
    if [[ ! "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._/+-]*$ ]]; then
      echo "modules.sh: modules.txt: '$name' is not a module name (letters, digits, '.', '_', '/', '+', '-'); e.g. gcc arrow" >&2
      exit 1
    fi
    printf '%s\n' "$name"
  done
done
