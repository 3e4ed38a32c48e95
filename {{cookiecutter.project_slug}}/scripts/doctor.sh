#!/bin/bash
{%- set c = drac.cluster(cookiecutter.cluster) %}
{%- set job = drac.job(cookiecutter) %}
{%- set submit_host = c.gpu_login_host if job.gpu_spec else c.login_host %}
# Is this project ready for its first job on {{ c.name }}? Run it on a login node, from anywhere:
#   scripts/doctor.sh
# It prints one line per check: ✔ ready, ✘ not ready (with the fix on the same line), ! ready but
# worth reading, or "- ... skipped" when the check could not run here (its command is missing, or
# did not answer). It changes nothing, and exits 0 only when no check failed: then sbatch job.sh.
set -uo pipefail # not -e: every check runs, whatever the ones before found
cd "$(dirname "$0")/.." || exit 1
if ((BASH_VERSINFO[0] < 4)); then # macOS's bash 3: not a DRAC login node, and too old for the checks
  echo "✘ cluster: not on a DRAC cluster (bash $BASH_VERSION on $(uname -s)). Fix: run this on a {{ c.name }} login node: ssh {{ submit_host }}, then cd to this project and run scripts/doctor.sh"
  exit 1
fi

readonly cluster={{ cookiecutter.cluster | shquote }}
readonly cluster_title={{ c.name | shquote }}
readonly submit_host={{ submit_host | shquote }}
readonly slug={{ cookiecutter.project_slug | shquote }}
readonly package={{ cookiecutter.package_name | shquote }}
modules=() # what scripts/modules.sh prints: StdEnv, python and modules.txt's, as job.sh loads them
readonly placeholder_accounts=({% for a in drac.accounts().placeholders %}{{ a | shquote }}{{ " " if not loop.last }}{% endfor %})
readonly account_suffixes=({% for s in drac.accounts().suffixes %}{{ s | shquote }}{{ " " if not loop.last }}{% endfor %}) # def-prof_gpu is def-prof's
user="${USER:-$(id -un)}"
# job.sh's own expressions: its project space and where it looks for the dataset archive
project_space={{ drac.project_space(cookiecutter) }}
dataset_archive="${DATASET_ARCHIVE:-$project_space/$user/{{ cookiecutter.project_slug }}/data/dataset.tar}"

failures=0
job_account=""  # the account in job.sh's #SBATCH --account line
python_ready=0  # 1 once the python module is loaded in this shell
tmp="$(mktemp -d)" || exit 1
trap 'rm -rf "$tmp"' EXIT

report() { # STATUS NAME DETAIL [FIX]: one line of the checklist; STATUS is ok, fail or skip
  case "$1" in
    ok) printf '✔ %s: %s\n' "$2" "$3" ;;
    fail)
      failures=$((failures + 1))
      printf '✘ %s: %s. Fix: %s\n' "$2" "${3%.}" "${4:?report fail needs a fix}"
      ;;
    warn) printf '! %s: %s. %s\n' "$2" "${3%.}" "${4:?report warn needs advice}" ;;
    *) printf -- '- %s: skipped, %s\n' "$2" "$3" ;;
  esac
}

have() { command -v "$1" >/dev/null 2>&1; }

join() { # SEPARATOR WORDS...: the words, SEPARATOR between them
  local separator="$1" text="" word
  shift
  for word in "$@"; do
    text+="${text:+$separator}$word"
  done
  printf '%s\n' "$text"
}

one_line() { # the text on stdin on one line, blank lines dropped
  awk 'NF { sub(/^[ \t]+/, ""); sub(/[ \t\r]+$/, ""); printf "%s%s", sep, $0; sep = " " }'
}

title_of() { # KEY: the cluster's name (fir -> Fir); other names as they are
  case "$1" in
{%- for key, facts in drac.clusters().items() %}
    {{ key }}) echo {{ facts.name | shquote }} ;;
{%- endfor %}
    *) printf '%s\n' "$1" ;;
  esac
}

