"""Every validation rule, accepting and refusing, without baking."""

from __future__ import annotations

import re

import pytest

from drac_template import clusters, plan, rules, units
from tests.bakery import resolve


def errors(problems):
    return [p for p in problems if not p.warning]


def warnings(problems):
    return [p for p in problems if p.warning]


# ---- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["my_ml_project", "p", "_private", "proj2", "café_ok" if False else "caf"])
def test_identifier_accepted(name):
    assert rules.check_identifier("project_slug", name) == []


@pytest.mark.parametrize("name", ["", "my-project", "2fast", "class", "import", "a b", "x\"y", "$(id)", "café", "a\nb"])
def test_identifier_refused(name):
    [problem] = rules.check_identifier("package_name", name)
    assert problem.field == "package_name" and problem.value == name
    assert "identifier" in problem.rule and problem.example == "my_ml_project"


def test_slug_from_project_name_is_an_identifier():
    for name in ["My ML Project", "Vision (v2)!", "2024 study", "  ", "x\"y$(id)", "word " * 40, "x" * 100]:
        assert rules.check_identifier("project_slug", plan.slug(name)) == [], name
    assert plan.slug("My ML Project (v2)") == "my_ml_project_v2"
    # accents are transliterated, not dropped with their letter (issue 8)
    assert plan.slug("Étude des réseaux") == "etude_des_reseaux"
    assert plan.slug("Façade naïve, Ørsted, Łódź") == "facade_naive_orsted_lodz"


# ---- python ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.12", "3.13", "3.14", "3.12.4", "3.14.2"])
def test_python_supported(version):
    assert rules.check_python_version(version) == []


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.11.5", "3.10.13"])
def test_python_little_wheel_support_warns(version):
    [problem] = rules.check_python_version(version)
    assert problem.warning and "wheels" in problem.rule


def test_python_310_warning_names_the_torch_cap():
    [problem] = rules.check_python_version("3.10")
    assert "2.6.0" in problem.rule


@pytest.mark.parametrize(
    "version, words",
    [
        ("3.9", "no longer supported"),
        ("3.8.10", "no longer supported"),
        ("2.7", "no longer supported"),
        ("3.15", "python module of StdEnv/2023"),
        ("3.12.5", "python module of StdEnv/2023"),
        ("3.10.2", "python module of StdEnv/2023"),  # a StdEnv/2020 module (item 2)
        ("python3.11", "X.Y or X.Y.Z"),
        ("", "X.Y or X.Y.Z"),
        ("3", "X.Y or X.Y.Z"),
        ("3.12 ", "X.Y or X.Y.Z"),
        ("3.12\n", "X.Y or X.Y.Z"),  # a final newline: whole matches only (item 19)
        ("３.12", "X.Y or X.Y.Z"),  # non-ASCII digits (item 20)
    ],
)
def test_python_refused(version, words):
    [problem] = errors(rules.check_python_version(version))
    assert problem.field == "python_version" and problem.value == version
    assert words in problem.rule and problem.example == "3.12"


# ---- account -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "account, cluster, gpus",
    [
        ("def-prof1", "fir", 1),
        ("rrg-bengioy-ad", "narval", 4),
        ("rpp-someprof", "nibi", 0),
        ("ctb-lab", "rorqual", 1),
        ("def-user-ab", "trillium", 0),
        ("aip-boyuwang", "tamia", 4),
        ("aip-lab", "killarney", 1),
        ("aip-lab", "vulcan", 1),
    ],
)
def test_account_accepted(account, cluster, gpus):
    assert rules.check_account(account, cluster, gpus) == []


