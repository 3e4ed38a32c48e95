"""The generated README: for every cluster, the facts it shows come from clusters.json, the
commands it gives point at files that exist in the baked project, and the Markdown is clean.

The cluster list is read from cookiecutter.json, so a new cluster is tested without editing
this file.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from drac_template import clusters, plan
from tests import recipes
from tests.bakery import CONTEXT, answers, config_id

CLUSTERS: list[str] = CONTEXT["cluster"]
# Every cluster with its defaults, then the options that change what the README says.
CONFIGS: list[dict] = [{"cluster": c} for c in CLUSTERS] + [
    {"cluster": "fir", "tracker": "wandb"},
    {"cluster": "narval", "tracker": "wandb"},
    {"cluster": "rorqual", "tracker": "tensorboard"},
    {"cluster": "fir", "gpus_per_node": 0},
    {"cluster": "trillium", "gpus_per_node": 0},
    {"cluster": "trillium", "gpus_per_node": 4},
    {"cluster": "narval", "mig_slice": "3g"},
    {"cluster": "tamia", "gpu_type": "h200"},
    {"cluster": "nibi", "nodes": 2, "gpus_per_node": 8},
]
PLACEHOLDERS: list[str] = clusters.accounts()["placeholders"]

# Repository files a README may tell the student to run or edit.
FILE_MENTION = re.compile(
    r"(?<![\w/.-])(?:\./)?(scripts/[\w.-]+\.\w+|job\.sh|sweep\.sh|sweep\.txt|requirements\.txt|\.cruft\.json)(?![\w/-])"
)
MODULE_MENTION = re.compile(r"python -m ([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def real_account(cluster: str) -> str:
    return "aip-testlab" if clusters.is_ai_cluster(cluster) else "def-testlab"


def read(project: Path) -> str:
    return (project / "README.md").read_text(encoding="utf-8")


def code_blocks(text: str, language: str | None = None) -> list[str]:
    """The bodies of the fenced blocks, optionally only those of one language."""
    blocks: list[str] = []
    body: list[str] | None = None
    lang = ""
    for line in text.splitlines():
        match = FENCE.match(line)
        if match and body is None:
            body, lang = [], match.group(2)
        elif match and body is not None:
            if language is None or lang == language:
                blocks.append("\n".join(body))
            body = None
        elif body is not None:
            body.append(line)
    assert body is None, "a fenced code block is never closed"
    return blocks


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@pytest.fixture(params=CONFIGS, ids=config_id)
def baked(request, bakery) -> tuple[str, Path, str]:
    """(cluster, project, README text); the account is always the default placeholder."""
    project = bakery.bake(**request.param)
    return request.param["cluster"], project, read(project)


# ---- cluster facts ---------------------------------------------------------------------------


def test_login_host_and_ssh_config(baked):
    cluster, project, text = baked
    facts = clusters.cluster(cluster)
    user = answers(project)["username"]
    assert facts["login_host"] in text
    block = f"Host {cluster}\n    HostName {facts['login_host']}\n    User {user}\n"
    assert block in text
    for line in ("ControlMaster auto", "ControlPath ~/.ssh/cm-%r@%h:%p", "ControlPersist 10m"):
        assert line in text
    gpu_alias = facts["gpu_login_host"].split(".")[0]
    gpu_block = f"Host {gpu_alias}\n    HostName {facts['gpu_login_host']}\n"
    if facts["gpu_login_host"] != facts["login_host"]:
        assert gpu_block in text
        assert "GPU jobs must be submitted from it" in text
    else:
        assert text.count("\nHost ") == 1


@pytest.mark.parametrize("cluster", ["narval", "trillium"])
def test_ssh_config_uses_the_username_answer(bakery, cluster):
    text = read(bakery.bake(cluster=cluster, username="jtester"))
    hosts = text.count("\nHost ")
    assert hosts >= 1
    assert text.count("    User jtester\n") == hosts
    assert "User someuser" not in text


def test_globus_collection(baked):
    cluster, _, text = baked
    collection = clusters.cluster(cluster)["globus"]
    if collection:
        assert f"**{collection}**" in text
        assert "to be announced" not in text
    else:
        assert "**to be announced**" in text


def test_internet_note_matches_the_cluster(baked):
    cluster, _, text = baked
    facts = clusters.cluster(cluster)
    online = f"**Compute nodes on {facts['name']} can reach the internet.**"
    offline = f"**Compute nodes on {facts['name']} have no internet access.**"
    expected, other = (online, offline) if facts["internet_on_compute"] else (offline, online)
    assert expected in text
    assert other not in text


def test_gpu_line_is_the_job_plan(baked):
    _, project, text = baked
    job = plan.job(answers(project))
    row = re.search(r"^\| GPUs \| (.+?) \|", text, re.M)
    assert row, "the job table has no GPUs row"
    assert row.group(1) == (f"`{job.gpu_option}`" if job.gpu_option else "none")
    if job.mem is None:
        assert re.search(r"^\| Memory \| not requested \|", text, re.M)
    else:
        assert f"`--mem={job.mem}`" in text
    assert f"`--time={job.time}`" in text
    assert f"`--signal=B:USR1@{job.signal_seconds}`" in text


def test_paths_match_the_job_script(baked):
    cluster, project, text = baked
    facts = clusters.cluster(cluster)
    recorded = answers(project)
    slug, account = recorded["project_slug"], recorded["account"]
    space = facts["project_path"].replace("{account}", account)
    # one folder per user in the group's space, as the wiki's examples (item 11)
    assert f"`{space}/$USER/{slug}/data/dataset.tar`" in text
    assert f"$project_space/$user/{slug}/data/dataset.tar" in (project / "job.sh").read_text(encoding="utf-8")
    assert f"$SCRATCH/{slug}/runs/" in text
    assert f"`{slug}-<jobid>.out`" in text
    code_parent = "$SCRATCH" if facts["submit_from"] == "scratch" else f"{space}/$USER"
    assert f'cd "{code_parent}"\ngit clone' in text
    for url in facts["wiki"]:
        assert f"<{url}>" in text


def test_login_node_venv_is_where_setup_cluster_puts_it(baked):
    _, project, text = baked
    slug = answers(project)["project_slug"]
    assert f"source ~/venvs/{slug}/bin/activate" in text
    assert f"$HOME/venvs/{slug}" in (project / "scripts/setup-cluster.sh").read_text(encoding="utf-8")


def test_tracker_notes(baked):
    cluster, project, text = baked
    tracker = answers(project)["tracker"]
    online = clusters.cluster(cluster)["internet_on_compute"]
    job_sh = (project / "job.sh").read_text(encoding="utf-8")
    requirements = (project / "requirements.txt").read_text(encoding="utf-8")
    assert ("**Weights & Biases.**" in text) == (tracker == "wandb")
    assert ("**TensorBoard.**" in text) == (tracker == "tensorboard")
    if tracker == "wandb":
        assert "wandb" in requirements
        assert "wandb login" in text
        assert ("wandb sync" in text) == (not online)
        assert ("WANDB_MODE=offline" in job_sh) == (not online)
    if tracker == "tensorboard":
        assert "tensorboard" in requirements
        assert "ssh -N -L 6006:<compute-node>:6006" in text


def test_ai_clusters_explain_paice_access(baked):
    cluster, _, text = baked
    if clusters.is_ai_cluster(cluster):
        assert "Manage RAP memberships" in text
        assert "General Access to PAICE Systems" in text
    else:
        assert "PAICE" not in text
        assert "aip-" not in text


# ---- the README and the project agree --------------------------------------------------------


def test_every_file_the_readme_names_exists(baked):
    _, project, text = baked
    named = set(FILE_MENTION.findall(text))
    # the files every student touches must stay in the README
    assert {"job.sh", "sweep.sh", "sweep.txt", "requirements.txt", "scripts/install-bashrc.sh",
            "scripts/setup-cluster.sh", "scripts/setup-laptop.sh", "scripts/regenerate.sh"} <= named
    missing = sorted(name for name in named if not (project / name).is_file())
    assert not missing, f"README names files the project does not have: {missing}"


def test_every_module_the_readme_runs_exists(baked):
    _, project, text = baked
    package = answers(project)["package_name"]
    modules = set(MODULE_MENTION.findall(text))
    assert (package, "make_dataset") in modules and (package, "train") in modules
    for pkg, module in sorted(modules):
        assert pkg == package
        assert list(project.rglob(f"{pkg}/{module}.py")), f"python -m {pkg}.{module}: no such module"


# ---- placeholder account ---------------------------------------------------------------------


def test_placeholder_account_warning(baked):
    _, project, text = baked
    account = answers(project)["account"]
    assert account in PLACEHOLDERS  # the default answer is the placeholder
    head = text.split("## Contents")[0]
    assert "Warning: the Slurm account is a placeholder" in head
    assert f"grep -rl --exclude-dir=.git --exclude=README.md '{account}' ." in head


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_replacing_the_placeholder_as_told_equals_baking_with_the_account(bakery, cluster, tmp_path):
    """Run the README's own commands on a copy of the project: every file but the README must
    then be what a bake with the real account gives."""
    placeholder_project = bakery.bake(cluster=cluster)
    real_project = bakery.bake(cluster=cluster, account=real_account(cluster))
    block = next(b for b in code_blocks(read(placeholder_project), "bash") if "NEW_ACCOUNT=" in b)
    script = re.sub(r"^NEW_ACCOUNT=\S+", f"NEW_ACCOUNT={real_account(cluster)}", block, flags=re.M)
    copy = tmp_path / "project"
    shutil.copytree(placeholder_project, copy)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=copy, check=True, capture_output=True)
    files = sorted(p.relative_to(real_project) for p in real_project.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file())

    def content(path: Path) -> str:  # comments are aligned after the value, whose length changed
        return re.sub(r" +", " ", path.read_text(encoding="utf-8"))

    differ = [str(f) for f in files if f.name != "README.md" and content(copy / f) != content(real_project / f)]
    assert not differ, f"after the README's replacement, these differ from a real bake: {differ}"


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_no_placeholder_warning_for_a_real_account(bakery, cluster):
    account = real_account(cluster)
    text = read(bakery.bake(cluster=cluster, account=account))
    assert "placeholder" not in text
    assert not any(p in text for p in PLACEHOLDERS)
    assert f"`{account}`" in text


# ---- clean Markdown --------------------------------------------------------------------------


def test_no_template_seams(baked):
    _, _, text = baked
    for seam in ("{{", "}}", "{%", "%}", "{#"):
        assert seam not in text
    prose = re.sub(r"^( *)```python\n.*?^\1```$", "(code)", text, flags=re.MULTILINE | re.DOTALL)
    assert "\n\n\n" not in prose, "a run of blank lines (outside Python, whose style wants two)"
    assert text.endswith("\n") and not text.endswith("\n\n")
    trailing = [n for n, line in enumerate(text.splitlines(), 1) if line != line.rstrip()]
    assert not trailing, f"trailing spaces on lines {trailing}"


def test_code_blocks_are_fenced_with_a_language(baked):
    _, _, text = baked
    opening = [m.group(2) for m in map(FENCE.match, text.splitlines()) if m][::2]
    assert opening and all(opening), "every fence opens with a language"
    bash = code_blocks(text, "bash")
    assert any("sbatch job.sh" in block for block in bash)
    assert any("./sweep.sh sweep.txt 4" in block for block in bash)


def test_table_of_contents_links_resolve(baked):
    _, _, text = baked
    outside_code = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    anchors = {github_anchor(h) for h in re.findall(r"^#{2,4} (.+)$", outside_code, re.M)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) >= 10
    assert not sorted(set(links) - anchors), "links to headings that do not exist"


def test_table_rows_have_the_header_width(baked):
    _, _, text = baked
    tables: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        row = line.startswith("|")
        if row and not previous:
            tables.append([])
        if row:
            tables[-1].append(line)
        previous = row
    assert len(tables) >= 3
    for table in tables:
        widths = {re.sub(r"`[^`]*`", "", row).count("|") for row in table}
        assert len(widths) == 1, f"ragged table: {table[0]}"


def test_free_text_stays_out_of_commands(bakery):
    """project_name and description are prose: never pasted into a command."""
    name = 'Evil $(touch pwned) "x" `id`'
    description = "Breaks; rm -rf ~ && echo $HOME"
    project = bakery.bake(cluster="narval", project_name=name, project_slug="evil_project",
                          description=description)
    text = read(project)
    assert text.startswith(f"# {name}\n")
    assert description in text
    for block in code_blocks(text):
        assert name not in block and description not in block
        assert "pwned" not in block and "rm -rf" not in block


# ---- facts a DRAC review found missing or wrong (issue 7) -------------------------------------------


def test_backups_follow_the_cluster(baked):
    cluster, _, text = baked
    home = re.search(r"^\| Home \| .*$", text, re.M).group(0)
    project = re.search(r"^\| Project \| .*$", text, re.M).group(0)
    backed_up = clusters.cluster(cluster)["backups"]  # TamIA: neither home nor project
    assert ("**not backed up**" in home) == ("**not backed up**" in project) == (not backed_up)


def test_scratch_purge_is_the_data_files(baked):
    cluster, _, text = baked
    purge = clusters.cluster(cluster)["scratch_purge"]
    assert f"| {purge} |" in text
    if cluster == "trillium":  # the Trillium page: expiry TBD; plan for the purge (issue 18, item 18)
        assert "TBD" in purge and "plan for the 60-day purge" in purge


def test_one_hugging_face_cache_for_login_node_and_jobs(baked):
    cluster, project, text = baked
    hf_home = clusters.cluster(cluster)["hf_home"]
    assert f"`HF_HOME={hf_home}`" in text
    assert hf_home.startswith("${SCRATCH"), "writable from login and compute nodes everywhere"


@pytest.mark.parametrize("cluster", ["vulcan", "narval", "fir"])
def test_wandb_online_where_its_server_is_reachable(bakery, cluster):
    facts = clusters.cluster(cluster)
    text = read(bakery.bake(cluster=cluster, tracker="wandb"))
    assert ("`job.sh` sets `WANDB_MODE=offline`" in text) == (not facts["wandb_online"])
    if not facts["internet_on_compute"] and facts["wandb_online"]:  # Vulcan's proxy
        assert "whitelisted sites through, Weights & Biases" in text


def test_trillium_jobs_use_the_venv_made_on_a_login_node(bakery):
    project = bakery.bake(cluster="trillium")
    text, node = read(project), (project / "scripts/job-node.sh").read_text()
    assert "jobs on Trillium use it too" in text
    assert 'venv="${VENV:-$HOME/venvs/my_ml_project}"' in node and "    check_home_venv\n" in node
    assert "build_env \"" not in node.split('case "$action" in')[1]
    fir = (bakery.bake(cluster="fir") / "scripts/job-node.sh").read_text()
    assert "check_home_venv" not in fir and 'venv="${SLURM_TMPDIR:-}/env"' in fir


# ---- where the student starts ----------------------------------------------------------------


def file_tree(text: str) -> dict[str, str]:
    """The README's file tree: {path relative to the project: its description}."""
    block = text.split("\n## What is where\n", 1)[1].split("```text\n", 1)[1].split("\n```", 1)[0]
    root, *lines = block.splitlines()
    assert root.endswith("/") and not root.startswith(" ")
    entries: dict[str, str] = {}
    folders: list[str] = []  # the folder at each depth
    for line in lines:
        depth, rest = divmod(len(line) - len(line.lstrip()), 2)[0], line.strip()
        name, _, description = rest.partition(" ")
        assert description.strip() or name.endswith("/"), f"no description on the tree's line {line!r}"
        del folders[depth - 1:]
        path = "/".join([*folders, name.rstrip("/")])
        entries[path] = description.strip()
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
    return entries


