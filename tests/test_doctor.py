"""scripts/doctor.sh (doctor.py) on the local Slurm: real sbatch --test-only, sshare/sacctmgr, Lmod and wheelhouse.

Only DRAC's own tools that the test cluster lacks are stood in for, with scripts on PATH that print
what the DRAC wiki shows: ``avail_wheels`` (the Python page, "Available wheels": a table of name,
version, python and arch; with --not-available, a row holding only the name of a requirement
without a wheel), answering from the test wheelhouse the python module points pip at; and
``diskusage_report`` (the Storage_and_file_management page: Description, Space used/quota,
# of files used/quota), one with room and one nearly full.
"""

from __future__ import annotations

import getpass
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from drac_template import clusters
from tests.bakery import answers

pytestmark = pytest.mark.xdist_group("slurm")

ACCOUNT = "def-testlab"
FAST = {"framework": "none", "python_version": "3.11", "account": ACCOUNT, "gpus_per_node": 0,
        "cpus_per_task": 1, "mem": "2G"}
ACCOUNT_VARIABLES = ("SLURM_ACCOUNT", "SBATCH_ACCOUNT", "SALLOC_ACCOUNT")
ON_FIR = {"CC_CLUSTER": "fir", "DATASET_ARCHIVE": None, **dict.fromkeys(ACCOUNT_VARIABLES, ACCOUNT)}
LINE = re.compile(r"^(✔|✘|!|-) ([^:]+): (.*)$")
# DRAC's Slurm client commands: none of them on a laptop
SLURM_COMMANDS = {"sacct", "sacctmgr", "salloc", "sattach", "sbatch", "sbcast", "scancel", "scontrol", "scrontab",
                  "sdiag", "sh5util", "sinfo", "sprio", "squeue", "sreport", "srun", "sshare", "sstat", "strigger",
                  "sview"}

AVAIL_WHEELS = r'''#!/usr/bin/env python3
"""Stand-in for DRAC's avail_wheels -r FILE [--not-available]: the wheels of the wheelhouse the
python module points pip at (PIP_FIND_LINKS), for the loaded Python, in avail_wheels' table."""
import argparse
import os
import re
import sys
from pathlib import Path

parser = argparse.ArgumentParser(prog="avail_wheels")
parser.add_argument("-r", "--requirement", dest="requirements", nargs="+", default=[])
parser.add_argument("--not-available", action="store_true")
args = parser.parse_args()


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


python = f"cp{sys.version_info[0]}{sys.version_info[1]}"
wheels = {}
for wheel in sorted(Path(os.environ["PIP_FIND_LINKS"]).glob("*.whl")):
    name, version, *_, tags, _abi, _platform = wheel.name[:-4].split("-")
    if python in tags.split(".") or "py3" in tags.split("."):
        wheels[norm(name)] = [name, version, tags, "generic"]
rows, missing = [], []
for requirements in args.requirements:
    for line in Path(requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.match(r"[A-Za-z0-9._-]+", line).group(0)
            if norm(name) in wheels:
                rows.append(wheels[norm(name)])
            else:
                missing.append([name])
rows = sorted(rows) + (sorted(missing) if args.not_available else [])
headers = ["name", "version", "python", "arch"]
widths = [max([len(h)] + [len(r[i]) for r in rows if len(r) > i]) for i, h in enumerate(headers)]
print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
print("  ".join("-" * w for w in widths))
for row in rows:
    print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
'''

# The wiki's example, with this user and the test accounts; "room": a full project of another
# group (not this job's), "full": home's files and scratch's space above 90 %.
DISKUSAGE = {
    "room": """\
                   Description                Space           # of files
                 Home ({user})         280 kB/47 GB              25/500k
              Scratch ({user})         4096 B/18 TB              1/1000k
       Project (def-testlab)       4096 B/9536 GB              2/500k
          Project (def-otherlab)       9400 GB/9536 GB              2/500k
""",
    "full": """\
                   Description                Space           # of files
                 Home ({user})         1200 MB/47 GB              482k/500k
              Scratch ({user})         17 TB/18 TB              1/1000k
       Project (def-testlab)       4096 B/9536 GB              2/500k
""",
}