cluster_from_host() { # HOST: the DRAC cluster a host name belongs to (narval1.narval... -> narval, trig-login01 -> trillium), or nothing
  local part
  for part in $(tr '.-' '  ' <<<"${1,,}"); do
    part="${part%%[0-9]*}"
    case "$part" in
{%- for key, facts in drac.clusters().items() %}
      {{ ([key] + facts.get("host_names", [])) | join(" | ") }}) echo {{ key }} && return ;;
{%- endfor %}
    esac
  done
}

# ---- where it runs ----

check_cluster() {
  local here="${CC_CLUSTER:-}" how="\$CC_CLUSTER=${CC_CLUSTER:-}" host
  host="$(uname -n)"
  if [[ -z "$here" ]]; then
    here="$(cluster_from_host "$host")"
    how="host $host"
  fi
  here="${here,,}"
  if [[ -z "$here" ]]; then
    report fail cluster "not on a DRAC cluster (no \$CC_CLUSTER, host $host)" \
      "run this on a $cluster_title login node: ssh $submit_host, then cd to this project and run scripts/doctor.sh"
  elif [[ "$here" != "$cluster" ]]; then
    local fix="run this on $cluster_title (ssh $submit_host)"
    [[ "$(title_of "$here")" == "$here" ]] || fix+=", or make the project for $(title_of "$here"): scripts/regenerate.sh cluster=$here"
    report fail cluster "on $(title_of "$here") ($how), but this project is made for $cluster_title" "$fix"
  else
    report ok cluster "on $cluster_title ($how){{ "; GPU jobs are submitted from " ~ submit_host if submit_host != c.login_host }}"
  fi
}

# ---- the account ----

read_job_account() { # the value of job.sh's #SBATCH --account (or -A) line, among the lines sbatch reads
  awk '
    /^#SBATCH/ {
      for (i = 2; i <= NF; i++) {
        if ($i ~ /^#/) break
        if ($i ~ /^--account=/) { sub(/^--account=/, "", $i); print $i; exit }
        if (($i == "--account" || $i == "-A") && i < NF) { print $(i + 1); exit }
      }
      next
    }
    /^[ \t\r]*$/ || /^#/ { next }
    { exit }
  ' job.sh 2>/dev/null | tr -d '\r'
}

check_account_line() {
  local placeholder
  job_account="$(read_job_account)"
  if [[ -z "$job_account" ]]; then
    report fail "account in job.sh" "job.sh has no #SBATCH --account line" \
      "put your account back in job.sh: scripts/regenerate.sh account=<your account>, or add '#SBATCH --account=<your account>' above its first command"
    return
  fi
  for placeholder in "${placeholder_accounts[@]}"; do
    if [[ "$job_account" == "$placeholder" ]]; then
      report fail "account in job.sh" "$job_account is the template's placeholder, not an account; jobs charged to it are refused" \
        "find your account in CCDB (My Resources and Allocations: the group name, e.g. def-yourprof), then: scripts/regenerate.sh account=<your account> && scripts/install-bashrc.sh && source ~/.bashrc"
      return
    fi
  done
  report ok "account in job.sh" "$job_account"
}

my_accounts() { # the user's Slurm accounts, one a line, from whichever of sshare and sacctmgr answers
  local out=""
  if have sshare && out="$(sshare -U -u "$user" --noheader --parsable2 --format=Account 2>"$tmp/sshare.err")" &&
    [[ -n "${out//[[:space:]]/}" ]]; then
    printf '%s\n' "$out"
    return 0
  fi
  # sacctmgr answers only with an accounting database; then an empty answer means "no account"
  if have sacctmgr && out="$(sacctmgr --noheader --parsable2 show associations where user="$user" format=Account 2>"$tmp/sacctmgr.err")"; then
    printf '%s\n' "$out"
    return 0
  fi
  return 1
}

group_of() { # ACCOUNT: its group, the bake's rule (rules.account_group): def-prof_gpu -> def-prof
  local suffix
  for suffix in "${account_suffixes[@]}"; do
    if [[ "$1" == *"_$suffix" ]]; then
      printf '%s\n' "${1%"_$suffix"}"
      return
    fi
  done
  printf '%s\n' "$1"
}

