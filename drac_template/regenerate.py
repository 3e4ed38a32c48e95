"""Change a project's answers, or bring it to another template commit, without losing a line.

A generated project's ``scripts/regenerate.sh`` clones the template (its newest commit) and runs

    python -m drac_template.regenerate --project DIR --template ADDRESS [--latest | --checkout REF]
        [KEY=VALUE ...]

from that clone. The project is rendered twice in a scratch folder, each time by the template
commit in question, in its own process, with its own hooks: as it was made (the commit and answers
recorded in ``.cruft.json``) and as it is asked for (the target commit, the new answers). Where the
two renderings differ, the difference is merged three ways into the user's file (``git merge-file``,
as cruft and copier do), so the user's edits stay and the template's change comes in:

* a file the renderings agree on is not touched, byte for byte;
* a file the user deleted stays deleted;
* where the user's edit and the template's change touch the same lines, the user's file is kept
  whole, and the template's change is printed, hunk by hunk, to make by hand (exit 1).

Nothing is written before both renderings succeeded and every merge was computed: a refused answer,
a dirty working tree or an unreachable template change nothing (exit 2). The changes are left
uncommitted, for ``git diff``. Answers left at ``auto`` are derived again by the new rendering, so
they follow the cluster and the GPU count (``drac_template.plan.resolve``).
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import rules

# Set for the hooks while the project is rendered for an update: no prompts, no welcome text.
UPDATE_ENV = "DRAC_TEMPLATE_UPDATE"
STATE_FILE = ".cruft.json"
EXIT_OK, EXIT_CONFLICTS, EXIT_REFUSED = 0, 1, 2
# Renaming the package moves every file under src/: a rename by hand (git mv) keeps the history.
FIXED_ANSWERS = {"package_name": "it names the folder under src/: rename it by hand (git mv) instead"}
# Keys cookiecutter adds about one run on one machine: not answers, not recorded.
RUN_KEYS = ("_output_dir", "_repo_dir", "_checkout")


class Refusal(Exception):
    """A reason to stop before anything is written; each argument is one line to print."""


def rendering_for_update(answers: Mapping[str, Any], project_dir: Path) -> bool:
    """Whether the hooks run for an update rather than a new project.

    ``scripts/regenerate.sh`` says so in the environment. ``cruft update`` cannot: it renders into a
    fresh temporary folder that holds nothing else, with ``_commit`` and without cookiecutter's own
    ``_output_dir`` in the answers, which is what is looked for.
    """
    if os.environ.get(UPDATE_ENV) == "1":
        return True
    if "_commit" not in answers or "_output_dir" in answers:
        return False
    parent = project_dir.resolve().parent
    try:
        alone = [p.name for p in parent.iterdir()] == [project_dir.resolve().name]
    except OSError:
        return False
    return alone and parent.name.startswith("tmp") and parent.parent == Path(tempfile.gettempdir()).resolve()


# ---- git ---------------------------------------------------------------------------------------


def git(*args: str, cwd: Path, check: bool = True, data: bytes | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True)
    if check and done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise Refusal(f"git {' '.join(args)} failed in {cwd}: {message[-1] if message else done.returncode}")
    return done


def git_text(*args: str, cwd: Path) -> str:
    return git(*args, cwd=cwd).stdout.decode().strip()


def resolve_commit(repo: Path, ref: str, what: str) -> str:
    for candidate in (ref, f"origin/{ref}"):
        done = git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", cwd=repo, check=False)
        if done.returncode == 0:
            return done.stdout.decode().strip()
    raise Refusal(f"the template has no {what} {ref!r}: was its history rewritten? Pass --checkout REF or "
                  "--template ADDRESS")


def export_commit(repo: Path, commit: str, dest: Path) -> Path:
    """The template's files at ``commit`` in ``dest`` (``git archive``: no .git, nothing untracked)."""
    archive = git("archive", "--format=tar", commit, cwd=repo).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python before 3.10.12 / 3.11.4
            tar.extractall(dest)  # noqa: S202  (our own template's archive)
    return dest