@dataclass
class Doctor:
    returncode: int
    stdout: str
    stderr: str

    @property
    def checks(self) -> dict[str, tuple[str, str]]:
        """Check name -> (status: ✔, ✘ or -, the rest of its line)."""
        found = {}
        for line in self.stdout.splitlines():
            match = LINE.match(line)
            if match:
                found[match.group(2)] = (match.group(1), match.group(3))
        return found

    def line(self, name: str) -> tuple[str, str]:
        assert name in self.checks, self.stdout + self.stderr
        return self.checks[name]

    def failed(self) -> list[str]:
        return [name for name, (status, _) in self.checks.items() if status == "✘"]


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> dict[str, Path]:
    """Folders to put first on PATH: "wheels" (avail_wheels), "room" and "full" (diskusage_report)."""
    root = tmp_path_factory.mktemp("standins")
    folders = {}
    for name, text in {"wheels": AVAIL_WHEELS, **DISKUSAGE}.items():
        folder = root / name
        folder.mkdir()
        if name == "wheels":
            script = folder / "avail_wheels"
            script.write_text(text)
        else:
            script = folder / "diskusage_report"
            script.write_text("#!/bin/sh\ncat <<'EOF'\n" + text.format(user=getpass.getuser()) + "EOF\n")
        script.chmod(0o755)
        folders[name] = folder
    return folders


def run_doctor(slurm, project: Path, env: dict | None = None, path: tuple[Path, ...] = (), before: str = "") -> Doctor:
    """scripts/doctor.sh in a DRAC-like login shell, with these folders first on PATH."""
    prefix = "".join(f"{shlex.quote(str(p))}:" for p in path)
    command = f'{before}\nPATH={prefix}"$PATH" scripts/doctor.sh'
    done = slurm.shell(command, cwd=project, env={**ON_FIR, **(env or {})}, timeout=180)
    print(done.stdout, done.stderr)  # shown when a test fails
    return Doctor(done.returncode, done.stdout, done.stderr)


def make_dataset(project: Path, archive: Path) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", f"{answers(project)['package_name']}.make_dataset", str(archive)],
                   cwd=project, env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"}, check=True,
                   capture_output=True)


def default_archive(slurm, project: Path) -> Path:
    """Where job.sh looks for the dataset: the user's folder of the group's project space."""
    recorded = answers(project)
    space = clusters.cluster(recorded["cluster"])["project_path"].replace("$HOME", str(slurm.home))
    space = space.replace("{account}", recorded["account"])
    return Path(space) / getpass.getuser() / recorded["project_slug"] / "data" / "dataset.tar"


def clone(bakery, where: Path, **overrides) -> Path:
    baked = bakery.bake(**overrides)
    copy = where / baked.name
    shutil.copytree(baked, copy, symlinks=True)
    return copy


def looks_like_a_drac_host() -> bool:
    """The doctor's own rule: a part of the host name is a cluster's key (narval1 -> narval)."""
    parts = re.split(r"[.-]", subprocess.run(["uname", "-n"], capture_output=True, text=True).stdout.strip().lower())
    return any(re.sub(r"[0-9].*$", "", part) in clusters.clusters() for part in parts)


@pytest.fixture(scope="module")
def ready(slurm, bakery, tmp_path_factory, standins) -> Path:
    """A Fir project ready to submit: its dataset where job.sh looks, its wheels in the wheelhouse."""
    project = clone(bakery, tmp_path_factory.mktemp("ready"), project_name="doctor ready", **FAST)
    extra = project.parent / "pip.txt"
    extra.write_text("pip\n")
    slurm.wheelhouse(project / "requirements.txt", extra)
    archive = default_archive(slurm, project)
    make_dataset(project, archive)
    yield project
    shutil.rmtree(archive.parents[1], ignore_errors=True)


@pytest.fixture
def copy_of(tmp_path):
    """A fresh copy of a project, to break one thing in it."""

    def make(project: Path) -> Path:
        target = tmp_path / uuid.uuid4().hex[:8] / project.name
        shutil.copytree(project, target, symlinks=True)
        return target

    return make