check_account_exists() {
  local name="account exists" accounts why
  if [[ -z "$job_account" ]]; then
    report skip "$name" "job.sh names no account"
    return
  fi
  if ! have sshare && ! have sacctmgr; then
    report skip "$name" "neither sshare nor sacctmgr is installed here"
    return
  fi
  if ! accounts="$(my_accounts)"; then
    why="$(cat "$tmp/sshare.err" "$tmp/sacctmgr.err" 2>/dev/null | one_line)"
    report skip "$name" "neither sshare nor sacctmgr answered${why:+ ($why)}"
    return
  fi
  # DRAC tracks CPU and GPU use apart: def-prof's Slurm accounts are def-prof_cpu and def-prof_gpu
  accounts="$(printf '%s\n' "$accounts" | tr -d ' |' | while read -r account; do group_of "$account"; done |
    awk 'NF && !seen[$0]++')"
  if grep -qixF -- "$(group_of "$job_account")" <<<"$accounts"; then
    report ok "$name" "$job_account is one of your accounts on $cluster_title"
  elif [[ -z "$accounts" ]]; then
    report fail "$name" "$user has no Slurm account on $cluster_title yet" \
      "ask your PI to sponsor your role in CCDB, and request access to $cluster_title there; then scripts/doctor.sh again"
  else
    report fail "$name" "$job_account is not one of your accounts on $cluster_title ($(one_line <<<"$accounts"))" \
      "scripts/regenerate.sh account=<one of them> && scripts/install-bashrc.sh && source ~/.bashrc"
  fi
}

check_account_variables() { # a convenience (Running_jobs): sbatch, salloc and srun prefer them to job.sh's line
  local name="account variables" var value set_vars=() other=()
  for var in SLURM_ACCOUNT SBATCH_ACCOUNT SALLOC_ACCOUNT; do
    value="${!var:-}"
    [[ -n "$value" ]] || continue
    set_vars+=("$var")
    if [[ -n "$job_account" && "$(group_of "${value,,}")" != "$(group_of "${job_account,,}")" ]]; then
      other+=("$var=$value")
    fi
  done
  if [[ -n "${other[*]:-}" ]]; then
    report warn "$name" "${other[*]} is not job.sh's ${job_account}: it overrides #SBATCH --account in every job you submit, this one too" \
      "For another project, pass --account=... to sbatch instead; to charge this one, scripts/install-bashrc.sh && source ~/.bashrc (scripts/bashrc-snippet.sh names job.sh's account)"
  elif [[ -z "${set_vars[*]:-}" ]]; then
    report ok "$name" "none set: job.sh's #SBATCH --account applies (scripts/install-bashrc.sh sets them for salloc and srun too)"
  else
    report ok "$name" "${set_vars[*]} name job.sh's account"
  fi
}

# ---- software ----

check_python_module() {
  local name="python module" version message module_list
  if ! have module; then
    report skip "$name" "the module command is missing (Lmod): not a DRAC login shell"
    return
  fi
  if ! module_list="$(scripts/modules.sh 2>"$tmp/modules.err")"; then
    report fail "$name" "$(one_line <"$tmp/modules.err")" "fix modules.txt (module names separated by spaces, e.g. gcc arrow), then scripts/doctor.sh again"
    return
  fi
  mapfile -t modules <<<"$module_list"
  if module load "${modules[@]}" >"$tmp/module.out" 2>&1; then
    version="$(python -c 'import platform; print(platform.python_version())' 2>/dev/null)"
    if [[ -n "$version" ]]; then
      python_ready=1
      report ok "$name" "module load ${modules[*]} (Python $version)"
      return
    fi
    message="loaded, but python does not run"
  else
    # Lmod: "Lmod has detected the following error: <what>", more lines, a blank line, advice
    message="$(awk '/has detected the following error:/ { sub(/.*error:[ \t]*/, ""); lmod = 1 }
      lmod && !NF && said { exit }
      lmod && NF { print; said = 1 }' "$tmp/module.out" | one_line)"
    [[ -n "$message" ]] || message="$(head -n 2 "$tmp/module.out" | one_line)"
  fi
  report fail "$name" "module load ${modules[*]} failed${message:+: $message}" \
    "module spider <name> lists the versions here; choose a python: scripts/regenerate.sh python_version=X.Y, or fix modules.txt"
}

