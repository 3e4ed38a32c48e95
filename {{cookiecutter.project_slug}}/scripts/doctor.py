{%- set c = drac.cluster(cookiecutter.cluster) -%}
{%- set job = drac.job(cookiecutter) -%}
{%- set submit_host = c.gpu_login_host if job.gpu_spec else c.login_host -%}
#!/usr/bin/env python3
"""Is this project ready for its first job on {{ c.name }}? Run scripts/doctor.sh on a login node.

Each check returns ("✔", what is ready), ("✘", what is not ready. Fix: how), ("!", what is worth
reading, with advice) or ("-", why it was skipped: its command is missing here, or did not answer).
It changes nothing, and exits 0 only when no check failed: then sbatch job.sh. Standard library
only: it runs with the login node's python3, before any module or venv.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

CLUSTER = {{ cookiecutter.cluster | tojson }}
CLUSTERS = {  # key: (name, the words of its login nodes' host names)
{%- for key, facts in drac.clusters().items() %}
    {{ key | tojson }}: ({{ facts.name | tojson }}, {{ ([key] + facts.get("host_names", [])) | tojson }}),
{%- endfor %}
}
NAME = CLUSTERS[CLUSTER][0]
SUBMIT_HOST = {{ submit_host | tojson }}
{%- if submit_host != c.login_host %}
SUBMIT_NOTE = f"; GPU jobs are submitted from {SUBMIT_HOST}"
{%- else %}
SUBMIT_NOTE = ""  # GPU and CPU jobs are submitted from the same login nodes
{%- endif %}
SLUG = {{ cookiecutter.project_slug | tojson }}
PACKAGE = {{ cookiecutter.package_name | tojson }}
PLACEHOLDER_ACCOUNTS = {{ drac.accounts().placeholders | tojson }}  # = job.sh's placeholder_accounts=
ACCOUNT_SUFFIXES = {{ drac.accounts().suffixes | tojson }}  # def-prof_gpu is def-prof's
USER = os.environ.get("USER") or subprocess.getoutput("id -un")
# where job.sh looks for the dataset archive: in its project space
PROJECT_SPACE = os.path.expandvars({{ (c.project_path | replace("{account}", job.account)) | tojson }})
ARCHIVE = os.environ.get("DATASET_ARCHIVE") or f"{PROJECT_SPACE}/{USER}/{SLUG}/data/dataset.tar"
AGAIN = "then scripts/doctor.sh again"
NEW_ACCOUNT = "scripts/install-bashrc.sh && source ~/.bashrc"  # after regenerate.sh account=...
QUOTA_LIMIT = 90  # percent of the space or of the files
UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}  # diskusage_report's kB, MB, ...


def run(*command):
    """(exit status, output, error output) of a command."""
    done = subprocess.run(command, capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


def with_modules(modules, command):
    """Run bash COMMAND after loading the modules as job.sh does; status 99: they did not load."""
    return run("bash", "-c", 'module load "$@" || exit 99\n' + command, "bash", *modules)


def one_line(text):
    """A command's words on one line, without a final period (a Fix: follows)."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip()).rstrip(".")


def group_of(account):
    """The account's group, as the bake's rules.account_group says: def-prof_gpu -> def-prof."""
    return re.sub(f"_({'|'.join(map(re.escape, ACCOUNT_SUFFIXES))})$", "", account)


def cluster_from_host(host):
    """The cluster of a host name (narval1.narval... -> narval, trig-login01 -> trillium), or ""."""
    words = {re.sub(r"[0-9].*", "", part) for part in re.split(r"[.-]", host.lower())}
    return next((key for key, (_, names) in CLUSTERS.items() if words & set(names)), "")


def check_cluster():
    named, host = os.environ.get("CC_CLUSTER", ""), os.uname().nodename
    here = named.lower() or cluster_from_host(host)
    how = f"$CC_CLUSTER={named}" if named else f"host {host}"
    if not here:
        return "✘", (
            f"not on a DRAC cluster (no $CC_CLUSTER, {how}). Fix: run this on a {NAME} login node: "
            f"ssh {SUBMIT_HOST}, then cd to this project and run scripts/doctor.sh"
        )
    if here == CLUSTER:
        return "✔", f"on {NAME} ({how}){SUBMIT_NOTE}"
    title = CLUSTERS[here][0] if here in CLUSTERS else here
    fix = f"run this on {NAME} (ssh {SUBMIT_HOST})"
    if here in CLUSTERS:
        fix += f", or make the project for {title}: scripts/regenerate.sh cluster={here}"
    return "✘", f"on {title} ({how}), but this project is made for {NAME}. Fix: {fix}"


