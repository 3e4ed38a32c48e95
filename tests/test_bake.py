"""Bake every supported value of every choice, once each, and check what comes out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from cookiecutter.exceptions import FailedHookException

from drac_template import clusters, plan, rules
from tests.bakery import ANSWER_KEYS, CHOICES, TEMPLATE, answers, check_keys, config_id, resolve

SHELLCHECK = Path(sys.executable).with_name("shellcheck")
GOLDEN = Path(__file__).with_name("golden")


def _valid(overrides: dict) -> bool:
    return not [p for p in rules.validate(resolve(overrides)) if not p.warning]


def _config_for(key: str, value: str) -> dict:
    """The first cluster on which this choice value is valid with otherwise default answers."""
    for cluster in clusters.clusters():
        overrides = {key: value} if key == "cluster" else {"cluster": cluster, key: value}
        if _valid(overrides):
            return overrides
    raise AssertionError(f"no cluster accepts {key}={value}")


# Every value of every choice (read from cookiecutter.json), plus named configurations that
# exercise what the choices alone do not: CPU jobs, several nodes, whole nodes, mail, old Python.
MATRIX = {config_id(c): c for c in (_config_for(k, v) for k, values in CHOICES.items() for v in values)}
NAMED = {
    "fir-cpu": {"cluster": "fir", "gpus_per_node": 0, "cpus_per_task": 4, "mem": "16G", "framework": "none"},
    "fir-2-nodes-cpu": {"cluster": "fir", "gpus_per_node": 0, "nodes": 2, "cpus_per_task": 2, "mem": "8G"},
    "nibi-2-nodes-8-gpus": {"cluster": "nibi", "gpus_per_node": 8, "nodes": 2, "tracker": "wandb"},
    "narval-mig-3g": {"cluster": "narval", "mig_slice": "3g", "framework": "none", "tracker": "tensorboard"},
    "trillium-cpu": {"cluster": "trillium", "gpus_per_node": 0, "framework": "none"},
    "trillium-2-nodes-4-gpus": {"cluster": "trillium", "gpus_per_node": 4, "nodes": 2, "time": "24:00:00"},
    "tamia-h200": {"cluster": "tamia", "gpu_type": "h200", "account": "aip-testlab"},
    "vulcan-mail": {"cluster": "vulcan", "mail_user": "jsmith@example.ca", "account": "aip-testlab"},
    "rorqual-py310": {"cluster": "rorqual", "python_version": "3.10.13", "account": "rrg-testlab-ab"},
    "killarney-h100": {"cluster": "killarney", "gpu_type": "h100", "gpus_per_node": 8},
}
CONFIGS = {**MATRIX, **NAMED}


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def baked(request, bakery):
    overrides = CONFIGS[request.param]
    return bakery.bake(**overrides), resolve(overrides)


def shell_scripts(project: Path) -> list[Path]:
    return sorted([project / "job.sh", project / "sweep.sh", *project.glob("scripts/*.sh")])


def text_files(project: Path) -> list[Path]:
    return [p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts]


def test_matrix_covers_every_choice():
    for key, values in CHOICES.items():
        assert {c.get(key, CHOICES[key][0]) for c in MATRIX.values()} >= set(values), key


def test_misspelled_override_keys_fail():
    with pytest.raises(KeyError, match="gpus_per_nod"):
        check_keys({"gpus_per_nod": 2})


def test_every_answer_has_a_prompt():
    import json

    context = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    assert set(context["__prompts__"]) == set(ANSWER_KEYS)


def test_answers_are_recorded(baked):
    project, expected = baked
    recorded = answers(project)
    assert {k: recorded[k] for k in ANSWER_KEYS} == {k: expected[k] for k in ANSWER_KEYS}


def test_scripts_pass_bash_n_and_shellcheck(baked):
    project, _ = baked
    scripts = shell_scripts(project)
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)
    result = subprocess.run([str(SHELLCHECK), "-s", "bash", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_scripts_are_executable(baked):
    project, _ = baked
    for script in shell_scripts(project):
        if script.name != "bashrc-snippet.sh":  # sourced, never run
            assert os.access(script, os.X_OK), script


def test_no_template_left_no_crlf_no_blank_runs(baked):
    project, _ = baked
    for path in text_files(project):
        text = path.read_bytes().decode("utf-8")
        assert "{{" not in text and "{%" not in text, path
        assert "\r" not in text, path
        assert "\n\n\n\n" not in text, f"{path} has a run of blank lines"
        assert text.endswith("\n") or text == "", path


def sbatch_directives(job: str) -> dict[str, str]:
    """The directives sbatch reads: #SBATCH lines before the first command."""
    found: dict[str, str] = {}
    for line in job.splitlines()[1:]:
        if line.startswith("#SBATCH"):
            option = line.split()[1]
            key, _, value = option.partition("=")
            assert key not in found, f"duplicate {key}"
            found[key] = value
        elif line.strip() and not line.startswith("#"):
            break
    return found