def test_the_file_tree_lists_the_projects_files(baked):
    _, project, text = baked
    tree = file_tree(text)
    package = answers(project)["package_name"]
    missing = [path for path in tree if not (project / path).exists()]
    assert not missing, f"the README's tree lists what the project does not have: {missing}"
    files = [p for p in [*project.iterdir(), *(project / "scripts").iterdir()] if p.is_file()]
    assert not sorted({p.relative_to(project).as_posix() for p in files} - set(tree)), "files the tree leaves out"
    assert tree[f"src/{package}/task.py"].startswith("your code:") and "(edit)" in tree[f"src/{package}/task.py"]


def test_the_students_file_is_named_on_the_first_screen(baked):
    _, project, text = baked
    package = answers(project)["package_name"]
    first_screen = "\n".join(text.splitlines()[:25])
    assert f"`src/{package}/task.py`" in first_screen and "(#on-your-laptop)" in first_screen


def test_the_laptop_comes_before_the_cluster_steps(baked):
    _, _, text = baked
    laptop, cluster = text.index("\n## On your laptop\n"), text.index("\n## On the cluster, step by step\n")
    assert laptop < cluster and "scripts/setup-laptop.sh" in text[laptop:cluster]


def test_the_readme_states_no_time_limit_that_job_sh_may_have_lost(bakery):
    """A student edits job.sh's #SBATCH --time by hand: the prose sends them to that line, and
    only the table of what job.sh asked for when it was made shows the value."""
    text = read(bakery.bake(cluster="narval", time="7:30:00"))
    assert text.count("7:30:00") == 1 and "| `--time=7:30:00` |" in text
    assert "| What | In `job.sh`, as generated | Note |" in text
    assert "the time limit on the `#SBATCH --time` line of `job.sh`" in text