check_wheels() {
  local name="wheels" missing available
  if ((!python_ready)); then
    report skip "$name" "it needs the python module (above)"
    return
  fi
  if ! have avail_wheels; then
    report skip "$name" "avail_wheels is missing (DRAC's wheelhouse lister)"
    return
  fi
  if ! avail_wheels -r requirements.txt --not-available >"$tmp/wheels.out" 2>"$tmp/wheels.err"; then
    report skip "$name" "avail_wheels -r requirements.txt failed: $(one_line <"$tmp/wheels.err")"
    return
  fi
  # avail_wheels prints a table: name, version, python, arch; with --not-available a requirement
  # without a wheel for this Python is a row holding its name only
  if ! grep -q -- '^-\+ \+-\+' "$tmp/wheels.out"; then
    report skip "$name" "avail_wheels printed no table: $(one_line <"$tmp/wheels.out")"
    return
  fi
  missing="$(awk 'table && NF == 1 { print $1 } /^-+ +-+/ { table = 1 }' "$tmp/wheels.out" | one_line)"
  available="$(awk 'table && NF > 1 { print $1 } /^-+ +-+/ { table = 1 }' "$tmp/wheels.out" | one_line)"
  if [[ -n "$missing" ]]; then
    report fail "$name" "no wheel in DRAC's wheelhouse for Python $(python -c 'import sys; print("%d.%d" % sys.version_info[:2])') of: $missing" \
      "change or remove those lines of requirements.txt (avail_wheels <name> --all-versions lists the versions there; a package DRAC ships as a module: module spider <name>, load it instead), then scripts/doctor.sh again"
  else
    report ok "$name" "every requirement has a wheel for this Python (${available:-none listed})"
  fi
}
{%- if c.job_venv == "home" %}

check_home_venv() { # {{ c.name }}'s jobs use the venv scripts/setup-cluster.sh made in HOME on a login node
  local name="venv" message
  if ((!python_ready)); then
    report skip "$name" "it needs the python module (above)"
    return
  fi
  # job-node.sh's own check, the one the job runs first (it only checks on {{ c.name }})
  if message="$(scripts/job-node.sh build-env 2>&1)"; then
    report ok "$name" "${message#*job-node.sh: venv: }"
  else
    message="$(sed -n 's/.*job-node.sh: ERROR: //p' <<<"$message" | head -n 1)"
    report fail "$name" "${message%%: on a login node*}" \
      "scripts/setup-cluster.sh (run it again after each change to requirements.txt: {{ c.name }}'s jobs use this venv)"
  fi
}
{%- endif %}

# ---- data and storage ----

check_dataset() {
  local name="dataset"
  if [[ -f "$dataset_archive" && -r "$dataset_archive" ]]; then
    report ok "$name" "$dataset_archive ($(du -h "$dataset_archive" 2>/dev/null | cut -f1))"
  elif [[ -z "${DATASET_ARCHIVE:-}" && ! -d "$project_space" ]]; then
    report fail "$name" "job.sh looks for $dataset_archive, but the project space $project_space does not exist" \
      "ls ~/projects (or ~/links/projects) lists your groups' spaces; put your own account in the project (scripts/regenerate.sh account=...), then copy the archive there"
  else
    report fail "$name" "no archive where job.sh looks: $dataset_archive" \
      "mkdir -p $(dirname "$dataset_archive") and copy your archive there (the example: python -m $package.make_dataset dataset.tar, README step 6), or name another one when you submit: DATASET_ARCHIVE=/path/to/archive.tar sbatch job.sh"
  fi
}

