#!/bin/bash
{%- set c = drac.cluster(cookiecutter.cluster) %}
# One node's share of job.sh, run through srun so that $SLURM_TMPDIR is that node's local disk:
#   job-node.sh build-env [DIR]      the venv in DIR (default $SLURM_TMPDIR/env): from the
#                                    environment cache, or built from the wheelhouse, then cached
#   job-node.sh cache-env DIR        cache the freshly built venv in DIR (scripts/setup-cluster.sh)
#   job-node.sh record-env DIR       note in DIR what the venv was built for (scripts/setup-cluster.sh)
#   job-node.sh add-project DIR      make this project's src/ importable in the venv in DIR
#   job-node.sh stage-data ARCHIVE   extract the dataset archive into $SLURM_TMPDIR/data
#   job-node.sh train [ARGS...]      run the training in that venv, on that data
#   job-node.sh run COMMAND [ARGS]   run a command of your own there instead (sbatch job.sh -- ...)
#
# The environment cache keeps one archive per cluster, CPU type, Python and requirements.txt in
#   $ENV_CACHE, by default {{ c.env_cache }}   (ENV_CACHE=off: build every time)
# The first job (or scripts/setup-cluster.sh) builds the venv and publishes it with its cksum; later
# jobs extract it in seconds and point it at its new place. One job builds a missing environment
# at a time, the others wait for it; a damaged archive is never used: it is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:?usage: job-node.sh build-env [DIR] | cache-env DIR | record-env DIR | add-project DIR | stage-data ARCHIVE | train [ARGS...] | run COMMAND...}"
shift
say() { printf '%s job-node.sh: %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() {
  say "ERROR: $*"
  exit 1
}
{%- if c.job_venv == "home" %}
venv="${VENV:-$HOME/venvs/{{ cookiecutter.project_slug }}}" # {{ c.name }}: made on a login node (scripts/setup-cluster.sh)
{%- else %}
venv="${SLURM_TMPDIR:-}/env" # on the node's local disk, from the cache below
{%- endif %}
cache_root="${ENV_CACHE:-{{ c.env_cache }}}"
wait_limit="${ENV_CACHE_WAIT:-1800}" # seconds to wait for another job's build; older locks are stale
held_lock=""                          # the lock this process holds, removed however it exits
trap 'if [[ -n "$held_lock" ]]; then rm -rf "$held_lock"; fi' EXIT

requirements_key() { # what a venv holds, hashed: the Python, requirements.txt and the modules
  { python -c 'import sys; print(sys.version)' && cat requirements.txt && scripts/modules.sh; } | sha256sum | cut -c1-16
}

env_key() { # where a packed venv can be unpacked too, hashed: the cluster, its CPU type, StdEnv
  printf '%s\n' "${CC_CLUSTER:-{{ cookiecutter.cluster }}}" "${RSNT_ARCH:-}" "${EBVERSIONGENTOO:-}" "$(requirements_key)" |
    sha256sum | cut -c1-16
}

relocate() { # DIR OLD: the venv now in DIR was built in OLD; point its scripts at DIR
  "$1/bin/python" - "$1" "$2" <<'PY'
import os
import sys
from pathlib import Path

new, old = (os.fsencode(path) for path in sys.argv[1:3])
for script in Path(sys.argv[1], "bin").iterdir():
    if script.is_file() and not script.is_symlink() and old in (text := script.read_bytes()):
        script.write_bytes(text.replace(old, new))
PY
}

from_cache() { # ENTRY DIR START: the cached venv into DIR, checksummed as it is read; fails if damaged
  local entry="$1" dir="$2" summer
  mkdir -p "$dir"
  cksum <"$entry/env.tar" >"$dir.cksum" &
  summer=$!
  if tar -xf "$entry/env.tar" -C "$dir" && wait "$summer" && cmp -s "$dir.cksum" "$entry/env.tar.cksum" &&
    relocate "$dir" "$(sed -n 's/^path=//p' "$entry/info")"; then
    rm -f "$dir.cksum"
    say "venv in $dir from the cache $entry in $((SECONDS - $3)) s"
    return
  fi
  wait "$summer" || true
  rm -rf "$dir" "$dir.cksum"
  return 1
}