@pytest.mark.parametrize(
    "account, cluster, gpus, words",
    [
        ("def_prof", "fir", 1, "expected def-<name>"),
        ("Def-prof", "fir", 1, "expected def-<name>"),
        ("def-Prof", "fir", 1, "lowercase"),
        ("def-", "fir", 1, "expected"),
        ("def-prof-", "fir", 1, "expected"),
        ("crg-prof", "fir", 1, "expected"),
        ("someprof", "fir", 1, "expected"),
        ("def-prof $(id)", "fir", 1, "expected"),
        ("def-prof\nrm", "fir", 1, "expected"),
        ("def-lab\n", "fir", 1, "expected"),
        ("", "fir", 1, "expected"),
        ("aip-lab", "fir", 1, "only on TamIA, Killarney and Vulcan"),
        ("def-prof", "tamia", 4, "accepts only aip-"),
        ("rrg-prof", "vulcan", 1, "accepts only aip-"),
        ("def-prof_gpu", "fir", 0, "_gpu account cannot run a CPU-only job"),
        ("rrg-prof_cpu", "nibi", 2, "_cpu account cannot run a job with 2 GPU"),
    ],
)
def test_account_refused(account, cluster, gpus, words):
    [problem] = errors(rules.check_account(account, cluster, gpus))
    assert problem.field == "account" and problem.value == account
    assert words in problem.rule, problem.rule
    assert rules.check_account(problem.example, cluster, gpus) == [] or problem.example.endswith("someprof")


def test_account_suffix_that_agrees_is_accepted_with_a_warning():
    [problem] = rules.check_account("def-prof_gpu", "fir", 1)
    assert problem.warning and problem.example == "def-prof"
    assert warnings(rules.check_account("def-prof_cpu", "fir", 0))


@pytest.mark.parametrize("placeholder, cluster", [("def-someuser", "fir"), ("aip-someuser", "tamia")])
def test_placeholder_account_is_a_loud_warning_not_an_error(placeholder, cluster):
    [problem] = rules.check_account(placeholder, cluster, 4)
    assert problem.warning and "placeholder" in problem.rule


# ---- time and memory formats ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 5400), ("30:00", 1800), ("3:00:00", 10800), ("1-12", 129600), ("2-03:04", 183840),
     ("7-00:00:00", 604800), ("0:00:30", 30)],
)
def test_walltime_formats(text, seconds):
    assert units.walltime_seconds(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "3h", "1:2:3:4", "0", "0:00:00", "-1", "1-", "3:00:00 ", "1.5", "$(sleep 1)", "3:00:00\n", "３:00:00"]
)
def test_walltime_refused_formats(text):
    with pytest.raises(ValueError):
        units.walltime_seconds(text)
    [problem] = rules.check_time(text, "fir")
    assert problem.field == "time" and "Slurm time" in problem.rule and problem.example == "3:00:00"


@pytest.mark.parametrize(
    "cluster, ok, too_long",
    [("fir", "7-00:00:00", "7-00:00:01"), ("nibi", "168:00:00", "8-0"), ("trillium", "24:00:00", "1-00:01"),
     ("tamia", "1-0", "25:00:00"), ("vulcan", "7-0", "7-1"), ("killarney", "3-0", "8-0")],
)
def test_walltime_against_the_cluster(cluster, ok, too_long):
    assert errors(rules.check_time(ok, cluster)) == []
    [problem] = rules.check_time(too_long, cluster)
    assert "allows at most" in problem.rule
    assert problem.example == clusters.cluster(cluster)["max_walltime"]


def test_trillium_refuses_less_than_15_minutes():
    [problem] = errors(rules.check_time("0:10:00", "trillium"))
    assert "at least 0:15:00" in problem.rule
    assert errors(rules.check_time("0:15:00", "trillium")) == []


def test_short_job_warns():
    [problem] = rules.check_time("0:05:00", "fir")
    assert problem.warning


@pytest.mark.parametrize("cluster", ["fir", "narval", "rorqual", "tamia"])
def test_test_jobs_run_at_least_five_minutes(cluster):
    """Fir, Narval, Rorqual, TamIA: 'at least five minutes for test jobs' (issue 18, item 4)."""
    [problem] = errors(rules.check_time("0:04:00", cluster))
    assert "at least 0:05:00" in problem.rule
    assert errors(rules.check_time("0:05:00", cluster)) == []