def walkthrough_paths(text: str) -> set[str]:
    """The relative paths that the laptop section and Make it yours write or ask for."""
    sections = [text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0] for name in ("On your laptop", "Make it yours")]
    words = set()
    for section in sections:
        for block in [*code_blocks(section, "bash"), *code_blocks(section, "text")]:
            for line in block.splitlines():
                words.update(shlex.split(line.split("#", 1)[0].strip()))
    code = ("src", "tests", "scripts")
    return {w for w in words if re.fullmatch(r"[\w.-]+/[\w./-]*", w) and w.split("/")[0] not in code}


@pytest.mark.parametrize("framework", ["pytorch", "none"])
def test_git_add_after_the_walkthrough_adds_no_data(bakery, framework, tmp_path):
    """`git add -A` after the laptop steps and Make it yours adds code only: no image, archive or run."""
    project = tmp_path / "project"
    shutil.copytree(bakery.bake(framework=framework), project)
    git = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.ca", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.ca", "PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "New project"]):
        subprocess.run(command, cwd=project, env=git, check=True, capture_output=True)
    paths = walkthrough_paths(read(project))
    assert {"data/dataset.tar", "my_images/train/cat/0001.png", "runs/images"} <= paths, paths
    for path in paths:
        made = project / path if Path(path).suffix else project / path / "0001.png"
        made.parent.mkdir(parents=True, exist_ok=True)
        made.write_bytes(b"made by the walkthrough\n")
    subprocess.run(["git", "add", "-A"], cwd=project, env=git, check=True)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, env=git, check=True,
                            capture_output=True, text=True).stdout
    assert status == "", f"git add -A after the walkthrough adds: {status}"