def read_job_account():
    """job.sh's #SBATCH --account (or -A), among the lines sbatch reads: above the first command."""
    header = re.match(r"([ \t]*(#.*)?\n)*", Path("job.sh").read_text(errors="replace")).group()
    found = re.search(r"^#SBATCH\s+(--account[= ]\s*|-A\s*)(\S+)", header, re.M)
    return found.group(2) if found else ""


def check_account_line(account):
    if not account:
        return "✘", (
            "job.sh has no #SBATCH --account line. Fix: put your account back in job.sh: "
            "scripts/regenerate.sh account=<your account>, or add "
            "'#SBATCH --account=<your account>' above its first command"
        )
    if account in PLACEHOLDER_ACCOUNTS:
        return "✘", (
            f"{account} is the template's placeholder, not an account; jobs charged to it are "
            "refused. Fix: find your account in CCDB (My Resources and Allocations: the group "
            "name, e.g. def-yourprof), then: scripts/regenerate.sh account=<your account> && "
            f"{NEW_ACCOUNT}"
        )
    return "✔", account


def check_account_exists(account):
    if not account:
        return "-", "job.sh names no account"
    if not shutil.which("sshare") and not shutil.which("sacctmgr"):
        return "-", "neither sshare nor sacctmgr is installed here"
    groups, errors = None, ""  # the groups of the user's Slurm accounts, from sshare or sacctmgr
    for command in (
        ["sshare", "-U", "-u", USER, "--noheader", "--parsable2", "--format=Account"],
        ["sacctmgr", "-nP", "show", "associations", "where", f"user={USER}", "format=Account"],
    ):
        if groups is None and shutil.which(command[0]):
            status, out, err = run(*command)
            # sacctmgr answers only with an accounting database: then no line means no account
            if status == 0 and (out.strip() or command[0] == "sacctmgr"):
                # DRAC tracks CPU and GPU use apart: def-prof's are def-prof_cpu and def-prof_gpu
                groups = list(dict.fromkeys(group_of(name.strip("|")) for name in out.split()))
            errors += err
    if groups is None:
        return "-", f"neither sshare nor sacctmgr answered ({one_line(errors)})"
    if group_of(account).lower() in [group.lower() for group in groups]:
        return "✔", f"{account} is one of your accounts on {NAME}"
    if not groups:
        return "✘", (
            f"{USER} has no Slurm account on {NAME} yet. Fix: ask your PI to sponsor your role in "
            f"CCDB, and request access to {NAME} there; {AGAIN}"
        )
    return "✘", (
        f"{account} is not one of your accounts on {NAME} ({' '.join(groups)}). "
        f"Fix: scripts/regenerate.sh account=<one of them> && {NEW_ACCOUNT}"
    )


def check_account_variables(account):
    """A convenience (Running_jobs): sbatch, salloc and srun prefer them to job.sh's line."""
    names = [n for n in ("SLURM_ACCOUNT", "SBATCH_ACCOUNT", "SALLOC_ACCOUNT") if os.environ.get(n)]
    mine = group_of(account.lower())
    other = [f"{n}={os.environ[n]}" for n in names if group_of(os.environ[n].lower()) != mine]
    if account and other:
        return "!", (
            f"{' '.join(other)} is not job.sh's {account}: it overrides #SBATCH --account in every "
            "job you submit, this one too. For another project, pass --account=... to sbatch "
            f"instead; to charge this one, {NEW_ACCOUNT} (scripts/bashrc-snippet.sh names job.sh's "
            "account)"
        )
    if names:
        return "✔", f"{' '.join(names)} name job.sh's account"
    return "✔", (
        "none set: job.sh's #SBATCH --account applies (scripts/install-bashrc.sh sets them for "
        "salloc and srun too)"
    )