def test_every_sbatch_line_comes_before_the_first_command(baked):
    project, _ = baked
    lines = (project / "job.sh").read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    first_command = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    assert lines[first_command] == "set -euo pipefail"
    assert not [line for line in lines[first_command:] if line.lstrip().startswith("#SBATCH")]


def test_sbatch_lines_match_the_answers_and_the_cluster_data(baked):
    project, recorded = baked
    given = plan.resolve(recorded)
    facts = clusters.cluster(given["cluster"])
    job = plan.job(given)
    sbatch = sbatch_directives((project / "job.sh").read_text())
    assert sbatch["--account"] == given["account"]
    assert sbatch["--time"] == given["time"]
    assert sbatch["--nodes"] == given["nodes"]
    assert sbatch["--cpus-per-task"] == given["cpus_per_task"]
    assert sbatch["--signal"] == f"B:USR1@{job.signal_seconds}"
    assert sbatch["--open-mode"] == "append" and "--requeue" in sbatch
    gpus = int(given["gpus_per_node"])
    if gpus == 0:
        assert "--gpus-per-node" not in sbatch and sbatch["--ntasks-per-node"] == "1"
    else:
        spec, count = sbatch["--gpus-per-node"].split(":")
        assert count == str(gpus) and sbatch["--ntasks-per-node"] == str(gpus)
        gpu = facts["gpus"][plan.gpu_type(given)]
        if given["mig_slice"] == "none":
            assert spec == plan.gpu_type(given) and gpus in gpu["per_node"]
        else:
            assert spec == gpu["mig"][given["mig_slice"]]["type"]
    if (facts["whole_node"] or {}).get("memory_request_refused"):
        assert "--mem" not in sbatch
    else:
        assert sbatch["--mem"] == given["mem"]
    assert ("--mail-user" in sbatch) == bool(given["mail_user"])


def test_offline_settings_follow_the_cluster(baked):
    project, given = baked
    facts = clusters.cluster(given["cluster"])
    job = (project / "job.sh").read_text()
    assert ("export HF_HUB_OFFLINE=1 " in job) == (not facts["internet_on_compute"])
    # W&B works through Vulcan's proxy (wandb page): offline only where it cannot reach its server
    assert ("export WANDB_MODE=offline" in job) == (not facts["wandb_online"])
    # one Hugging Face cache for the login node (the .bashrc block) and for jobs
    snippet = (project / "scripts" / "bashrc-snippet.sh").read_text()
    assert f'export HF_HOME="${{HF_HOME:-{facts["hf_home"]}}}"' in snippet
    assert f'export HF_HOME="${{HF_HOME:-{facts["hf_home"]}}}"' in job
    assert 'module load "${modules[@]}"' in job  # scripts/modules.sh's list
    modules = (project / "scripts" / "modules.sh").read_text()
    assert f"printf '%s\\n' StdEnv/2023 python/{given['python_version']}\n" in modules
    # hf_xet fails on DRAC's systems (the Huggingface page): off wherever HF_HOME is set
    assert "export HF_HUB_DISABLE_XET=1" in job and "export HF_HUB_DISABLE_XET=1" in snippet


def test_distributed_rendezvous_only_for_several_ranks(baked):
    project, given = baked
    job = (project / "job.sh").read_text()
    assert ("MASTER_ADDR=" in job) == (plan.job(given).world_size > 1)


def test_bashrc_snippet_sets_the_three_variables(baked):
    project, recorded = baked
    given = plan.resolve(recorded)
    snippet = (project / "scripts" / "bashrc-snippet.sh").read_text()
    assert f"export SLURM_ACCOUNT={given['account']}\n" in snippet
    assert 'export SBATCH_ACCOUNT="$SLURM_ACCOUNT"' in snippet
    assert 'export SALLOC_ACCOUNT="$SLURM_ACCOUNT"' in snippet


# ---- refused bakes leave nothing --------------------------------------------------------------------