quota_table() { # diskusage_report's lines as: description, % of space used, % of files used (tab-separated)
  awk '
    function number(text,   n, unit) {
      n = text; sub(/[^0-9.].*$/, "", n)
      unit = text; sub(/^[0-9.]+[ \t]*/, "", unit)
      unit = toupper(substr(unit, 1, 1))
      if (unit == "K") return n * 1e3
      if (unit == "M") return n * 1e6
      if (unit == "G") return n * 1e9
      if (unit == "T") return n * 1e12
      if (unit == "P") return n * 1e15
      return n + 0
    }
    function percent(pair,   parts, quota) {
      split(pair, parts, "/")
      quota = number(parts[2])
      return quota > 0 ? int(100 * number(parts[1]) / quota) : -1
    }
    match($0, /[0-9.]+ *[kKMGTP]?i?B\/[0-9.]+ *[kKMGTP]?i?B/) {
      description = substr($0, 1, RSTART - 1)
      space = substr($0, RSTART, RLENGTH)
      rest = substr($0, RSTART + RLENGTH)
      gsub(/^[ \t]+|[ \t]+$/, "", description)
      files = -1
      if (match(rest, /[0-9.]+[kKMG]?\/[0-9.]+[kKMG]?/)) files = percent(substr(rest, RSTART, RLENGTH))
      printf "%s\t%d\t%d\n", description, percent(space), files
    }
  '
}

check_quota() {
  local name="quota" description space files full=() seen=() limit=90
  if ! have diskusage_report; then
    report skip "$name" "diskusage_report is missing"
    return
  fi
  if ! diskusage_report >"$tmp/quota.out" 2>&1; then
    report skip "$name" "diskusage_report failed: $(head -n 3 "$tmp/quota.out" | one_line)"
    return
  fi
  while IFS=$'\t' read -r description space files; do
    # home, scratch and this project's group space; other groups' spaces are not this job's
    case "${description,,}" in
      home* | scratch* | "project (${job_account,,})"*) ;;
      *) continue ;;
    esac
    seen+=("$description")
    ((space < limit)) || full+=("$description: $space% of its space")
    ((files < limit)) || full+=("$description: $files% of its files")
  done < <(quota_table <"$tmp/quota.out")
  if [[ -z "${seen[*]:-}" ]]; then
    report skip "$name" "diskusage_report printed no line for home, scratch or ${job_account:-the project}"
  elif [[ -n "${full[*]:-}" ]]; then
    report fail "$name" "nearly full (${limit}% or more): $(join '; ' "${full[@]}")" \
      "delete what you no longer need there, or pack many small files into one archive (tar cf); diskusage_report shows the use; more space: ask your PI (Rapid Access Service)"
  else
    report ok "$name" "below ${limit}% of space and files: $(join ', ' "${seen[@]}")"
  fi
}

check_project_folder() {
  local name="project folder" here
  here="$(pwd -P)"
{%- if c.submit_from == "scratch" %}
  local scratch
  if [[ -z "${SCRATCH:-}" ]] || ! scratch="$(cd "$SCRATCH" 2>/dev/null && pwd -P)"; then
    report fail "$name" "\$SCRATCH is not set or not a folder: jobs must be submitted from scratch on {{ c.name }}" \
      "run this in a login shell on {{ c.name }} (ssh $submit_host), where \$SCRATCH is your scratch folder"
  elif [[ "$here/" == "$scratch/"* ]]; then
    report ok "$name" "$PWD, in \$SCRATCH, where {{ c.name }} takes jobs from (home and project are read-only in jobs)"
  else
    report fail "$name" "$PWD is not in \$SCRATCH: on {{ c.name }}, home and project are read-only in jobs, so the job's log could not be written" \
      "clone the project in scratch and submit from there: cd \$SCRATCH && git clone <your repository> $slug && cd $slug (or: cp -r $PWD \$SCRATCH/)"
  fi
{%- else %}
  local home
  home="$(cd "$HOME" 2>/dev/null && pwd -P)"
{%- if c.get("home_submit_refused") %}
  if [[ -n "$home" && "$here/" == "$home/"* && "$here/" != "$home/projects/"* && "$here/" != "$home/scratch/"* ]]; then
    report fail "$name" "$PWD is in \$HOME: {{ c.name }} refuses jobs submitted from /home" \
      "move the project to your folder of the project space and submit from there: mkdir -p $project_space/$user && mv $PWD $project_space/$user/ && cd $project_space/$user/$slug"
{%- else %}
  if [[ -n "$home" && "$here/" == "$home/"* ]]; then
    report ok "$name" "$PWD is in \$HOME; advised instead: your folder of the project space, $project_space/$user/$slug (some clusters refuse jobs submitted from /home, and home is small)"
{%- endif %}
  else
    report ok "$name" "$PWD, not in \$HOME"
  fi
{%- endif %}
}