def test_a_ready_project_passes(ready, slurm, standins):
    doctor = run_doctor(slurm, ready, path=(standins["wheels"], standins["room"]))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    checks = doctor.checks
    assert list(checks) == ["cluster", "account in job.sh", "account exists", "account variables", "python module",
                            "wheels", "dataset", "quota", "project folder", "line endings", "sbatch --test-only"]
    assert {status for status, _ in checks.values()} <= {"✔", "-"}, doctor.stdout
    assert checks["cluster"] == ("✔", "on Fir ($CC_CLUSTER=fir)")
    assert checks["account in job.sh"] == ("✔", ACCOUNT)
    assert checks["account variables"][0] == "✔"
    assert checks["python module"][0] == "✔" and "module load StdEnv/2023 python/3.11 (Python 3.11." in doctor.stdout
    assert checks["wheels"] == ("✔", "every requirement has a wheel for this Python (numpy)")
    assert checks["dataset"][0] == "✔" and str(default_archive(slurm, ready)) in checks["dataset"][1]
    # home, scratch and this job's project; another group's full project is not this job's
    assert checks["quota"] == ("✔", f"below 90% of space and files: Home ({getpass.getuser()}), "
                                    f"Scratch ({getpass.getuser()}), Project ({ACCOUNT})")
    assert checks["line endings"][0] == "✔"
    assert checks["sbatch --test-only"][0] == "✔" and "accepted: Job" in checks["sbatch --test-only"][1]
    assert doctor.stdout.rstrip().endswith("doctor.sh: ready: sbatch job.sh")


def test_account_existence_is_checked_in_the_accounting_database(ready, slurm, standins, bakery, tmp_path):
    """The test cluster's slurmdbd knows this user in def-testlab and its GPU twin def-testlab_gpu
    (as DRAC's def- groups are), def-someuser and aip-testlab; sshare lists them as on a cluster."""
    sshare = slurm.run(["sshare", "-U", "-u", getpass.getuser(), "--noheader", "--parsable2", "--format=Account"],
                       cwd=ready)
    assert {"def-testlab", "def-testlab_gpu"} <= set(sshare.split()), sshare
    doctor = run_doctor(slurm, ready, path=(standins["wheels"], standins["room"]))
    assert doctor.line("account exists") == ("✔", f"{ACCOUNT} is one of your accounts on Fir")
    other = clone(bakery, tmp_path, project_name="doctor other lab", **{**FAST, "account": "def-otherlab"})
    doctor = run_doctor(slurm, other, env=dict.fromkeys(ACCOUNT_VARIABLES, "def-otherlab"))
    status, text = doctor.line("account exists")
    assert status == "✘" and doctor.returncode == 1
    assert text.startswith("def-otherlab is not one of your accounts on Fir ("), text
    assert "def-testlab" in text and "_gpu" not in text, text  # the GPU twin is the same group
    status, text = doctor.line("sbatch --test-only")  # and Slurm itself agrees
    assert status == "✘" and "Invalid account or account/partition combination specified" in text, text


def test_skipped_checks_do_not_fail_a_ready_project(ready, slurm):
    doctor = run_doctor(slurm, ready)  # no avail_wheels, no diskusage_report
    assert doctor.returncode == 0, doctor.stdout
    assert doctor.line("wheels") == ("-", "skipped, avail_wheels is missing (DRAC's wheelhouse lister)")
    assert doctor.line("quota") == ("-", "skipped, diskusage_report is missing")


def test_on_a_laptop_every_cluster_command_is_missing(ready, slurm, tmp_path):
    """No Slurm, no Lmod, no DRAC tools, no $CC_CLUSTER: each check that needs one says so."""
    laptop_bin = tmp_path / "bin"
    laptop_bin.mkdir()
    for folder in (Path("/usr/bin"), Path("/bin")):
        for tool in folder.iterdir():
            if tool.name not in SLURM_COMMANDS and not (laptop_bin / tool.name).exists():
                (laptop_bin / tool.name).symlink_to(tool)
    done = slurm.shell("unset -f module ml; PATH=\"$LAPTOP_BIN\" scripts/doctor.sh", cwd=ready,
                       env={**ON_FIR, "CC_CLUSTER": None, "LAPTOP_BIN": str(laptop_bin)})
    doctor = Doctor(done.returncode, done.stdout, done.stderr)
    assert doctor.line("account exists") == ("-", "skipped, neither sshare nor sacctmgr is installed here")
    assert doctor.line("python module") == ("-", "skipped, the module command is missing (Lmod): not a DRAC "
                                                 "login shell")
    assert doctor.line("wheels") == ("-", "skipped, it needs the python module (above)")
    assert doctor.line("quota") == ("-", "skipped, diskusage_report is missing")
    assert doctor.line("sbatch --test-only") == ("-", "skipped, sbatch is missing: run this on a login node")
    if not looks_like_a_drac_host():
        status, text = doctor.line("cluster")
        assert status == "✘" and text.startswith("not on a DRAC cluster (no $CC_CLUSTER, host "), text
        assert "Fix: run this on a Fir login node: ssh fir.alliancecan.ca" in text
        assert doctor.failed() == ["cluster"] and doctor.returncode == 1