REFUSED = {
    "account": {"account": "def_prof"},
    "aip-on-fir": {"account": "aip-lab"},
    "python-3.9": {"python_version": "3.9"},
    "python-prefix": {"python_version": "python3.11"},
    "time-format": {"time": "3h"},
    "time-too-long": {"cluster": "trillium", "time": "2-00:00:00"},
    "gpus": {"gpus_per_node": 9},
    "slug": {"project_slug": "my-project"},
    "keyword": {"package_name": "class"},
    "injection": {"project_slug": 'x"; import os; os.system("touch MARKER"); "'},
    # issue 7: whole matches, ASCII digits, paths out of the output folder, names too long, shadowing
    "final-newline": {"python_version": "3.12\n"},
    "wide-digits": {"time": "３:00:00"},
    "escape": {"project_slug": "../escaped/x"},
    "too-long": {"package_name": "p" * 256},
    "shadowing": {"package_name": "signal"},
    "not-utf8": {"project_name": "caf\udce9"},
}


@pytest.mark.parametrize("overrides", list(REFUSED.values()), ids=list(REFUSED))
def test_refused_bake_leaves_no_folder(overrides, cookies, tmp_path, capfd):
    marker_dir = tmp_path / "cwd"
    marker_dir.mkdir()
    cwd = Path.cwd()
    os.chdir(marker_dir)
    try:
        result = cookies.bake(extra_context=overrides, template=str(TEMPLATE))
    finally:
        os.chdir(cwd)
    assert result.exit_code != 0 and isinstance(result.exception, FailedHookException), result
    assert result.project_path is None
    # pytest-cookies' output folder: at most an empty folder for this bake, nothing in it
    assert [p for p in (tmp_path / "cookies").rglob("*") if not (p.is_dir() and not any(p.iterdir()))] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cookies", "cwd"], "nothing written beside it"
    assert not list(tmp_path.rglob("MARKER"))
    err = capfd.readouterr().err
    field = next(iter(overrides)) if "cluster" not in overrides else list(overrides)[1]
    assert f"ERROR: {field} " in err and "e.g. " in err, err


def test_cli_exits_non_zero_with_the_message(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cookiecutter")), "--no-input", "-o", str(tmp_path), str(TEMPLATE),
         "account=def_prof"],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "ERROR: account 'def_prof': expected def-<name>" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_hostile_free_text_stays_data(bakery, tmp_path):
    marker = Path(tempfile.mkdtemp(prefix="h")) / "pwned"  # a short path: the text stays under the length limits
    evil = f"Evil \"quote' $(touch {marker}) `touch {marker}` \\ end\nsecond line"
    project = bakery.bake(project_name=evil, description=evil, author_name=evil)
    assert not marker.exists()
    assert project.name == plan.slug(evil)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == evil
    for script in shell_scripts(project):
        subprocess.run(["bash", "-n", str(script)], check=True)
        text = script.read_text()
        assert "$(touch" not in text and "`touch" not in text and "quote'" not in text, script


# ---- golden job.sh files ------------------------------------------------------------------------------

GOLDEN_CONFIGS = ["fir-cpu", "nibi-2-nodes-8-gpus", "narval-mig-3g", "trillium-2-nodes-4-gpus", "tamia-h200",
                  "vulcan-mail"]


@pytest.mark.parametrize("name", GOLDEN_CONFIGS)
def test_golden_job_sh(name, bakery):
    """Regenerate after an intended change: UPDATE_GOLDEN=1 tools/test tests/test_bake.py -k golden"""
    rendered = (bakery.bake(**NAMED[name]) / "job.sh").read_text()
    golden = GOLDEN / f"{name}.job.sh"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"missing {golden}; create it with UPDATE_GOLDEN=1"
    assert rendered == golden.read_text(), f"{name}: job.sh changed; if intended: UPDATE_GOLDEN=1 tools/test -k golden"


def test_defaults_bake_needs_no_answers(bakery):
    project = bakery.bake()
    assert re.search(r"^#SBATCH --gpus-per-node=h100:1 ", (project / "job.sh").read_text(), re.M)


def test_mig_prompts_give_the_wikis_eighths():
    import json

    prompts = json.loads((TEMPLATE / "cookiecutter.json").read_text())["__prompts__"]["mig_slice"]
    assert "/7" not in json.dumps(prompts)
    fractions = [prompts[s].split(" - ")[1].split(" of")[0] for s in ("1g", "2g", "3g", "4g")]
    assert fractions == ["1/8", "2/8", "3/8", "4/8"]