# The wiki writes --mem=62gb, 100g and 0, and Slurm 22.05 accepts 64GB too (item 14).
@pytest.mark.parametrize(
    "text, mb",
    [("64G", 65536), ("128000M", 128000), ("2T", 2097152), ("4096", 4096), ("62gb", 63488), ("100g", 102400),
     ("64GB", 65536), ("0", 0)],
)
def test_mem_formats(text, mb):
    assert units.mem_megabytes(text) == mb
    assert rules.check_mem_format(text) == []


@pytest.mark.parametrize("text", ["", "1.5G", "0G", "00", "-4G", "G", "64 G", "`id`", "64G\n", "６4G", "64GiB"])
def test_mem_refused_formats(text):
    [problem] = rules.check_mem_format(text)
    assert problem.field == "mem" and "K, M, G or T" in problem.rule


# ---- resources against the cluster ------------------------------------------------------------------


def full(**overrides):
    """Answers as the templates see them: recorded by cookiecutter for these overrides, then the
    answers left at auto derived (plan.resolve)."""
    return plan.resolve(resolve(overrides))


# ---- derived answers ---------------------------------------------------------------------------


def test_resources_are_recorded_as_auto_and_derived_at_each_rendering():
    recorded = resolve({"cluster": "narval"})
    assert [recorded[k] for k in plan.AUTO_FIELDS] == ["auto", "auto", "auto"]
    assert plan.derived_fields(recorded) == ["account", "gpus_per_node", "cpus_per_task", "mem"]
    narval = plan.resolve(recorded)
    fir = plan.resolve({**recorded, "cluster": "fir"})
    assert (narval["gpus_per_node"], narval["cpus_per_task"], narval["mem"]) == ("1", "12", "124G")
    assert (fir["gpus_per_node"], fir["cpus_per_task"], fir["mem"]) == ("1", "12", "280G")
    three = plan.resolve({**recorded, "cluster": "fir", "gpus_per_node": "3"})
    assert (three["cpus_per_task"], three["mem"]) == ("12", "840G")
    four = plan.resolve({**recorded, "cluster": "fir", "gpus_per_node": "4"})
    assert (four["cpus_per_task"], four["mem"]) == ("12", "0"), "a whole node: all its memory"


def test_what_the_user_set_is_kept_when_the_cluster_changes():
    recorded = resolve({"cluster": "narval", "gpus_per_node": 2, "mem": "64G", "account": "def-lab"})
    assert plan.derived_fields(recorded) == ["cpus_per_task"]
    moved = plan.resolve({**recorded, "cluster": "rorqual"})
    assert (moved["gpus_per_node"], moved["cpus_per_task"], moved["mem"], moved["account"]) == (
        "2", "16", "64G", "def-lab")


def test_the_placeholder_account_follows_the_kind_of_cluster():
    recorded = resolve({"cluster": "fir"})
    assert recorded["account"] == "def-someuser"
    assert plan.resolve({**recorded, "cluster": "vulcan"})["account"] == "aip-someuser"
    assert plan.resolve({**recorded, "cluster": "vulcan", "account": "aip-lab"})["account"] == "aip-lab"


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"cluster": "trillium", "nodes": 2}, "4"),  # Trillium's multi-node jobs take whole nodes
        ({"cluster": "tamia", "gpu_type": "h200"}, "8"),
        ({"cluster": "nibi", "mig_slice": "2g"}, "1"),
    ],
)
def test_auto_gpus_per_node_is_the_fewest_the_cluster_takes(overrides, expected):
    answers = full(**overrides)
    assert answers["gpus_per_node"] == expected
    assert errors(rules.validate(resolve(overrides))) == []


@pytest.mark.parametrize("field", plan.AUTO_FIELDS)
def test_auto_is_accepted_in_any_case_and_a_word_is_not(field):
    assert errors(rules.validate(resolve({field: "AUTO"}))) == []
    [problem] = errors(rules.validate(resolve({field: "automatic"})))
    assert problem.field == field and not problem.auto