def test_another_cluster_is_named_with_the_fix(ready, slurm, standins):
    doctor = run_doctor(slurm, ready, env={"CC_CLUSTER": "narval"})
    status, text = doctor.line("cluster")
    assert status == "✘" and doctor.returncode == 1
    assert text == ("on Narval ($CC_CLUSTER=narval), but this project is made for Fir. Fix: run this on Fir "
                    "(ssh fir.alliancecan.ca), or make the project for Narval: scripts/regenerate.sh cluster=narval")
    cedar = run_doctor(slurm, ready, env={"CC_CLUSTER": "cedar"})
    assert cedar.line("cluster")[1].endswith("made for Fir. Fix: run this on Fir (ssh fir.alliancecan.ca)")
    if not looks_like_a_drac_host():
        nowhere = run_doctor(slurm, ready, env={"CC_CLUSTER": None})
        assert nowhere.line("cluster")[1].startswith("not on a DRAC cluster")


def test_the_placeholder_account_fails_with_the_fix(bakery, slurm, tmp_path, standins):
    project = clone(bakery, tmp_path, project_name="doctor placeholder", **{**FAST, "account": "def-someuser"})
    doctor = run_doctor(slurm, project, env=dict.fromkeys(ACCOUNT_VARIABLES, "def-someuser"),
                        path=(standins["wheels"], standins["room"]))
    status, text = doctor.line("account in job.sh")
    assert status == "✘" and doctor.returncode == 1
    assert text.startswith("def-someuser is the template's placeholder, not an account")
    assert "Fix: find your account in CCDB" in text
    assert "scripts/regenerate.sh account=<your account> && scripts/install-bashrc.sh && source ~/.bashrc" in text
    # the dataset check looks where this project's job.sh looks: the placeholder group's space
    status, text = doctor.line("dataset")
    assert status == "✘" and text.startswith(f"no archive where job.sh looks: {default_archive(slurm, project)}. Fix:")

    job = project / "job.sh"
    job.write_text(re.sub(r"^#SBATCH --account=.*\n", "", job.read_text(), flags=re.M))
    doctor = run_doctor(slurm, project)
    status, text = doctor.line("account in job.sh")
    assert status == "✘" and text.startswith("job.sh has no #SBATCH --account line. Fix: ")


def test_account_variables_unset_or_different(ready, slurm, standins, tmp_path):
    """A convenience (Running_jobs): unset is fine; another account is worth a warning, not a failure,
    since it overrides job.sh's line in every job (issue 18, item 10)."""
    unset = run_doctor(slurm, ready, env=dict.fromkeys(ACCOUNT_VARIABLES), path=(standins["wheels"], standins["room"]))
    status, text = unset.line("account variables")
    assert status == "✔" and unset.returncode == 0, unset.stdout
    assert text.startswith("none set: job.sh's #SBATCH --account applies")

    other = run_doctor(slurm, ready, env={"SBATCH_ACCOUNT": "def-someuser"},
                       path=(standins["wheels"], standins["room"]))
    status, text = other.line("account variables")
    assert status == "!" and "account variables" not in other.failed()
    assert text.startswith(f"SBATCH_ACCOUNT=def-someuser is not job.sh's {ACCOUNT}: it overrides #SBATCH --account in "
                           "every job you submit")
    # the _gpu account of the same group is the same account to the doctor, as to the bake (item 7)
    same = run_doctor(slurm, ready, env={"SBATCH_ACCOUNT": f"{ACCOUNT}_gpu"})
    assert same.line("account variables")[0] == "✔"

    # the fix, as printed, with a bashrc of this test's own
    bashrc = tmp_path / "bashrc"
    fixed = run_doctor(slurm, ready, env=dict.fromkeys(ACCOUNT_VARIABLES), path=(standins["wheels"], standins["room"]),
                       before=f"scripts/install-bashrc.sh {bashrc} >/dev/null && source {bashrc}")
    assert fixed.line("account variables") == ("✔", "SLURM_ACCOUNT SBATCH_ACCOUNT SALLOC_ACCOUNT name job.sh's account")
    assert fixed.returncode == 0, fixed.stdout