def test_trillium_gpu_bakes_say_where_to_submit(tmp_path):
    """Trillium takes GPU jobs from its GPU login node only (Trillium_Quickstart)."""
    cli = Path(sys.executable).with_name("cookiecutter")
    done = subprocess.run([str(cli), "--no-input", "-o", str(tmp_path / "gpu"), str(TEMPLATE), "cluster=trillium",
                           "account=def-testlab"], capture_output=True, text=True, check=True)
    assert "GPU jobs are submitted from its GPU login node, trillium-gpu.alliancecan.ca" in done.stdout
    assert "ssh trillium-gpu" in done.stdout
    cpu = subprocess.run([str(cli), "--no-input", "-o", str(tmp_path / "cpu"), str(TEMPLATE), "cluster=trillium",
                          "account=def-testlab", "gpus_per_node=0"], capture_output=True, text=True, check=True)
    assert "GPU login node" not in cpu.stdout and "ssh trillium," in cpu.stdout


def test_job_sh_pipes_nothing_into_head():
    """Under pipefail, `scontrol show hostnames | head -n 1` can end in SIGPIPE (exit 141)."""
    assert "| head" not in (TEMPLATE / "{{cookiecutter.project_slug}}" / "job.sh").read_text()


def test_job_sh_outside_slurm_says_to_use_sbatch(bakery, tmp_path):
    project = bakery.bake(account="def-testlab")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no SLURM_* variables: a laptop
    done = subprocess.run(["bash", "job.sh"], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == "job.sh: this is a Slurm job: submit it on the cluster with: sbatch job.sh [training flags]\n"


# ---- one list of modules (issue 18, item 14) ------------------------------------------------------


def test_one_list_of_modules_for_the_job_the_venv_the_cache_and_the_doctor(bakery, tmp_path):
    project = bakery.bake(cluster="narval", python_version="3.13")
    modules = project / "scripts" / "modules.sh"
    listed = subprocess.run([str(modules)], capture_output=True, text=True, check=True).stdout.split()
    assert listed == ["StdEnv/2023", "python/3.13"]
    # every part that loads modules reads them from scripts/modules.sh; none names python itself
    for rel in ("job.sh", "scripts/setup-cluster.sh", "scripts/doctor.py", "scripts/job-node.sh"):
        text = (project / rel).read_text()
        assert "scripts/modules.sh" in text, rel
        assert not re.search(r"^\s*module load [^\"]*python/", text, re.M), rel
    job = (project / "job.sh").read_text()
    assert job.index("module purge") < job.index('module load "${modules[@]}"')
    # a student's modules.txt: words on lines, comments, CRLF; a name that is not one is refused
    copy = tmp_path / project.name
    shutil.copytree(project, copy, symlinks=True)
    with (copy / "modules.txt").open("a") as file:
        file.write("gcc  arrow   # pyarrow\r\n\nopencv\n")
    listed = subprocess.run([str(copy / "scripts/modules.sh")], capture_output=True, text=True, check=True).stdout
    assert listed.split() == ["StdEnv/2023", "python/3.13", "gcc", "arrow", "opencv"]
    with (copy / "modules.txt").open("a") as file:
        file.write("$(touch pwned)\n")
    refused = subprocess.run([str(copy / "scripts/modules.sh")], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 1 and "'$(touch' is not a module name" in refused.stderr
    assert not list(tmp_path.rglob("pwned"))


def test_sweep_sh_without_sbatch_says_it_runs_on_the_cluster(bakery, tmp_path):
    project = bakery.bake()
    (tmp_path / "dirname").symlink_to(shutil.which("dirname"))  # and no sbatch on PATH
    done = subprocess.run([shutil.which("bash"), str(project / "sweep.sh")], env={"PATH": str(tmp_path)},
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == ("sweep.sh: this submits a job array on the cluster: run it there, in the project folder "
                           "(no sbatch here)\n")


@pytest.mark.parametrize("cluster, limit", [("fir", 1000), ("trillium", 500)])
def test_sweep_sh_keeps_to_the_per_user_job_limit(bakery, tmp_path, cluster, limit):
    """Issue 18, item 20: each array task counts as one job (Job_scheduling_policies; Trillium: 500)."""
    project = bakery.bake(cluster=cluster)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"sbatch": 'echo "sbatch $*"', "squeue": "seq 10"}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "USER": "jsmith"}
    for count, ok in ((limit - 10, True), (limit - 9, False)):
        params = tmp_path / f"sweep-{count}.txt"
        params.write_text("".join(f"--seed {i}\n" for i in range(count)))
        done = subprocess.run(["bash", str(project / "sweep.sh"), str(params), "4"], env=env, capture_output=True,
                              text=True)
        assert (done.returncode == 0) == ok, done.stderr
        if not ok:
            assert f"exceed the limit of {limit} jobs per user" in done.stderr