def test_a_refused_derived_value_says_it_was_auto():
    problem = rules.Problem("mem", "560G", "Fir recommends at most 280G per GPU", "280G", auto=True)
    assert str(problem) == "mem '560G' (auto): Fir recommends at most 280G per GPU; e.g. 280G"


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"cluster": "nibi", "gpus_per_node": 8},
        {"cluster": "nibi", "gpus_per_node": 8, "nodes": 2},
        {"cluster": "narval", "mig_slice": "4g"},
        {"cluster": "fir", "mig_slice": "1g"},
        {"cluster": "rorqual", "gpus_per_node": 0, "cpus_per_task": 8, "mem": "32G"},
        {"cluster": "trillium"},
        {"cluster": "trillium", "gpus_per_node": 4, "nodes": 2},
        {"cluster": "trillium", "gpus_per_node": 0},
        {"cluster": "trillium", "gpus_per_node": 0, "mem": "1G"},
        {"cluster": "tamia"},
        {"cluster": "tamia", "gpu_type": "h200"},
        {"cluster": "killarney", "gpu_type": "h100", "gpus_per_node": 8},
        {"cluster": "vulcan", "gpus_per_node": 2, "cpus_per_task": 8, "mem": "100G"},
        {"cluster": "fir", "cpus_per_task": 4, "mem": "64G"},
        {"cluster": "tamia", "gpus_per_node": 0},  # TamIA has 8 CPU-only nodes (item 17)
        {"cluster": "narval", "gpus_per_node": 0, "cpus_per_task": 4, "mem": "2000G"},  # large-memory nodes (15)
        {"cluster": "fir", "gpus_per_node": 4, "mem": "0"},  # a whole node's memory (item 3)
        # the node tables' available memory, both forms (issue 18, items 2 and 3)
        {"cluster": "narval", "gpus_per_node": 4, "mem": "498G"},
        {"cluster": "narval", "gpus_per_node": 4, "mem": "510000M"},
        {"cluster": "rorqual", "gpus_per_node": 4, "mem": "510000M"},
        {"cluster": "fir", "gpus_per_node": 4, "mem": "1125G"},
        {"cluster": "fir", "gpus_per_node": 4, "mem": "1152000M"},
        {"cluster": "nibi", "gpus_per_node": 8, "mem": "2048000M"},
        {"cluster": "rorqual", "gpus_per_node": 0, "cpus_per_task": 4, "mem": "3086250M"},
        {"cluster": "trillium", "nodes": 129, "gpus_per_node": 0},  # a safeguard, not a refusal (item 5)
    ],
)
def test_resources_accepted(overrides):
    answers = full(**overrides)
    assert errors(rules.check_resources(answers)) == []
    assert errors(rules.validate(answers)) == []


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"gpus_per_node": 5}, "gpus_per_node", "Fir has 4 h100 GPUs per node"),
        ({"gpus_per_node": -1}, "gpus_per_node", "whole number"),
        ({"gpus_per_node": "two"}, "gpus_per_node", "whole number"),
        ({"nodes": 0}, "nodes", "at least 1"),
        ({"cpus_per_task": 0}, "cpus_per_task", "at least 1"),
        ({"cpus_per_task": 49}, "cpus_per_task", "a Fir h100 node has 48 cores: 1 task(s) of 49 do not fit"),
        ({"gpus_per_node": 2, "cpus_per_task": 25}, "cpus_per_task", "2 task(s) of 25 do not fit"),
        ({"mem": "1200G"}, "mem", "a Fir h100 node has 1125G available"),
        # the node tables' available memory is the most a node takes (issue 18, item 2)
        ({"gpus_per_node": 4, "mem": "1152001M"}, "mem", "1125G available"),
        ({"cluster": "narval", "gpus_per_node": 4, "mem": "510001M"}, "mem", "510000M available"),
        ({"cluster": "rorqual", "gpus_per_node": 4, "mem": "499G"}, "mem", "510000M available"),
        ({"cluster": "rorqual", "gpus_per_node": 0, "cpus_per_task": 4, "mem": "3086251M"}, "mem",
         "largest nodes have 3086250M"),
        ({"cluster": "tamia", "gpus_per_node": 0, "cpus_per_task": 65}, "cpus_per_task", "whole 64-core nodes"),
        ({"mem": "lots"}, "mem", "K, M, G or T"),
        ({"cluster": "narval", "gpu_type": "h100"}, "gpu_type", "Narval has a100 GPUs"),
        ({"cluster": "vulcan", "gpu_type": "h200"}, "gpu_type", "Vulcan has l40s GPUs"),
        ({"cluster": "fir", "mig_slice": "4g"}, "mig_slice", "1g, 2g, 3g"),
        ({"cluster": "trillium", "mig_slice": "1g"}, "mig_slice", "offers these MIG slices of its h100: none"),
        ({"cluster": "fir", "mig_slice": "2g", "gpus_per_node": 2}, "gpus_per_node", "one MIG slice"),
        ({"cluster": "fir", "mig_slice": "2g", "nodes": 2}, "nodes", "one MIG slice"),

        ({"cluster": "trillium", "gpus_per_node": 2}, "gpus_per_node", "Trillium takes 1 or 4 h100 GPUs per node"),
        ({"cluster": "trillium", "gpus_per_node": 1, "nodes": 2}, "gpus_per_node", "multi-node"),
        ({"cluster": "trillium", "cpus_per_task": 12}, "cpus_per_task", "exactly 24 cores"),
        ({"cluster": "trillium", "gpus_per_node": 0, "cpus_per_task": 40}, "cpus_per_task", "whole 192-core nodes"),
        ({"cluster": "tamia", "gpus_per_node": 2}, "gpus_per_node", "exactly 4 h100 GPUs per node (whole nodes)"),
        ({"cluster": "tamia", "gpu_type": "h200", "gpus_per_node": 4}, "gpus_per_node", "exactly 8 h200"),

        ({"cluster": "killarney", "gpus_per_node": 5}, "gpus_per_node", "4 l40s GPUs per node"),
        ({"cluster": "fir", "gpus_per_node": 0, "gpu_type": "h100"}, "gpu_type", "takes no GPU model"),
        ({"cluster": "fir", "gpus_per_node": 0, "cpus_per_task": 193}, "cpus_per_task", "192 cores"),
        ({"cluster": "narval", "gpus_per_node": 0, "cpus_per_task": 4, "mem": "4001G"}, "mem",
         "Narval's largest nodes have 4000G"),
        ({"cluster": "trillium", "nodes": 26, "gpus_per_node": 4}, "nodes", "at most 25 GPU nodes per job"),
    ],
)
def test_resources_refused(overrides, field, words):
    answers = full(**overrides)
    problems = errors(rules.check_resources(answers))
    assert problems, f"no error for {overrides}"
    problem = problems[0]
    assert problem.field == field, str(problem)
    assert str(problem.value) == str(answers[field])
    assert words in problem.rule, str(problem)
    assert problem.example


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        # above the per-GPU bundle is charged against priority, not refused (item 16)
        ({"cpus_per_task": 13}, "cpus_per_task", "at most 12 cores for each h100"),
        ({"mem": "281G"}, "mem", "at most 280G per GPU"),
        ({"gpus_per_node": 2, "mem": "561G"}, "mem", "560G for 2"),
        ({"cluster": "fir", "mig_slice": "3g", "cpus_per_task": 7}, "cpus_per_task", "at most 6 cores for a 3g slice"),
        ({"cluster": "fir", "gpus_per_node": 2, "mem": "0"}, "mem", "all of the node's memory (1125G) for 2 of its 4"),
        # no CPU-only nodes there, but the wiki forbids no CPU-only job (item 17)
        ({"cluster": "killarney", "gpus_per_node": 0}, "gpus_per_node", "Killarney has no CPU-only nodes"),
        ({"cluster": "vulcan", "gpus_per_node": 0}, "gpus_per_node", "Vulcan has no CPU-only nodes"),
        # large-memory nodes fit, and are named (item 15)
        ({"cluster": "narval", "gpus_per_node": 0, "cpus_per_task": 4, "mem": "3000G"}, "mem",
         "only its large-memory nodes fit, 4000G (3 nodes)"),
        ({"cluster": "fir", "gpus_per_node": 0, "cpus_per_task": 4, "mem": "800G"}, "mem", "6000G (8 nodes)"),
        # Trillium's default node limits (item 13)
        ({"cluster": "trillium", "nodes": 6, "gpus_per_node": 4}, "nodes", "5 GPU nodes per job by default"),
        ({"cluster": "trillium", "nodes": 11, "gpus_per_node": 0}, "nodes", "10 CPU nodes per job by default"),
        # Narval's 4g profile: the allocation page says it is not available (issue 18, item 21)
        ({"cluster": "narval", "mig_slice": "4g"}, "mig_slice", "4g profiles are not available"),
        # the Quickstart calls 128 CPU nodes a safeguard, to ask about (issue 18, item 5)
        ({"cluster": "trillium", "nodes": 129, "gpus_per_node": 0}, "nodes", "at most 128 CPU nodes per job with an "
         "allocation, as a safeguard: if your RAC needs larger jobs, ask trillium@tech.alliancecan.ca"),
        # TamIA allocates whole nodes: fewer cores hold the node all the same (issue 18, item 6)
        ({"cluster": "tamia", "gpus_per_node": 0, "cpus_per_task": 4}, "cpus_per_task",
         "TamIA allocates whole nodes: the job holds (and is charged for) a 64-core node with 512G"),
    ],
)
def test_resources_warned(overrides, field, words):
    answers = full(**overrides)
    assert errors(rules.check_resources(answers)) == [], overrides
    found = [p for p in warnings(rules.check_resources(answers)) if p.field == field]
    assert found and words in found[0].rule, [str(p) for p in found]