# ---- files ----

check_line_endings() {
  local name="line endings" files=() crlf=() file
  for file in job.sh sweep.sh sweep.txt scripts/*.sh; do
    [[ -f "$file" ]] && files+=("$file")
  done
  for file in "${files[@]}"; do
    if grep -q $'\r' -- "$file"; then
      crlf+=("$file")
    fi
  done
  if [[ -n "${crlf[*]:-}" ]]; then
    report fail "$name" "Windows (CRLF) line endings in ${crlf[*]}; bash and sbatch refuse them" \
      "sed -i 's/\r\$//' ${crlf[*]} (or: dos2unix ${crlf[*]}); .gitattributes keeps them LF in git"
  else
    report ok "$name" "no CRLF in job.sh, sweep.sh, sweep.txt, scripts/*.sh"
  fi
}

# ---- the scheduler's own verdict ----

check_sbatch() {
  local name="sbatch --test-only" out fix
  if ! have sbatch; then
    report skip "$name" "sbatch is missing: run this on a login node"
    return
  fi
  if out="$(sbatch --test-only job.sh 2>&1)"; then
    report ok "$name" "accepted: $(one_line <<<"${out//sbatch: /}")"
    return
  fi
  case "$out" in
    *"Unable to contact slurm controller"* | *"Socket timed out"* | *"standby"*)
      report skip "$name" "Slurm's controller did not answer ($(one_line <<<"${out//sbatch: /}")); try again in a few minutes (https://status.alliancecan.ca)"
      return
      ;;
    *"Invalid account"* | *"multiple"*"allocations"* | *"account"*"not"*)
      fix="use one of your accounts (sshare -U -u \$USER lists them): scripts/regenerate.sh account=<yours> && scripts/install-bashrc.sh && source ~/.bashrc" ;;
    *"DOS line breaks"* | *$'\r'*)
      fix="sed -i 's/\r\$//' job.sh (Windows line endings)" ;;
    *"time limit"*)
      fix="a shorter time limit: scripts/regenerate.sh time=HH:MM:SS (the cluster's limits: README)" ;;
    *"node configuration is not available"* | *"emory"* | *"gres"* | *"GRES"*)
      fix="ask only for what {{ c.name }}'s nodes have: check --mem, --cpus-per-task and --gpus-per-node in job.sh, or let the template choose: scripts/regenerate.sh mem=auto cpus_per_task=auto gpus_per_node=auto" ;;
    *)
      fix="change what sbatch names in job.sh's #SBATCH lines (scripts/regenerate.sh KEY=VALUE rewrites them), then scripts/doctor.sh again" ;;
  esac
  report fail "$name" "refused: $(one_line <<<"${out//sbatch: /}")" "$fix"
}

echo "doctor.sh: is $slug ready for its first job on $cluster_title?"
check_cluster
check_account_line
check_account_exists
check_account_variables
check_python_module
check_wheels
{%- if c.job_venv == "home" %}
check_home_venv
{%- endif %}
check_dataset
check_quota
check_project_folder
check_line_endings
check_sbatch
if ((failures)); then
  echo "doctor.sh: not ready: $failures check(s) failed (✘); fix them, then run scripts/doctor.sh again"
  exit 1
fi
echo "doctor.sh: ready: sbatch job.sh"
