{%- if cookiecutter.framework == "pytorch" -%}
"""Any batch: tensors, tuples, lists and dicts of them, nested, moved to the device by one
function (the same code on a CPU as on a GPU), counted, and trained on through task.py's
optional batch_loss and batch_metrics."""

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
from {{ cookiecutter.package_name }}.engine.trainer import count_samples, to_device  # noqa: E402
from {{ cookiecutter.package_name }}.train import EXIT_CHECKPOINTED  # noqa: E402

from helpers import lines_starting, read_metrics  # noqa: E402
from test_train import run_in_process, signal_after_steps, train_args  # noqa: E402

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


@pytest.mark.parametrize(
    "batch",
    [torch.zeros(5, 3), (torch.zeros(5, 3), torch.zeros(5)), {"mask": torch.ones(5, 2)}, {"n": "x", "m": [torch.ones(5)]}],
    ids=["tensor", "pair", "dict", "nested"],
)
def test_samples_are_counted_by_the_first_tensor(batch: Any) -> None:
    assert count_samples(batch) == 5


def test_a_batch_with_no_tensor_cannot_be_counted() -> None:
    with pytest.raises(DataError, match="a batch with no tensor to count its samples by"):
        count_samples({"names": ["a", "b"]})


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
{%- endif %}