@pytest.mark.parametrize(
    "cluster, gpus, mem", [("narval", 4, "498G"), ("rorqual", 4, "510000M"), ("fir", 4, "1152000M")]
)
def test_a_whole_gpu_node_at_the_tables_memory_is_not_warned(cluster, gpus, mem):
    """Issue 18, item 2: above the per-GPU share, but the job takes the whole node."""
    assert rules.check_resources(full(cluster=cluster, gpus_per_node=gpus, mem=mem)) == []
    [problem] = rules.check_resources(full(cluster=cluster, gpus_per_node=gpus - 1, mem=mem))
    assert problem.warning and "recommends at most" in problem.rule


def test_a_normal_nibi_cpu_node_takes_its_table_value_without_a_warning():
    """Issue 18, item 3: 766000M is Nibi's regular CPU node ('748G or 766000M')."""
    assert rules.check_resources(full(cluster="nibi", gpus_per_node=0, cpus_per_task=4, mem="766000M")) == []
    [problem] = rules.check_resources(full(cluster="nibi", gpus_per_node=0, cpus_per_task=4, mem="766001M"))
    assert problem.warning and "large-memory nodes" in problem.rule


@pytest.mark.parametrize("cluster", ["tamia", "trillium"])
def test_a_cpu_job_takes_the_whole_node_where_the_cluster_allocates_whole_nodes(cluster):
    """Issue 18, item 6: TamIA's CPU jobs, like Trillium's, default to the whole node."""
    answers = full(cluster=cluster, gpus_per_node=0)
    cores = clusters.cluster(cluster)["cpu_node"]["cores"]
    assert answers["cpus_per_task"] == str(cores) and answers["mem"] == "0"
    assert rules.check_resources(answers) == []


