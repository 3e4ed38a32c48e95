{%- if cookiecutter.framework == "pytorch" -%}
"""Any batch and any step: tensors, tuples, lists and dicts of them, nested, moved to the device
by one function (the same code on a CPU as on a GPU), and trained on through task.py's
optional batch_loss and batch_metrics; --accumulate, --clip-grad and --compile."""

from __future__ import annotations

import signal
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed")
import torch.nn.functional as F  # noqa: E402

from {{ cookiecutter.package_name }} import task  # noqa: E402
from {{ cookiecutter.package_name }}.engine import DataError  # noqa: E402
from {{ cookiecutter.package_name }}.engine.trainer import map_tensors, to_device  # noqa: E402
from {{ cookiecutter.package_name }}.train import EXIT_CHECKPOINTED  # noqa: E402

import text_task  # noqa: E402
from helpers import EXACT, lines_starting, read_metrics  # noqa: E402
from test_train import (  # noqa: E402
    TWO_RANKS,
    finish,
    run_in_process,
    signal_after_steps,
    start_ranks,
    train_args,
)

Pair = namedtuple("Pair", ["inputs", "targets"])
# "meta" holds no data: moving there proves the tensors moved, on a machine with no GPU.
ELSEWHERE = torch.device("meta")


def nested_batch() -> dict[str, Any]:
    return {
        "input_ids": torch.zeros(4, 7, dtype=torch.long),
        "extra": [torch.ones(4), (torch.ones(4, 2), "a name", 3, None)],
        "pair": Pair(torch.ones(4, 1), torch.zeros(4)),
    }


def test_every_tensor_of_a_nested_batch_moves_and_the_rest_stays() -> None:
    moved = to_device(nested_batch(), ELSEWHERE)
    assert list(moved) == ["input_ids", "extra", "pair"]
    assert moved["input_ids"].device == ELSEWHERE and moved["input_ids"].dtype == torch.long
    ones, (pairs, name, number, nothing) = moved["extra"]
    assert ones.device == pairs.device == ELSEWHERE
    assert (name, number, nothing) == ("a name", 3, None)
    assert isinstance(moved["extra"], list) and isinstance(moved["extra"][1], tuple)
    assert isinstance(moved["pair"], Pair) and moved["pair"].targets.device == ELSEWHERE


def test_a_batch_already_on_the_device_comes_back_as_it_is() -> None:
    batch = nested_batch()
    moved = to_device(batch, torch.device("cpu"))
    assert moved["input_ids"] is batch["input_ids"] and moved["pair"].inputs is batch["pair"].inputs


def test_a_batch_of_another_type_is_refused_naming_it() -> None:
    class Picture:
        pass

    with pytest.raises(DataError, match=r"a batch holds a .*Picture: the engine moves tensors"):
        to_device({"image": Picture(), "label": torch.zeros(2)}, ELSEWHERE)


class AsDicts(torch.utils.data.Dataset):
    """The example's (input, target) pairs as the nested dicts a tokenizer would make."""

    def __init__(self, pairs: Any) -> None:
        self.pairs, self.tensors = pairs, pairs.tensors  # tensors: for task.build_model

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        features, label = self.pairs[index]
        return {"features": {"x": features}, "labels": label}


def batch_loss(model: Any, batch: dict[str, Any]) -> Any:
    return F.cross_entropy(model(batch["features"]["x"]), batch["labels"], reduction="none")


def batch_metrics(model: Any, batch: dict[str, Any]) -> dict[str, Any]:
    return task.metrics(model(batch["features"]["x"]), batch["labels"])


@pytest.fixture
def dict_task(monkeypatch: pytest.MonkeyPatch) -> None:
    load = task.load_datasets
    monkeypatch.setattr(task, "load_datasets", lambda d: tuple(map(AsDicts, load(d))))
    monkeypatch.setattr(task, "batch_loss", batch_loss, raising=False)
    monkeypatch.setattr(task, "batch_metrics", batch_metrics, raising=False)


def numbers(run_dir: Path) -> dict[str, float]:
    return {k: v for k, v in read_metrics(run_dir).items() if isinstance(v, float)}