def test_a_python_module_that_does_not_load(bakery, slurm, tmp_path, standins):
    """The test module tree has python/3.11 only: a project for 3.12 cannot load its module."""
    project = clone(bakery, tmp_path, project_name="doctor py312", **{**FAST, "python_version": "3.12"})
    doctor = run_doctor(slurm, project, path=(standins["wheels"], standins["room"]))
    status, text = doctor.line("python module")
    assert status == "✘" and doctor.returncode == 1
    # Lmod's own words, on one line
    assert text.startswith('module load StdEnv/2023 python/3.12 failed: The following module(s) are unknown: '
                           '"python/3.12". Fix: ')
    assert text.endswith("Fix: module spider <name> lists the versions here; choose a python: "
                         "scripts/regenerate.sh python_version=X.Y, or fix modules.txt")
    assert doctor.line("wheels") == ("-", "skipped, it needs the python module (above)")


def test_a_requirement_without_a_wheel(ready, slurm, standins, copy_of):
    project = copy_of(ready)
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("scikit-learn>=1.4  # not in the test wheelhouse\n")
    doctor = run_doctor(slurm, project, path=(standins["wheels"], standins["room"]))
    status, text = doctor.line("wheels")
    assert status == "✘" and doctor.failed() == ["wheels"] and doctor.returncode == 1
    assert text.startswith("no wheel in DRAC's wheelhouse for Python 3.11 of: scikit-learn. Fix: change or remove "
                           "those lines of requirements.txt")
    # the stand-in printed the wiki's table: available rows, then the name alone
    table = slurm.shell("module load python/3.11 && \"$STANDIN\" -r requirements.txt --not-available", cwd=project,
                        env={"STANDIN": str(standins["wheels"] / "avail_wheels")}).stdout.splitlines()
    assert table[0].split() == ["name", "version", "python", "arch"] and set(table[1]) == {"-", " "}
    assert table[2].split()[0] == "numpy" and table[3] == "scikit-learn"


def test_no_dataset_where_job_sh_looks(ready, slurm, standins, tmp_path, bakery):
    elsewhere = tmp_path / "nowhere" / "dataset.tar"
    doctor = run_doctor(slurm, ready, env={"DATASET_ARCHIVE": str(elsewhere)}, path=(standins["wheels"],))
    status, text = doctor.line("dataset")
    assert status == "✘" and doctor.failed() == ["dataset"] and doctor.returncode == 1
    assert text == (f"no archive where job.sh looks: {elsewhere}. Fix: mkdir -p {elsewhere.parent} and copy your "
                    "archive there (the example: python -m doctor_ready.make_dataset data/dataset.tar, README step 6), "
                    "or name another one when you submit: DATASET_ARCHIVE=/path/to/archive.tar sbatch job.sh")
    # an account without a project space here (not one of the test cluster's groups)
    project = clone(bakery, tmp_path, project_name="doctor no space", **{**FAST, "account": "def-nolab"})
    doctor = run_doctor(slurm, project, env=dict.fromkeys(ACCOUNT_VARIABLES, "def-nolab"))
    status, text = doctor.line("dataset")
    assert status == "✘" and f"the project space {slurm.home}/projects/def-nolab does not exist" in text


def test_a_nearly_full_quota(ready, slurm, standins):
    doctor = run_doctor(slurm, ready, path=(standins["wheels"], standins["full"]))
    status, text = doctor.line("quota")
    assert status == "✘" and doctor.failed() == ["quota"] and doctor.returncode == 1
    user = getpass.getuser()
    assert text.startswith(f"nearly full (90% or more): Home ({user}): 96% of its files; "
                           f"Scratch ({user}): 94% of its space. Fix: delete what you no longer need there")