@pytest.mark.parametrize(
    "overrides",
    [{"cluster": "tamia"}, {"cluster": "tamia", "gpu_type": "h200"}, {"cluster": "killarney", "gpu_type": "h100",
     "gpus_per_node": 8}, {"cluster": "fir", "gpus_per_node": 4}, {"cluster": "nibi", "gpus_per_node": 8, "nodes": 2}],
)
def test_a_whole_gpu_node_asks_for_all_its_memory(overrides):
    """Slurm's usable memory is below the nominal RAM: --mem=0 (Best_practices_for_job_submission)."""
    assert full(**overrides)["mem"] == "0"
    assert plan.job(full(**overrides)).mem == "0"
    if overrides["cluster"] in ("fir", "nibi"):  # these also take fewer GPUs than a node has
        assert full(**{**overrides, "gpus_per_node": 1, "nodes": 1})["mem"] != "0"


@pytest.mark.parametrize("cluster", ["vulcan", "killarney", "fir"])
def test_a_range_from_0_names_a_count_the_cluster_takes(cluster):
    """'use 0 to 4' only where 0 is taken (item 18)."""
    [problem] = errors(rules.check_resources(full(cluster=cluster, gpus_per_node=9)))
    low = re.search(r"use (\d+) to", problem.rule)
    assert low, problem.rule
    assert errors(rules.check_resources(full(cluster=cluster, gpus_per_node=int(low.group(1))))) == []