take_lock() { # ENTRY: the right to build and publish ENTRY; mkdir is atomic on every file system
  if [[ -n "$(find "$1.lock" -maxdepth 0 -mmin "+$((wait_limit / 60))" 2>/dev/null)" ]]; then
    say "removing a stale lock $1.lock ($(cat "$1.lock/owner" 2>/dev/null))"
    rm -rf "$1.lock" || fail "cannot remove the stale lock $1.lock (see the line above): remove it, then submit again"
  fi
  mkdir "$1.lock" 2>/dev/null || return 1
  printf '%s\n' "job ${SLURM_JOB_ID:-none} on $(hostname)" >"$1.lock/owner"
  held_lock="$1.lock" # removed when this script exits
}

publish() { # DIR ENTRY: the venv in DIR as the cache entry; written aside, then renamed in place
  local dir="$1" entry="$2" tmp
  tmp="$(mktemp -d "$entry.tmp.XXXXXX")"
  tar -cf "$tmp/env.tar" -C "$dir" .
  cksum <"$tmp/env.tar" >"$tmp/env.tar.cksum"
  printf 'path=%s\nbuilt=%s\nby=%s\n' "$dir" "$(date -Iseconds)" "job ${SLURM_JOB_ID:-none} on $(hostname)" >"$tmp/info"
  chmod -R go+rX "$tmp"
  if mv -T "$tmp" "$entry" 2>/dev/null; then
    say "cached the venv: $entry/env.tar ($(du -sh "$entry/env.tar" | cut -f1))"
  else
    rm -rf "$tmp" # another job published it first
  fi
}

build() { # DIR: the venv from the wheelhouse (scripts/build-env.sh), timed
  local start=$SECONDS
  scripts/build-env.sh "$1"
  say "built the venv in $1 from the wheelhouse in $((SECONDS - start)) s"
}

build_env() { # DIR: from the cache, or built (and cached when this job is the one to build it)
  local dir="$1" start=$SECONDS entry
  if [[ "$cache_root" == off ]]; then
    build "$dir"
    return
  fi
  entry="$cache_root/$(env_key)"
  mkdir -p "$cache_root"
  [[ ! -e "$dir" || -z "$(ls -A "$dir")" ]] || fail "$dir exists and is not empty: the venv goes into a new folder"
  if [[ -f "$entry/env.tar" ]]; then
    from_cache "$entry" "$dir" "$start" && return
    say "the cached venv $entry is damaged (checksum or archive): rebuilding it"
    mv -T "$entry" "$entry.damaged.$$" 2>/dev/null && rm -rf "$entry.damaged.$$"
  fi
  if take_lock "$entry"; then
    build "$dir"
    publish "$dir" "$entry"
    return
  fi
  say "another job builds this venv ($(cat "$entry.lock/owner" 2>/dev/null || echo unknown)): waiting for it"
  while [[ -d "$entry.lock" && ! -f "$entry/env.tar" && $((SECONDS - start)) -lt "$wait_limit" ]]; do
    sleep 5
  done
  [[ -f "$entry/env.tar" ]] && from_cache "$entry" "$dir" "$start" && return
  say "no cached venv came: building one for this job only"
  build "$dir"
}

add_project() { # DIR: this project's package importable in the venv, from any folder, with no PYTHONPATH
  # A .pth file naming src/, as 'pip install -e .' writes for a src layout: no build step and no
  # setuptools (virtualenv seeds none for Python 3.12+). Written after the venv is cached, never
  # into the cache: other projects share an archive made for the same requirements.txt.
  printf '%s\n' "$PWD/src" >"$(project_pth "$1")"
}

project_pth() { # DIR: the .pth file that makes this project importable in the venv in DIR
  printf '%s/{{ cookiecutter.project_slug }}.pth' "$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
}