def check_python_module(loaded):
    """Load scripts/modules.sh's modules (StdEnv, python, modules.txt's); LOADED: if python runs."""
    if run("bash", "-c", "command -v module")[0] != 0:
        return "-", "the module command is missing (Lmod): not a DRAC login shell"
    status, out, err = run("scripts/modules.sh")
    if status != 0:
        return "✘", (
            f"{one_line(err)}. Fix: fix modules.txt (module names separated by spaces, e.g. gcc "
            f"arrow), {AGAIN}"
        )
    modules = out.split()
    status, version, err = with_modules(modules, "python -V")  # Python 3.11.5
    if status == 0 and version.startswith("Python "):
        loaded.update(modules=modules, python=".".join(version.split()[1].split(".")[:2]))
        return "✔", f"module load {' '.join(modules)} ({version.strip()})"
    problem = "loaded, but python does not run"
    if status == 99:  # Lmod: "Lmod has detected the following error: <what>", lines, a blank line
        _, found, lmod = err.partition("has detected the following error:")
        lmod = re.split(r"\n\s*\n", lmod.strip())[0] if found else err[:160]
        problem = "failed: " + one_line(lmod)
    return "✘", (
        f"module load {' '.join(modules)} {problem}. Fix: module spider <name> lists the versions "
        "here; choose a python: scripts/regenerate.sh python_version=X.Y, or fix modules.txt"
    )


def check_wheels(loaded):
    if not loaded:
        return "-", "it needs the python module (above)"
    if not shutil.which("avail_wheels"):
        return "-", "avail_wheels is missing (DRAC's wheelhouse lister)"
    wheels = "avail_wheels -r requirements.txt --not-available"
    status, out, err = with_modules(loaded["modules"], wheels)
    if status != 0:
        return "-", f"avail_wheels -r requirements.txt failed: {one_line(err)}"
    # A table of name, version, python, arch under a rule of dashes; with --not-available, a
    # requirement without a wheel for this Python is a row of its name only.
    table = re.split(r"^-+ +-+.*$", out, maxsplit=1, flags=re.M)
    if len(table) < 2:
        return "-", f"avail_wheels printed no table: {one_line(out)}"
    rows = [line.split() for line in table[1].splitlines() if line.strip()]
    missing = " ".join(row[0] for row in rows if len(row) == 1)
    if not missing:
        found = " ".join(row[0] for row in rows) or "none listed"
        return "✔", f"every requirement has a wheel for this Python ({found})"
    python = loaded["python"]
    return "✘", (
        f"no wheel in DRAC's wheelhouse for Python {python} of: {missing}. Fix: change or remove "
        "those lines of requirements.txt (avail_wheels <name> --all-versions lists the versions "
        f"there; a package DRAC ships as a module: module spider <name>, load it instead), {AGAIN}"
    )
{%- if c.job_venv == "home" %}


def check_home_venv(loaded):
    """{{ c.name }}'s jobs use the venv scripts/setup-cluster.sh made in HOME on a login node."""
    if not loaded:
        return "-", "it needs the python module (above)"
    # the job's own check, the one it runs first
    status, out, _ = with_modules(loaded["modules"], "scripts/job-node.sh build-env 2>&1")
    if status == 0:
        return "✔", out.strip().split("job-node.sh: venv: ")[-1]
    error = out.split("job-node.sh: ERROR: ")[-1].splitlines()[0].split(": on a login node")[0]
    return "✘", (
        f"{error}. Fix: scripts/setup-cluster.sh (run it again after each change to "
        f"requirements.txt: {NAME}'s jobs use this venv)"
    )
{%- endif %}