# ---- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["signal", "json", "numpy", "torch", "test", "helpers", "typing"])
def test_package_names_that_shadow_a_module_are_refused(name):
    [problem] = rules.check_identifier("package_name", name)
    assert "already exists" in problem.rule and problem.example == f"{name}_study"
    assert rules.check_identifier("project_slug", name) == [], "the folder name shadows nothing"


def test_names_longer_than_64_characters_are_refused():
    assert rules.check_identifier("package_name", "a" * 64) == []
    [problem] = rules.check_identifier("package_name", "a" * 65)
    assert "at most 64 characters" in problem.rule


@pytest.mark.parametrize(
    "field, value, words",
    [("project_name", "bad \udcff byte", "UTF-8"), ("description", "x" * 1001, "at most 1000"),
     ("author_name", "nul\0here", "NUL")],
)
def test_free_text_must_be_writable(field, value, words):
    [problem] = rules.check_free_text(field, value)
    assert problem.field == field and words in problem.rule
    assert rules.check_free_text(field, "Étude des réseaux \"x\" $(id)\nline") == []


# ---- all of it, and the report ----------------------------------------------------------------------


def test_defaults_are_valid_on_every_cluster():
    for cluster in clusters.clusters():
        answers = full(cluster=cluster)
        problems = rules.validate(answers)
        assert errors(problems) == [], (cluster, [str(p) for p in problems])
        assert [p.field for p in warnings(problems)] == ["username", "account"]  # the placeholders, loudly


def test_validate_reports_every_problem_at_once():
    answers = full(cluster="tamia", account="def-x", time="2-0", python_version="3.9")
    fields = [p.field for p in errors(rules.validate(answers))]
    assert fields == ["python_version", "account", "time"]


def test_validate_checks_emails_and_username():
    answers = full(author_email="nobody", mail_user="a b@c", username="J Smith")
    fields = {p.field for p in errors(rules.validate(answers))}
    assert fields == {"author_email", "mail_user", "username"}
    assert errors(rules.validate(full(mail_user=""))) == []


def test_unknown_choice_values_are_refused():
    answers = {**full(), "framework": "jax"}
    [problem] = errors(rules.validate(answers))
    assert problem.field == "framework" and "pytorch, none" in problem.rule


def test_report_prints_field_value_rule_and_example():
    lines: list[str] = []
    status = rules.report(rules.validate(full(account="def_prof")), lines.append)
    assert status == 1
    assert (
        "ERROR: account 'def_prof': expected def-<name>, rrg-<name>, rpp-<name>, ctb-<name>, aip-<name> "
        "with a lowercase name (letters, digits, hyphens inside); e.g. def-someprof"
    ) in lines
    assert lines[-1].startswith("Nothing was generated")
    assert rules.report(rules.validate(full(account="def-prof")), lines.append) == 0