# ---- the project -------------------------------------------------------------------------------


def read_state(project: Path) -> dict[str, Any]:
    path = project / STATE_FILE
    if not path.is_file():
        raise Refusal(f"{path} not found: it records the template and answers this project was made from "
                      "(restore it with: git checkout -- .cruft.json)")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        answers = state["context"]["cookiecutter"]
        if not isinstance(answers, dict):
            raise TypeError("context.cookiecutter is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise Refusal(f"{path} is not a cruft state file ({exc}): restore it with: "
                      f"git checkout -- {STATE_FILE}") from None
    return state


def address_warnings(state: Mapping[str, Any], template_root: Path) -> list[str]:
    """At bake time: why ``scripts/regenerate.sh`` could not clone the template from where the
    project records it (a path on this machine only, or a commit its remote does not have)."""
    from cookiecutter.repository import is_repo_url

    address, commit = state.get("template") or "", state.get("commit") or ""
    if not is_repo_url(address):
        return [f"{STATE_FILE} records the template as a path on this machine, {address}: scripts/regenerate.sh "
                "finds it here only, not on a cluster. Put the template's git URL in the \"template\" line of "
                f"{STATE_FILE} (tools/bake records a checkout's origin remote), or pass "
                "scripts/regenerate.sh --template URL"]
    remotes = git("branch", "-r", "--contains", commit, cwd=template_root, check=False)
    if commit and remotes.returncode == 0 and not remotes.stdout.strip():
        return [f"the template's commit {commit[:12]} is not on {address} (as far as the checkout knows): push "
                "it, or scripts/regenerate.sh will not find it"]
    return []


def check_clean(project: Path) -> None:
    inside = git("rev-parse", "--is-inside-work-tree", cwd=project, check=False)
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        raise Refusal(f"{project} is not in a git repository: run git init && git add -A && git commit -m 'Start' "
                      "first, so that the update can be reviewed (git diff) and undone")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", cwd=project).stdout.decode().splitlines()
    if dirty:
        names = ", ".join(line[3:] for line in dirty[:3]) + (", ..." if len(dirty) > 3 else "")
        raise Refusal(f"uncommitted changes in {len(dirty)} tracked file(s) ({names}): commit or stash them first")


# ---- answers -----------------------------------------------------------------------------------


def answer_keys(template: Path) -> dict[str, Any]:
    """The answers a template asks for, with their defaults (a list for a choice)."""
    context = json.loads((template / "cookiecutter.json").read_text(encoding="utf-8"))
    return {key: value for key, value in context.items() if not key.startswith("_")}


def parse_changes(pairs: Sequence[str], keys: Mapping[str, Any]) -> dict[str, str]:
    """``KEY=VALUE`` words -> changes; every bad word is a line of the Refusal."""
    changes: dict[str, str] = {}
    problems: list[str] = []
    listed = False  # the answers are listed once when a word names none of them
    for pair in pairs:
        key, sep, value = pair.partition("=")
        unknown = not sep or not key or key.startswith("_") or key not in keys
        if not sep or not key:
            problems.append(f"{pair!r}: expected KEY=VALUE; e.g. time=12:00:00")
        elif key.startswith("_"):
            problems.append(f"{key} {value!r}: a private key of the template, not an answer")
        elif key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"{key} {value!r}: not an answer of this template{hint}")
        elif key in FIXED_ANSWERS:
            problems.append(f"{key} {value!r}: cannot be changed here: {FIXED_ANSWERS[key]}")
        elif isinstance(keys[key], list) and value not in keys[key]:
            close = difflib.get_close_matches(value, [str(v) for v in keys[key]], n=1)
            example = f"; e.g. {close[0]}" if close else ""
            problems.append(f"{key} {value!r}: expected one of {', '.join(map(str, keys[key]))}{example}")
        else:
            changes[key] = value
        listed = listed or unknown
    if problems:
        raise Refusal(*problems, *([f"  the answers: {', '.join(keys)}"] if listed else []))
    return changes