def test_crlf_line_endings_and_their_fix(ready, slurm, standins, copy_of):
    project = copy_of(ready)
    for name in ("sweep.txt", "scripts/job-node.sh", "job.sh"):
        path = project / name
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    doctor = run_doctor(slurm, project, path=(standins["wheels"], standins["room"]))
    status, text = doctor.line("line endings")
    assert status == "✘" and doctor.returncode == 1
    files = "job.sh sweep.txt scripts/job-node.sh"
    assert text == (f"Windows (CRLF) line endings in {files}; bash and sbatch refuse them. "
                    f"Fix: sed -i 's/\\r$//' {files} (or: dos2unix {files}); .gitattributes keeps them LF in git")
    status, text = doctor.line("sbatch --test-only")  # sbatch's own refusal, with the same fix
    assert status == "✘" and "DOS line breaks" in text and "Fix: sed -i 's/\\r$//' job.sh" in text

    fix = doctor.line("line endings")[1].split("Fix: ")[1].split(" (or:")[0]  # the fix, as printed
    subprocess.run(["bash", "-c", fix], cwd=project, check=True)
    assert run_doctor(slurm, project, path=(standins["wheels"], standins["room"])).returncode == 0


def test_sbatch_refuses_what_the_nodes_do_not_have(ready, slurm, standins, copy_of):
    project = copy_of(ready)
    job = project / "job.sh"
    job.write_text(job.read_text().replace("#SBATCH --mem=2G ", "#SBATCH --mem=5000G "))
    doctor = run_doctor(slurm, project, path=(standins["wheels"], standins["room"]))
    status, text = doctor.line("sbatch --test-only")
    assert status == "✘" and doctor.failed() == ["sbatch --test-only"] and doctor.returncode == 1
    assert text.startswith("refused: ") and "Requested node configuration is not available" in text
    assert "Fix: ask only for what Fir's nodes have: check --mem, --cpus-per-task and --gpus-per-node" in text


def test_a_project_in_home_gets_advice_not_a_failure(ready, slurm, standins):
    folder = slurm.home / f"doctor-{uuid.uuid4().hex[:8]}"
    try:
        project = folder / ready.name
        shutil.copytree(ready, project, symlinks=True)
        doctor = run_doctor(slurm, project, path=(standins["wheels"], standins["room"]))
        status, text = doctor.line("project folder")
        assert status == "!" and doctor.returncode == 0, doctor.stdout
        assert text.startswith(f"{project} is in $HOME; advised instead: your folder of the project space, "
                               f"{slurm.home}/projects/{ACCOUNT}/{getpass.getuser()}/doctor_ready")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_trillium_needs_scratch_and_the_login_node_venv(bakery, slurm, standins, tmp_path):
    """Trillium: jobs are submitted from $SCRATCH and use the venv scripts/setup-cluster.sh made."""
    overrides = {"cluster": "trillium", "framework": "none", "python_version": "3.11", "account": ACCOUNT,
                 "gpus_per_node": 0, "project_name": "doctor trillium"}
    env = {"CC_CLUSTER": "trillium", "VENV": str(tmp_path / "venv")}
    path = (standins["wheels"], standins["room"])
    outside = clone(bakery, tmp_path, **overrides)
    archive = default_archive(slurm, outside)
    assert "/links/projects/" in str(archive)
    make_dataset(outside, archive)
    scratch_folder = slurm.scratch / f"doctor-{uuid.uuid4().hex[:8]}"
    try:
        doctor = run_doctor(slurm, outside, env=env, path=path)
        assert doctor.failed() == ["venv", "project folder"], doctor.stdout
        status, text = doctor.line("project folder")
        assert text.startswith(f"{outside} is not in $SCRATCH: on Trillium, home and project are read-only in jobs")
        assert "Fix: clone the project in scratch and submit from there: cd $SCRATCH && git clone" in text
        assert doctor.line("venv")[1] == (f"no venv in {tmp_path / 'venv'}. Fix: scripts/setup-cluster.sh (run it "
                                          "again after each change to requirements.txt: Trillium's jobs use this venv)")

        project = scratch_folder / outside.name
        shutil.copytree(outside, project, symlinks=True)
        slurm.run(["scripts/setup-cluster.sh"], cwd=project, env=env)
        doctor = run_doctor(slurm, project, env=env, path=path)
        assert doctor.returncode == 0, doctor.stdout
        assert doctor.line("venv") == ("✔", f"{tmp_path / 'venv'}, made on a login node")
        assert doctor.line("project folder")[1].startswith(f"{project}, in $SCRATCH, where Trillium takes jobs from")

        with (project / "requirements.txt").open("a") as requirements:
            requirements.write("# a change\n")
        doctor = run_doctor(slurm, project, env=env, path=path)
        assert doctor.failed() == ["venv"]
        assert doctor.line("venv")[1].startswith(f"{tmp_path / 'venv'} was made for another requirements.txt or Python")
    finally:
        shutil.rmtree(scratch_folder, ignore_errors=True)
        shutil.rmtree(archive.parents[1], ignore_errors=True)