def check_dataset():
    if os.path.isfile(ARCHIVE) and os.access(ARCHIVE, os.R_OK):
        return "✔", f"{ARCHIVE} ({run('du', '-h', ARCHIVE)[1].split()[0]})"
    if "DATASET_ARCHIVE" not in os.environ and not os.path.isdir(PROJECT_SPACE):
        return "✘", (
            f"job.sh looks for {ARCHIVE}, but the project space {PROJECT_SPACE} does not exist. "
            "Fix: ls ~/projects (or ~/links/projects) lists your groups' spaces; put your own "
            "account in the project (scripts/regenerate.sh account=...), then copy the archive "
            "there"
        )
    return "✘", (
        f"no archive where job.sh looks: {ARCHIVE}. Fix: mkdir -p {os.path.dirname(ARCHIVE)} and "
        f"copy your archive there (the example: python -m {PACKAGE}.make_dataset data/dataset.tar, "
        "README step 6), or name another one when you submit: "
        "DATASET_ARCHIVE=/path/to/archive.tar sbatch job.sh"
    )


def amount(text):
    """'47 GB', '4096 B', '500k': the number times its unit."""
    number, unit = re.match(r"([0-9.]+) *([A-Za-z]?)", text).groups()
    return float(number) * UNITS.get(unit.upper(), 1)


def check_quota(account):
    if not shutil.which("diskusage_report"):
        return "-", "diskusage_report is missing"
    status, out, err = run("diskusage_report")
    if status != 0:
        return "-", f"diskusage_report failed: {one_line((out + err)[:240])}"
    seen, full = [], []
    for line in out.splitlines():  # Description, Space used/quota, # of files used/quota
        space = re.search(r"[0-9.]+ *[kKMGTP]?i?B/[0-9.]+ *[kKMGTP]?i?B", line)
        description = line[: space.start()].strip() if space else ""
        # home, scratch and this job's project space; other groups' spaces are not this job's
        if not description.lower().startswith(("home", "scratch", f"project ({account.lower()})")):
            continue
        seen.append(description)
        files = re.search(r"[0-9.]+[kKMG]?/[0-9.]+[kKMG]?", line[space.end() :])
        for what, pair in (("space", space), ("files", files)):
            used, quota = (amount(part) for part in pair.group().split("/")) if pair else (0, 0)
            if quota and 100 * used / quota >= QUOTA_LIMIT:
                full.append(f"{description}: {int(100 * used / quota)}% of its {what}")
    if not seen:
        return "-", f"diskusage_report printed no line for home, scratch or {account or 'project'}"
    if not full:
        return "✔", f"below {QUOTA_LIMIT}% of space and files: {', '.join(seen)}"
    return "✘", (
        f"nearly full ({QUOTA_LIMIT}% or more): {'; '.join(full)}. Fix: delete what you no longer "
        "need there, or pack many small files into one archive (tar cf); diskusage_report shows "
        "the use; more space: ask your PI (Rapid Access Service)"
    )


def check_project_folder():
    here = os.path.realpath(".") + "/"
    shown = os.environ.get("PWD", "")  # the folder as the shell names it
    shown = shown if shown and os.path.samefile(shown, ".") else os.getcwd()
{%- if c.submit_from == "scratch" %}
    scratch = os.environ.get("SCRATCH", "")
    if not os.path.isdir(scratch):
        return "✘", (
            "$SCRATCH is not set or not a folder: jobs must be submitted from scratch on "
            f"{NAME}. Fix: run this in a login shell on {NAME} (ssh {SUBMIT_HOST}), where "
            "$SCRATCH is your scratch folder"
        )
    if here.startswith(os.path.realpath(scratch) + "/"):
        return "✔", (
            f"{shown}, in $SCRATCH, where {NAME} takes jobs from (home and project are read-only "
            "in jobs)"
        )
    return "✘", (
        f"{shown} is not in $SCRATCH: on {NAME}, home and project are read-only in jobs, so the "
        "job's log could not be written. Fix: clone the project in scratch and submit from there: "
        f"cd $SCRATCH && git clone <your repository> {SLUG} && cd {SLUG} "
        f"(or: cp -r {shown} $SCRATCH/)"
    )
{%- else %}
    home = os.path.realpath(os.path.expanduser("~")) + "/"
    if not here.startswith(home):
        return "✔", f"{shown}, not in $HOME"
{%- if c.get("home_submit_refused") %}
    if not here.startswith((home + "projects/", home + "scratch/")):
        mine = f"{PROJECT_SPACE}/{USER}"
        return "✘", (
            f"{shown} is in $HOME: {NAME} refuses jobs submitted from /home. Fix: move the project "
            "to your folder of the project space and submit from there: "
            f"mkdir -p {mine} && mv {shown} {mine}/ && cd {mine}/{SLUG}"
        )
{%- endif %}
    return "!", (
        f"{shown} is in $HOME; advised instead: your folder of the project space, {PROJECT_SPACE}/"
        f"{USER}/{SLUG} (some clusters refuse jobs submitted from /home, and home is small)"
    )
{%- endif %}