# ---- rendering ---------------------------------------------------------------------------------

# Runs in its own process for each template commit: the template's Jinja extension and its
# drac_template package must be that commit's, not whichever was imported first.
_RENDER = r"""
import json, sys
from pathlib import Path

template, request_file, out, result_file = sys.argv[1:5]
sys.path.insert(0, template)
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context, generate_files
from cookiecutter.prompt import prompt_for_config

request = json.loads(Path(request_file).read_text(encoding="utf-8"))
context = generate_context(context_file=str(Path(template) / "cookiecutter.json"),
                           extra_context=request["answers"])
try:
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
except FailedHookException as refused:  # the answers' check, with the bake's own words
    sys.exit(str(refused))
context["cookiecutter"]["_template"] = request["template"]
context["cookiecutter"]["_commit"] = request["commit"]
project = generate_files(repo_dir=template, context=context, output_dir=out, overwrite_if_exists=True)
try:
    from drac_template import plan
    resolved = {k: str(v) for k, v in plan.resolve(context["cookiecutter"]).items() if not k.startswith("_")}
except Exception:  # a template commit without derived answers
    resolved = {}
Path(result_file).write_text(json.dumps({"project": project, "answers": context["cookiecutter"],
                                         "resolved": resolved}), encoding="utf-8")
"""


@dataclass
class Rendering:
    root: Path
    answers: dict[str, Any]  # as recorded in .cruft.json (private keys included)
    resolved: dict[str, str]  # the answers with the derived ones computed
    messages: list[str]  # the hooks' WARNING lines


def render(template: Path, answers: Mapping[str, Any], address: str, commit: str, scratch: Path) -> Rendering:
    """Render ``template`` (one commit's files) with ``answers`` into ``scratch``; Refusal with the
    hooks' own lines when they refuse."""
    scratch.mkdir(parents=True)
    request, result = scratch / "request.json", scratch / "result.json"
    public = {key: value for key, value in answers.items() if not key.startswith("_")}
    request.write_text(json.dumps({"answers": public, "template": address, "commit": commit}), encoding="utf-8")
    out = scratch / "out"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _RENDER, str(template), str(request), str(out), str(result)],
        cwd=out, env={**os.environ, UPDATE_ENV: "1"}, capture_output=True, text=True,
    )
    lines = (done.stdout + done.stderr).splitlines()
    said = [line for line in lines if line.startswith(("ERROR: ", "WARNING: "))]
    if done.returncode != 0:
        errors = [line for line in said if line.startswith("ERROR: ")]
        raise Refusal(*(errors or [f"rendering the template failed: {lines[-1] if lines else done.returncode}"]))
    data = json.loads(result.read_text(encoding="utf-8"))
    answers_out = {key: value for key, value in data["answers"].items() if key not in RUN_KEYS}
    return Rendering(Path(data["project"]), answers_out, data["resolved"], [s for s in said if s.startswith("WARN")])


# ---- merging -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    data: bytes
    executable: bool