# ---- issue 18: the DRAC review's findings ------------------------------------------------------------


def test_the_wikis_words_for_wheels_hugging_face_and_account_variables(baked):
    cluster, project, text = baked
    assert "avail_wheels -r requirements.txt --not-available-only" in text
    assert "--not-available-only" in (project / "requirements.txt").read_text()
    assert "`HF_HUB_DISABLE_XET=1`" in text and "`hf download --max-workers=1 <model>`" in text
    assert "take priority over the `#SBATCH --account` line of every script you submit" in text
    assert "ask\nsupport (step 13)" in text or "ask support (step 13)" in text
    assert "### 13. Get help" in text
    assert f"<{clusters.cluster(cluster)['support_email']}>" in text
    assert f"limit of {clusters.cluster(cluster)['job_limit']} jobs per user" in text
    assert "do not edit `sweep.txt` while tasks are still\npending" in text


@pytest.mark.parametrize("cluster, words", [
    ("trillium", ["run `debugjob` on the GPU login node (`ssh trillium-gpu`)", "1 GPU for two hours",
                  "run `trisetup` once", "<trillium@tech.alliancecan.ca>"]),
    ("killarney", ["<https://ondemand.killarney.vectorinstitute.ai>", "accepts **only** keys stored in CCDB"]),
])
def test_cluster_specific_advice(bakery, cluster, words):
    text = read(bakery.bake(cluster=cluster))
    for word in words:
        assert word in text, word
    if cluster != "trillium":
        assert "debugjob" not in text and "trisetup" not in text


# ---- your own training script ----------------------------------------------------------------------

RECIPE_ROWS = {"own": "a PyTorch loop of your own", "lightning": "PyTorch Lightning",
               "transformers": "Hugging Face Transformers' `Trainer`"}


@pytest.mark.parametrize("recipe", list(recipes.SCRIPTS))
def test_each_recipe_shows_the_lines_its_tested_script_adds_and_counts_them(bakery, recipe):
    """The scripts tests/test_jobs.py submits mark what they add (``# added``): the README's recipe
    shows every one of those lines, and its table says how many there are."""
    project = bakery.bake(cluster="fir")
    text = read(project)
    section = text[text.index("## Bring your own training script"):text.index("## What this template could not")]
    shown = {line.split("  #")[0].strip() for block in code_blocks(section, "python") for line in block.splitlines()}
    added = recipes.added_lines(recipes.SCRIPTS[recipe].format(package=answers(project)["package_name"]))
    assert [line for line in added if line not in shown] == []
    assert re.search(rf"^\| {re.escape(RECIPE_ROWS[recipe])} \| {len(added)}\b", section, re.M), section