def test_dict_batches_through_the_tasks_hooks_train_as_pairs_do(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dict_task: None
) -> None:
    assert run_in_process(train_args(data_dir, tmp_path / "dicts")) == 0
    monkeypatch.undo()
    assert not hasattr(task, "batch_loss")
    assert run_in_process(train_args(data_dir, tmp_path / "pairs")) == 0
    dicts, pairs = numbers(tmp_path / "dicts"), numbers(tmp_path / "pairs")
    assert set(dicts) >= {"train_loss", "val_accuracy", "val_loss"}
    assert dicts == pairs  # the same arithmetic, to the bit


def test_dict_batches_stop_and_resume_to_the_same_bits(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, dict_task: None
) -> None:
    assert run_in_process(train_args(data_dir, tmp_path / "whole")) == 0
    with monkeypatch.context() as patch:
        signal_after_steps(patch, 5, signal.SIGUSR1)
        assert run_in_process(train_args(data_dir, tmp_path / "stopped")) == EXIT_CHECKPOINTED
    assert run_in_process(train_args(data_dir, tmp_path / "stopped")) == 0
    assert lines_starting(capsys.readouterr().out, "resuming from")
    assert numbers(tmp_path / "stopped") == numbers(tmp_path / "whole")


def test_a_piece_of_a_batch_takes_rows_of_each_tensor_and_the_rest_as_it_is() -> None:
    """How --accumulate cuts a batch into pieces: the same rows of every tensor."""
    piece = map_tensors(nested_batch(), lambda tensor: tensor[1:3])
    assert [len(piece["input_ids"]), len(piece["pair"].targets)] == [2, 2]
    assert piece["extra"][1][1:] == ("a name", 3, None) and isinstance(piece["pair"], Pair)
    assert torch.equal(piece["extra"][1][0], nested_batch()["extra"][1][0][1:3])


def test_accumulated_pieces_train_as_the_whole_batch_does_within_rounding(
    data_dir: Path, tmp_path: Path
) -> None:
    assert run_in_process(train_args(data_dir, tmp_path / "whole")) == 0
    assert run_in_process(train_args(data_dir, tmp_path / "pieces", "--accumulate", "3")) == 0
    whole, pieces = numbers(tmp_path / "whole"), numbers(tmp_path / "pieces")
    assert pieces == pytest.approx(whole, rel=1e-4)
    assert read_metrics(tmp_path / "pieces")["settings"]["accumulate"] == 3


def test_clipping_changes_the_training_and_is_a_run_setting(data_dir: Path, tmp_path: Path) -> None:
    assert run_in_process(train_args(data_dir, tmp_path / "plain")) == 0
    assert run_in_process(train_args(data_dir, tmp_path / "clipped", "--clip-grad", "0.01")) == 0
    clipped = numbers(tmp_path / "clipped")
    assert clipped["train_loss"] > numbers(tmp_path / "plain")["train_loss"]  # tiny steps
    assert read_metrics(tmp_path / "clipped")["settings"]["clip_grad"] == 0.01


def test_accumulated_clipped_dict_batches_stop_and_resume_to_the_same_bits(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dict_task: None
) -> None:
    flags = ("--accumulate", "3", "--clip-grad", "0.5")
    assert run_in_process(train_args(data_dir, tmp_path / "whole", *flags)) == 0
    for steps in (1, 5):  # the first step, then mid-epoch
        with monkeypatch.context() as patch:
            signal_after_steps(patch, steps, signal.SIGUSR1)
            code = run_in_process(train_args(data_dir, tmp_path / "stopped", *flags))
            assert code == EXIT_CHECKPOINTED
    assert run_in_process(train_args(data_dir, tmp_path / "stopped", *flags)) == 0
    assert numbers(tmp_path / "stopped") == numbers(tmp_path / "whole")