def test_every_fact_in_the_data_file_has_a_known_source():
    raw = clusters.raw()
    known = set(raw["sources"])

    def sources_of(fact):
        src = fact["source"]
        return src if isinstance(src, list) else [src]

    facts = [f for c in raw["clusters"].values() for f in c.values()]
    facts += list(raw["python"].values()) + list(raw["accounts"].values())
    for fact in facts:
        assert set(fact) >= {"value", "source"}, fact
        assert set(sources_of(fact)) <= known, fact
    keys = {frozenset(c) for c in raw["clusters"].values()}
    assert len(keys) == 1, "every cluster has the same facts"



# ---- framework, user name (issues 8 and 10) ------------------------------------------------------


@pytest.mark.parametrize("gpus, nodes", [(2, 1), (4, 2), (0, 2)])
def test_numpy_on_several_tasks_is_refused(gpus, nodes):
    """2 nodes x 4 GPUs started 8 copies of the NumPy trainer that all wrote the same checkpoint."""
    [problem] = errors(rules.validate(resolve({"framework": "none", "gpus_per_node": gpus, "nodes": nodes,
                                                "cluster": "nibi", "account": "def-lab"})))
    assert problem.field == "framework" and "a NumPy job is one process" in problem.rule


def test_numpy_with_one_gpu_warns_and_without_passes():
    found = [p for p in rules.validate(resolve({"framework": "none", "account": "def-lab", "username": "jsmith"}))]
    [warning] = [p for p in found if p.field == "framework"]
    assert warning.warning and "does not use the GPU" in warning.rule
    cpu = rules.validate(resolve({"framework": "none", "gpus_per_node": 0, "account": "def-lab", "username": "js"}))
    assert [p for p in cpu if p.field == "framework"] == []


@pytest.mark.parametrize("account", ["def-prof_gpu", "def-prof_cpu", "def-prof"])
def test_an_account_and_its_suffixed_slurm_accounts_are_one_group(account):
    """Issue 18, item 7: the bake accepts def-prof_gpu, and doctor.sh compares groups by the same rule."""
    assert rules.account_group(account) == "def-prof"
    gpus = 0 if account.endswith("_cpu") else 1
    assert errors(rules.check_account(account, "fir", gpus)) == []


def test_the_account_group_keeps_other_names_whole():
    assert rules.account_group("rrg-prof-ab") == "rrg-prof-ab"
    assert rules.account_group("def-prof_tpu") == "def-prof_tpu"
    assert rules.account_group("def-gpu") == "def-gpu"


@pytest.mark.parametrize("account, cluster, example", [("rrg-prof-ab", "trillium", "def-prof"),
                                                        ("aip-prof", "killarney", "aip-prof")])
def test_moving_a_rac_account_to_another_cluster_warns(account, cluster, example):
    """Issue 18, item 13: RACs are bound to one cluster."""
    before = {"cluster": "nibi" if cluster == "trillium" else "tamia", "account": account}
    [problem] = rules.check_cluster_change(before, {**before, "cluster": cluster})
    assert problem.warning and problem.field == "account" and problem.example == example
    assert "granted on one cluster" in problem.rule


@pytest.mark.parametrize(
    "before, after",
    [({"cluster": "nibi", "account": "def-prof"}, {"cluster": "fir", "account": "def-prof"}),
     ({"cluster": "nibi", "account": "rrg-prof-ab"}, {"cluster": "nibi", "account": "rrg-prof-ab"}),
     ({"cluster": "nibi", "account": "rrg-prof-ab"}, {"cluster": "fir", "account": "rrg-prof-cd"}),
     ({"cluster": "fir", "account": "def-someuser"}, {"cluster": "vulcan", "account": "aip-someuser"})],
)
def test_a_def_account_or_a_new_account_moves_without_a_warning(before, after):
    assert rules.check_cluster_change(before, after) == []


def test_the_placeholder_user_name_warns():
    [problem] = rules.check_username("someuser")
    assert problem.warning and "~/.ssh/config" in problem.rule
    assert rules.check_username("jsmith") == []