cache_env() { # DIR: publish the venv in DIR unless the cache has one for this key, or one is built
  local entry
  [[ "$cache_root" != off ]] || return 0
  entry="$cache_root/$(env_key)"
  mkdir -p "$cache_root"
  if [[ ! -f "$entry/env.tar" ]] && take_lock "$entry"; then
    publish "$1" "$entry"
  fi
}
{%- if c.job_venv == "home" %}

check_home_venv() { # {{ c.name }}: jobs source the venv scripts/setup-cluster.sh made on a login node
  [[ -x "$venv/bin/python" ]] ||
    fail "no venv in $venv: on a login node, run scripts/setup-cluster.sh first ({{ c.name }} jobs use it: \$SLURM_TMPDIR is a RAM disk and HOME is read-only in jobs)"
  [[ "$(cat "$venv/.requirements-key" 2>/dev/null)" == "$(requirements_key)" ]] ||
    fail "$venv was made for another requirements.txt or Python: on a login node, run scripts/setup-cluster.sh again"
  [[ "$(cat "$(project_pth "$venv")" 2>/dev/null)" == "$PWD/src" ]] ||
    fail "$venv imports the project from another folder than $PWD: on a login node, run scripts/setup-cluster.sh again from here"
  say "venv: $venv, made on a login node"
}
{%- endif %}

monitor() { # PID: while PID runs, every GPU_SAMPLE_SECONDS, this node's GPUs' use (nvidia-smi)
  local pid="$1" run="${SLURM_JOB_ID:-0}-${SLURM_RESTART_COUNT:-0}" gpus="" select=() #   and rank 0's heartbeat
  command -v nvidia-smi >/dev/null 2>&1 && gpus="$JOB_RUN_DIR/usage/gpu-$(hostname -s)-$run.csv"
  [[ -z "${CUDA_VISIBLE_DEVICES:-}" ]] || select=(-i "$CUDA_VISIBLE_DEVICES") # this job's GPUs only
  mkdir -p "$JOB_RUN_DIR/usage"
  while kill -0 "$pid" 2>/dev/null; do
    [[ "${SLURM_PROCID:-0}" != 0 ]] || touch "$JOB_RUN_DIR/usage/heartbeat-$run"
    [[ -z "$gpus" ]] || nvidia-smi "${select[@]}" --query-gpu=index,utilization.gpu,memory.used \
      --format=csv,noheader,nounits >>"$gpus" 2>/dev/null
    sleep "${GPU_SAMPLE_SECONDS:-30}"
  done
}

case "$action" in
  build-env)
{%- if c.job_venv == "home" %}
    check_home_venv
{%- else %}
    build_env "${1:-$venv}"
    add_project "${1:-$venv}"
{%- endif %}
    ;;
  record-env) requirements_key >"${1:?record-env needs the venv folder}/.requirements-key" ;;
  cache-env) cache_env "${1:?cache-env needs the venv folder}" ;;
  add-project) add_project "${1:?add-project needs the venv folder}" ;;
  stage-data)
    mkdir -p "$SLURM_TMPDIR/data"
    tar -xf "${1:?stage-data needs the archive}" -C "$SLURM_TMPDIR/data"
    ;;
  train | run)
    if [[ "${SLURM_LOCALID:-0}" == 0 && -n "${JOB_RUN_DIR:-}" ]]; then
      monitor "$$" & # one per node; it stops with the training, which keeps this process's id
    fi
    # shellcheck disable=SC1091  # the venv exists only inside the job
    source "$venv/bin/activate"
    # A time-limit warning (USR1) that comes before the training listens for it is ignored, not
    # fatal: the training's own handler replaces this, and job.sh asks again every 10 s.
    trap '' USR1
    [[ "$action" == run ]] || set -- python -m {{ cookiecutter.package_name }}.train --data-dir "$SLURM_TMPDIR/data" "$@"
    command -v "${1:?run needs a command}" >/dev/null 2>&1 ||
      fail "command not found: $1 (in the project's venv, from $PWD); e.g. sbatch job.sh -- python my_train.py"
    export JOB_DATA_DIR="$SLURM_TMPDIR/data" # where a command of your own finds the data
    exec "$@"
    ;;
  *) fail "unknown action '$action'; the actions are listed at the top of scripts/job-node.sh" ;;
esac