def check_line_endings():
    files = [Path(name) for name in ("job.sh", "sweep.sh", "sweep.txt")]
    files += sorted(Path("scripts").glob("*.sh"))
    crlf = " ".join(str(file) for file in files if file.is_file() and b"\r" in file.read_bytes())
    if not crlf:
        return "✔", "no CRLF in job.sh, sweep.sh, sweep.txt, scripts/*.sh"
    return "✘", (
        f"Windows (CRLF) line endings in {crlf}; bash and sbatch refuse them. Fix: "
        f"sed -i 's/\\r$//' {crlf} (or: dos2unix {crlf}); .gitattributes keeps them LF in git"
    )


def check_sbatch():
    """The scheduler's own verdict on job.sh, without submitting it."""
    if not shutil.which("sbatch"):
        return "-", "sbatch is missing: run this on a login node"
    status, out, err = run("sbatch", "--test-only", "job.sh")
    said = one_line((out + err).replace("sbatch: ", ""))
    if status == 0:
        return "✔", f"accepted: {said}"
    if re.search(r"Unable to contact slurm controller|Socket timed out|standby", said):
        return "-", (
            f"Slurm's controller did not answer ({said}); try again in a few minutes "
            "(https://status.alliancecan.ca)"
        )
    if re.search(r"Invalid account|multiple.*allocations|account.*not", said):
        fix = "use one of your accounts (sshare -U -u $USER lists them): "
        fix += f"scripts/regenerate.sh account=<yours> && {NEW_ACCOUNT}"
    elif "DOS line breaks" in said or "\r" in said:
        fix = "sed -i 's/\\r$//' job.sh (Windows line endings)"
    elif "time limit" in said:
        fix = "a shorter time limit: scripts/regenerate.sh time=HH:MM:SS (the limits: README)"
    elif re.search(r"node configuration is not available|emory|gres|GRES", said):
        fix = (
            f"ask only for what {NAME}'s nodes have: check --mem, --cpus-per-task and "
            "--gpus-per-node in job.sh, or let the template choose: "
            "scripts/regenerate.sh mem=auto cpus_per_task=auto gpus_per_node=auto"
        )
    else:
        fix = "change what sbatch names in job.sh's #SBATCH lines (scripts/regenerate.sh KEY=VALUE "
        fix += f"rewrites them), {AGAIN}"
    return "✘", f"refused: {said}. Fix: {fix}"


def main():
    os.chdir(Path(__file__).resolve().parent.parent)
    account = read_job_account()
    loaded = {}  # the modules and Python's X.Y, once they load and python runs
    checks = {
        "cluster": check_cluster,
        "account in job.sh": lambda: check_account_line(account),
        "account exists": lambda: check_account_exists(account),
        "account variables": lambda: check_account_variables(account),
        "python module": lambda: check_python_module(loaded),
        "wheels": lambda: check_wheels(loaded),
{%- if c.job_venv == "home" %}
        "venv": lambda: check_home_venv(loaded),
{%- endif %}
        "dataset": check_dataset,
        "quota": lambda: check_quota(account),
        "project folder": check_project_folder,
        "line endings": check_line_endings,
        "sbatch --test-only": check_sbatch,
    }
    print(f"doctor.sh: is {SLUG} ready for its first job on {NAME}?")
    failures = 0
    for name, check in checks.items():
        mark, text = check()
        print(f"{mark} {name}: {'skipped, ' if mark == '-' else ''}{text}")
        failures += mark == "✘"
    if failures:
        print(f"doctor.sh: not ready: {failures} check(s) failed (✘); fix them, {AGAIN}")
        sys.exit(1)
    print("doctor.sh: ready: sbatch job.sh")


if __name__ == "__main__":
    main()