def test_the_doctor_runs_no_value_as_code(ready):
    wrapper = ready / "scripts" / "doctor.sh"
    assert wrapper.stat().st_mode & 0o111
    assert not re.search(r"^\s*(eval|source|\.)\s", wrapper.read_text(), re.M)
    doctor = (ready / "scripts" / "doctor.py").read_text()
    assert not re.search(r"\b(eval|exec)\(|shell=True|os\.system", doctor)


SSHARE = """#!/bin/sh
# Stand-in for DRAC's sshare -U -u USER --noheader --parsable2 --format=Account: a group's two
# Slurm accounts, "the project name with _cpu or _gpu appended" (Job_scheduling_policies)
printf '%s\\n' def-testlab_cpu def-testlab_gpu
"""


@pytest.mark.parametrize("account, status", [(f"{ACCOUNT}_gpu", "✔"), (ACCOUNT, "✔"), ("def-otherlab_gpu", "✘")])
def test_an_account_with_its_suffix_is_one_of_the_groups_accounts(ready, slurm, standins, copy_of, tmp_path,
                                                                  account, status):
    """The bake accepts def-prof_gpu; the doctor compares groups by the same rule (issue 18, item 7)."""
    project = copy_of(ready)
    job = project / "job.sh"
    job.write_text(re.sub(r"^#SBATCH --account=\S+", f"#SBATCH --account={account}", job.read_text(), flags=re.M))
    folder = tmp_path / "sshare"
    folder.mkdir()
    (folder / "sshare").write_text(SSHARE)
    (folder / "sshare").chmod(0o755)
    doctor = run_doctor(slurm, project, env=dict.fromkeys(ACCOUNT_VARIABLES), path=(folder,))
    found, text = doctor.line("account exists")
    assert found == status, text
    if status == "✘":
        assert text.startswith(f"{account} is not one of your accounts on Fir (def-testlab)")


def test_killarney_fails_a_project_in_home_with_the_fix(bakery, slurm, standins):
    """Killarney refuses jobs submitted from /home (issue 18, item 11)."""
    overrides = {**FAST, "cluster": "killarney", "account": "aip-testlab", "project_name": "doctor killarney"}
    folder = slurm.home / f"doctor-{uuid.uuid4().hex[:8]}"
    try:
        project = clone(bakery, folder, **overrides)
        doctor = run_doctor(slurm, project, env={"CC_CLUSTER": "killarney"})
        status, text = doctor.line("project folder")
        assert status == "✘" and doctor.returncode == 1
        assert text.startswith(f"{project} is in $HOME: Killarney refuses jobs submitted from /home. Fix: move the "
                               "project to your folder of the project space")
        assert f"mv {project} {slurm.home}/projects/aip-testlab/{getpass.getuser()}/" in text
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("host, cluster", [("trig-login01", "trillium"), ("tri-login03.scinet.local", "trillium"),
                                           ("narval1.narval.calcul.quebec", "narval"), ("login1.example.org", "")])
def test_login_nodes_are_recognised_by_their_host_names(ready, host, cluster):
    """Without $CC_CLUSTER, Trillium's login nodes are tri-login* and trig-login* (issue 18, item 22)."""
    code = "import runpy, sys; print(runpy.run_path(sys.argv[1])['cluster_from_host'](sys.argv[2]))"
    done = subprocess.run([sys.executable, "-c", code, str(ready / "scripts" / "doctor.py"), host],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == cluster


def test_the_modules_of_modules_txt_are_loaded_and_a_bad_name_fails(ready, slurm, copy_of):
    """One list of modules (issue 18, item 14): the doctor loads what scripts/modules.sh lists."""
    project = copy_of(ready)
    with (project / "modules.txt").open("a") as file:
        file.write("no-such-module\n")
    doctor = run_doctor(slurm, project)
    status, text = doctor.line("python module")
    assert status == "✘" and "module load StdEnv/2023 python/3.11 no-such-module failed" in text, text
    (project / "modules.txt").write_text("bad;name\n")
    status, text = run_doctor(slurm, project).line("python module")
    assert status == "✘" and text.startswith("modules.sh: modules.txt: 'bad;name' is not a module name"), text
    assert "Fix: fix modules.txt" in text