def test_two_ranks_accumulating_stop_and_resume_to_the_same_bits(
    data_dir: Path, tmp_path: Path
) -> None:
    flags = (*TWO_RANKS, *EXACT, "--accumulate", "2", "--clip-grad", "0.5")
    flags += ("--check-seconds", "0")  # the stop at the next step, not a second later
    whole = finish(start_ranks(data_dir, tmp_path / "whole", *flags))
    assert [code for code, _, _ in whole] == [0, 0], whole
    stopped = finish(start_ranks(data_dir, tmp_path / "stopped", *flags, stop_last_after=9))
    assert [code for code, _, _ in stopped] == [EXIT_CHECKPOINTED] * 2, stopped
    resumed = finish(start_ranks(data_dir, tmp_path / "stopped", *flags))
    assert [code for code, _, _ in resumed] == [0, 0], resumed
    assert len(lines_starting(resumed[0][1], "resuming from")) == 1
    assert read_metrics(tmp_path / "stopped") == read_metrics(tmp_path / "whole")


@pytest.mark.parametrize(
    "changed, named",
    [
        (("--accumulate", "2"), "--accumulate: 1 in the checkpoint, 2 now"),
        (("--clip-grad", "1"), "--clip-grad: 0.0 in the checkpoint, 1.0 now"),
        (("--compile",), "--compile: "),
    ],
    ids=["accumulate", "clip-grad", "compile"],
)
def test_a_stopped_run_refuses_other_step_settings(
    data_dir: Path, tmp_path: Path, monkeypatch, capsys, changed: tuple[str, ...], named: str
) -> None:
    signal_after_steps(monkeypatch, 2, signal.SIGUSR1)
    assert run_in_process(train_args(data_dir, tmp_path)) == EXIT_CHECKPOINTED
    monkeypatch.undo()
    capsys.readouterr()
    assert run_in_process(train_args(data_dir, tmp_path, *changed)) == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert named in error


@pytest.mark.parametrize("flag, value", [("--accumulate", "0"), ("--clip-grad", "-1")])
def test_a_step_flag_out_of_range_is_one_line(flag: str, value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_in_process(["--data-dir", "x", "--run-dir", "y", flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}: {value} is below" in capsys.readouterr().err


def test_a_compiled_model_trains_as_the_plain_one_within_rounding(
    data_dir: Path, tmp_path: Path
) -> None:
    one_epoch = ("--epochs", "1")
    assert run_in_process(train_args(data_dir, tmp_path / "plain", *one_epoch)) == 0
    assert run_in_process(train_args(data_dir, tmp_path / "compiled", *one_epoch, "--compile")) == 0
    plain, compiled = numbers(tmp_path / "plain"), numbers(tmp_path / "compiled")
    assert compiled == pytest.approx(plain, rel=1e-4)


# The tiny transformer (text_task): dict batches with an attention mask, its own loss, dropout.
TEXT_FLAGS = ("--accumulate", "2", "--clip-grad", "1.0", "--lr", "0.05")


def test_a_transformer_on_masked_tokens_learns_and_resumes_to_the_same_bits(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text_task.install(monkeypatch)
    args = (*TEXT_FLAGS, "--epochs", "6")
    assert run_in_process(train_args(data_dir, tmp_path / "whole", *args)) == 0
    whole = numbers(tmp_path / "whole")
    assert whole["val_accuracy"] > 0.6  # better than chance: the mask and the step work
    for steps in (1, 9):
        with monkeypatch.context() as patch:
            signal_after_steps(patch, steps, signal.SIGUSR1)
            code = run_in_process(train_args(data_dir, tmp_path / "stopped", *args))
            assert code == EXIT_CHECKPOINTED
    assert run_in_process(train_args(data_dir, tmp_path / "stopped", *args)) == 0
    assert numbers(tmp_path / "stopped") == whole


def test_a_transformer_on_two_ranks_resumes_to_the_same_bits(data_dir: Path, tmp_path: Path) -> None:
    flags = (*TWO_RANKS, *EXACT, *TEXT_FLAGS, "--check-seconds", "0")
    runs = {"whole": [], "stopped": [10], "stopped again": []}
    for name, stops in runs.items():
        run_dir = tmp_path / name.split()[0]
        results = finish(
            start_ranks(data_dir, run_dir, *flags, task="text_task", stop_last_after=sum(stops))
        )
        expected = EXIT_CHECKPOINTED if stops else 0
        assert [code for code, _, _ in results] == [expected] * 2, results
    assert numbers(tmp_path / "stopped") == numbers(tmp_path / "whole")
    assert read_metrics(tmp_path / "stopped")["settings"]["accumulate"] == 2
{%- endif %}