def tree(root: Path, skip: Sequence[str]) -> dict[str, Entry]:
    """Every file under ``root`` by relative path, but .git, the state file and ``skip`` globs."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == STATE_FILE or ".git" in path.relative_to(root).parts or not path.is_file():
            continue
        if any(fnmatch.fnmatch(rel, pattern) or rel == pattern for pattern in skip):
            continue
        found[rel] = Entry(path.read_bytes(), os.access(path, os.X_OK))
    return found


@dataclass
class Conflict:
    path: str
    hunks: list[str]  # printable, one string per hunk


@dataclass
class Plan:
    writes: dict[str, Entry] = field(default_factory=dict)  # path -> new content
    deletes: list[str] = field(default_factory=list)
    touched: dict[str, str] = field(default_factory=dict)  # path -> what happened
    conflicts: list[Conflict] = field(default_factory=list)
    left_deleted: list[str] = field(default_factory=list)


def merge_file(ours: bytes, base: bytes, theirs: bytes) -> tuple[bytes | None, list[str]]:
    """Three-way merge (``git merge-file``): (merged, the hunks left in conflict, where the merged
    text keeps the user's lines), or (None, why) when the file cannot be merged as text."""
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for name, data in (("yours", ours), ("base", base), ("theirs", theirs)):
            (Path(tmp) / name).write_bytes(data)
            names.append(str(Path(tmp) / name))
        done = subprocess.run(
            ["git", "merge-file", "-p", "--diff3", "-L", "yours", "-L", "template before", "-L", "template now",
             *names],
            capture_output=True,
        )
    if done.returncode == 0:
        return done.stdout, []
    if done.returncode < 0 or done.returncode > 127:  # an error, such as a binary file
        return None, ["  (not a text file: compare it with the template's by hand)"]
    try:
        text, hunks = resolve_adjacent(done.stdout.decode("utf-8"))
    except UnicodeDecodeError:
        return None, ["  (not UTF-8 text: compare it with the template's by hand)"]
    return text.encode("utf-8"), hunks


def merge_lines(base: list[str], ours: list[str], theirs: list[str]) -> list[str] | None:
    """Both sides' changes to ``base`` at once, or None where they overlap.

    Used inside a region ``git merge-file`` calls a conflict. git also refuses changes that only
    touch each other (a line the template changed, and a line the user added right after it);
    these are merged here: the user's line stays after the template's."""

    def changes(other: list[str]) -> list[tuple[int, int, list[str]]]:
        matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
        return [(i1, i2, other[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]

    mine, template = changes(ours), changes(theirs)
    for a1, a2, a_lines in mine:
        for b1, b2, b_lines in template:
            if (a1, a2, a_lines) == (b1, b2, b_lines):
                continue
            if a1 < b2 and b1 < a2:  # both change a line
                return None
            if a1 == a2 == b1 == b2 or (a1 == a2 and b1 < a1 < b2) or (b1 == b2 and a1 < b1 < a2):
                return None  # both insert at one place, or one inserts inside the other's change
    merged: list[str] = []
    position = 0
    for start, end, lines in sorted(set(map(lambda c: (c[0], c[1], tuple(c[2])), mine + template))):
        merged += base[position:start] + list(lines)
        position = end
    return merged + base[position:]


def resolve_adjacent(merged: str) -> tuple[str, list[str]]:
    """``git merge-file --diff3`` output, each conflict region merged where ``merge_lines`` can,
    else left as the user's lines. Returns the text and, for each region left, the user's lines
    and the template's change to them (- before, + now), at their line in the text."""
    out: list[str] = []
    hunks: list[str] = []
    region: dict[str, list[str]] | None = None
    section = ""
    for line in merged.splitlines(keepends=True):
        bare = line.rstrip("\n")
        if region is None and bare.startswith("<<<<<<< "):
            region, section = {"yours": [], "before": [], "now": []}, "yours"
        elif region is not None and bare.startswith("||||||| "):
            section = "before"
        elif region is not None and bare == "=======":
            section = "now"
        elif region is not None and bare.startswith(">>>>>>> "):
            resolved = merge_lines(region["before"], region["yours"], region["now"])
            if resolved is None:
                text = [f"  line {len(out) + 1}: yours"]
                text += [f"      {x.rstrip()}" for x in region["yours"]] or ["      (nothing)"]
                text += ["    the template's change:"]
                text += [f"    - {x.rstrip()}" for x in region["before"]]
                text += [f"    + {x.rstrip()}" for x in region["now"]]
                hunks.append("\n".join(text))
                resolved = region["yours"]
            out += resolved
            region = None
        elif region is not None:
            region[section].append(line)
        else:
            out.append(line)
    return "".join(out), hunks


def plan_update(old: Mapping[str, Entry], new: Mapping[str, Entry], project: Path) -> Plan:
    """What the update does to each file the two renderings differ in; writes nothing."""
    plan = Plan()
    for rel in sorted(set(old) | set(new)):
        before, now = old.get(rel), new.get(rel)
        if before == now:
            continue
        path = project / rel
        mine = Entry(path.read_bytes(), os.access(path, os.X_OK)) if path.is_file() else None
        if before is not None and mine is None:
            plan.left_deleted.append(rel)
            continue
        if now is None:
            if before is not None and mine.data == before.data:
                plan.deletes.append(rel)
                plan.touched[rel] = "removed"
            else:
                plan.conflicts.append(Conflict(rel, ["  the template no longer makes this file, and you edited "
                                                     "it: kept it; remove it if you no longer need it"]))
            continue
        if mine is None:
            plan.writes[rel] = now
            plan.touched[rel] = "added"
            continue
        executable = now.executable if (before is None or before.executable != now.executable) else mine.executable
        if mine.data == now.data:
            if mine.executable != executable:
                plan.writes[rel] = Entry(mine.data, executable)
                plan.touched[rel] = "mode"
            continue
        if before is not None and mine.data == before.data:
            plan.writes[rel] = Entry(now.data, executable)
            plan.touched[rel] = "updated"
            continue
        merged, hunks = merge_file(mine.data, before.data if before else b"", now.data)
        if hunks:
            plan.conflicts.append(Conflict(rel, hunks))
        if merged is not None and (merged != mine.data or executable != mine.executable):
            plan.writes[rel] = Entry(merged, executable)
            plan.touched[rel] = "merged, with conflicts" if hunks else "merged with your edits"
    return plan


def apply(plan: Plan, project: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for rel, entry in plan.writes.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~umask
        mode = mode | (0o111 & ~umask) if entry.executable else mode & ~0o111
        tmp = path.with_name(f".{path.name}.regenerate.tmp")
        tmp.write_bytes(entry.data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    for rel in plan.deletes:
        (project / rel).unlink()


# ---- the command -------------------------------------------------------------------------------


def write_state(project: Path, state: dict[str, Any], address: str, commit: str, checkout: str | None,
                answers: dict[str, Any]) -> None:
    new = dict(state)
    new.update(template=address, commit=commit, checkout=checkout, context={"cookiecutter": answers})
    text = json.dumps(new, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
    (project / STATE_FILE).write_text(text, encoding="utf-8")


def answer_lines(old: Rendering, new: Rendering) -> list[str]:
    """Each answer that changed, and each derived value that followed: ``key: old -> new``, with
    the value an ``auto`` answer stands for in brackets."""

    def shown(value: Any, derived: str | None) -> str:
        return f"{value} ({derived})" if derived is not None and derived != str(value) else str(value)

    lines = []
    for key in new.answers:
        if key.startswith("_"):
            continue
        before, now = old.answers.get(key), new.answers[key]
        derived_before, derived_now = old.resolved.get(key), new.resolved.get(key)
        if before != now:
            lines.append(f"  {key}: {shown(before, derived_before)} -> {shown(now, derived_now)}")
        elif derived_before != derived_now and derived_now is not None:
            lines.append(f"  {key}: {now}, {derived_before} -> {derived_now}")
    return lines


def summary(plan: Plan, old: Rendering, new: Rendering, old_commit: str, new_commit: str) -> list[str]:
    lines = []
    if old_commit != new_commit:
        lines.append(f"template: {old_commit[:12]} -> {new_commit[:12]}")
    else:
        lines.append(f"template: {new_commit[:12]} (unchanged)")
    changed = answer_lines(old, new)
    lines += ["answers:", *changed] if changed else ["answers: unchanged"]
    if plan.touched:
        width = max(len(what) for what in plan.touched.values())
        lines.append("files:")
        lines += [f"  {what.ljust(width)}  {rel}" for rel, what in plan.touched.items()]
    else:
        lines.append("files: none changed")
    if plan.left_deleted:
        lines.append("left deleted (you deleted them; the template changed them): " + ", ".join(plan.left_deleted))
    for warning in new.messages:
        lines.append(warning)
    lines += [f"WARNING: {problem}" for problem in rules.check_cluster_change(old.answers, new.answers)]
    return lines


def run(args: argparse.Namespace) -> int:
    project = Path(args.project).resolve()
    repo = Path(__file__).resolve().parents[1]  # the template clone this engine runs from
    state = read_state(project)
    check_clean(project)
    recorded = state["context"]["cookiecutter"]
    if not state.get("commit"):
        raise Refusal(f"{STATE_FILE} records no template commit (the template was not a git repository when "
                      "the project was made): the project cannot be rendered as it was made")
    old_commit = resolve_commit(repo, state["commit"], "commit")
    latest = args.latest or (not args.changes and not args.checkout)
    checkout = args.checkout or (state.get("checkout") if latest else None)
    if args.checkout or latest:
        new_commit = resolve_commit(repo, args.checkout or checkout or "HEAD", "branch, tag or commit")
    else:
        new_commit = old_commit

    with tempfile.TemporaryDirectory(prefix="regenerate-") as tmp:
        scratch = Path(tmp)
        new_template = export_commit(repo, new_commit, scratch / "template-now")
        changes = parse_changes(args.changes, answer_keys(new_template))
        wanted = {**recorded, **changes}
        if new_commit == old_commit and all(str(recorded.get(k)) == v for k, v in changes.items()):
            print(f"regenerate.sh: nothing to change: the project is on template commit {old_commit[:12]} with "
                  "these answers")
            return EXIT_OK
        old_template = export_commit(repo, old_commit, scratch / "template-before")
        old = render(old_template, recorded, args.template, old_commit, scratch / "before")
        new = render(new_template, wanted, args.template, new_commit, scratch / "now")
        skip = [str(p) for p in state.get("skip", [])]
        plan = plan_update(tree(old.root, skip), tree(new.root, skip), project)
        apply(plan, project)
    write_state(project, state, args.template, new_commit, checkout, new.answers)
    for line in summary(plan, old, new, old_commit, new_commit):
        print(line)
    if plan.conflicts:
        print(f"\nCONFLICTS: in {len(plan.conflicts)} file(s) your edits and the template's change touch the "
              "same lines. There your lines were kept; make the template's change by hand:")
        for conflict in plan.conflicts:
            print(f"{conflict.path}:")
            for hunk in conflict.hunks:
                print(hunk)
        print("The rest is applied. Review with: git diff    Undo everything with: git checkout -- . "
              "(and remove the files listed as added)")
        return EXIT_CONFLICTS
    print("Review with: git diff    Keep with: git commit -am 'Regenerate'    Undo with: git checkout -- . "
          "(and remove the files listed as added)")
    return EXIT_OK


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/regenerate.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True, help="the generated project's folder")
    parser.add_argument("--template", required=True, help="the template's address, recorded in .cruft.json")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--latest", action="store_true", help="the newest template commit (default without KEY=VALUE)")
    target.add_argument("--checkout", metavar="REF", help="a template branch, tag or commit")
    parser.add_argument("changes", nargs="*", metavar="KEY=VALUE", help="answers to change (KEY=auto: derive it)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except Refusal as refusal:
        for line in refusal.args:
            print(line if line.startswith(("ERROR: ", "WARNING: ", " ")) else f"ERROR: {line}", file=sys.stderr)
        print("regenerate.sh: nothing was changed.", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
