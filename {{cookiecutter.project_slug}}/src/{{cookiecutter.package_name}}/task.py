{% if cookiecutter.framework == "pytorch" -%}
"""What makes the project yours: the data, the model, the loss and the metrics. Edit this file.

The engine (engine.py and train.py) trains what this file describes, on one GPU or many, and
does the rest: batches in an order it can resume mid-epoch, devices, precision, checkpoints,
stops, and the sums over ranks. It calls only these, so keep their names and signatures:

    add_arguments(parser)          your command-line flags; train.py hands them over in ``args``
    load_datasets(data_dir)        -> (train, val): map-style torch Datasets whose items are
                                      (input, target) pairs of tensors or numbers; ``data_dir`` is
                                      the extracted dataset archive ($SLURM_TMPDIR/data in a job)
    build_model(train, args)       -> the torch.nn.Module to train
    make_optimizer(model, args, total_steps)
                                   -> (optimizer, LR scheduler): the engine steps both after each
                                      batch and saves both in checkpoints
    loss(outputs, targets)         -> one loss per sample; training minimises their mean
    metrics(outputs, targets)      -> {name: one value per sample}; each is reported as
                                      val_<name>, its mean over the validation set

Raise data.DataError with a one-line message when the data is not what you expect: the run then
exits 2 with it. Draw random numbers in the model or the loss (dropout, noise) from torch or
``random``: their states are saved per rank, so a resumed run draws what an uninterrupted one
would. Draws while loading (a random augmentation in a Dataset) do not resume exactly: in worker
processes (--workers > 0) their streams start afresh, and with --workers 0 the batch after a stop
is loaded before the checkpoint, so it is drawn again on resumption.
README.md, "Make it yours", walks through replacing the example with a folder of images.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from .make_dataset import read_splits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate (default 0.1)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")


def load_datasets(data_dir: Path) -> tuple[Dataset, Dataset]:
    """The example: train.npz and val.npz from make_dataset, features x and class labels y."""
    (x, y), (val_x, val_y) = read_splits(data_dir)
    return (
        TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        TensorDataset(torch.from_numpy(val_x), torch.from_numpy(val_y)),
    )


def build_model(train: TensorDataset, args: argparse.Namespace) -> nn.Module:
    x, y = train.tensors
    features, hidden, classes = x.shape[1], args.hidden, int(y.max()) + 1
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def make_optimizer(
    model: nn.Module, args: argparse.Namespace, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )

    def cosine(step: int) -> float:  # from lr down to 0 at the last step of the last epoch
        return 0.5 * (1.0 + math.cos(math.pi * min(step / total_steps, 1.0)))

    # A function, not an object: its checkpoint holds the step only, so a run resumed with more
    # --epochs (a larger total_steps) follows the longer schedule.
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)


def loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, targets, reduction="none")


def metrics(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"accuracy": (outputs.argmax(dim=1) == targets).float(), "loss": loss(outputs, targets)}
{% else -%}
"""What makes the project yours: the data, the model, its loss and metrics. Edit this file.

The engine (engine.py and train.py) trains what this file describes and does the rest: batches
in an order it can resume mid-epoch, checkpoints, stops. It calls only these, so keep their
names and signatures:

    add_arguments(parser)        your command-line flags; train.py hands them over in ``args``
    load_datasets(data_dir)      -> (train, val): Arrays of features x and class labels y;
                                    ``data_dir`` is the extracted dataset archive
                                    ($SLURM_TMPDIR/data in a job)
    Model(train, args, rng)      .arrays: all its state (name -> array), saved in checkpoints;
                                 .train_step(x, y) -> one loss per sample, after one update;
                                 .metrics(x, y) -> {name: one value per sample}, each reported
                                 as val_<name>, its mean over the validation set

Raise data.DataError with a one-line message when the data is not what you expect: the run then
exits 2 with it. Draw random numbers from ``rng`` or ``random``: their states are saved.
README.md, "Make it yours", walks through replacing the example with a folder of images.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .make_dataset import read_splits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")


@dataclass
class Arrays:
    x: np.ndarray  # float32, N x D
    y: np.ndarray  # int64 class labels 0, 1, ..., N

    def __len__(self) -> int:
        return len(self.y)


def load_datasets(data_dir: Path) -> tuple[Arrays, Arrays]:
    """The example: train.npz and val.npz from make_dataset."""
    train, val = read_splits(data_dir)
    return Arrays(*train), Arrays(*val)


class Model:
    """A multilayer perceptron (one hidden ReLU layer, softmax output) trained by minibatch SGD
    with momentum, written out in full so that nothing is hidden."""

    def __init__(self, train: Arrays, args: argparse.Namespace, rng: np.random.Generator):
        features, classes, hidden = train.x.shape[1], int(train.y.max()) + 1, args.hidden
        weights = {
            "w1": rng.standard_normal((features, hidden)) * np.sqrt(2.0 / features),
            "b1": np.zeros(hidden),
            "w2": rng.standard_normal((hidden, classes)) * np.sqrt(1.0 / hidden),
            "b2": np.zeros(classes),
        }
        self.arrays = {name: w.astype(np.float32) for name, w in weights.items()}
        self.arrays |= {f"velocity_{name}": np.zeros_like(w) for name, w in self.arrays.items()}
        self.lr, self.momentum, self.weight_decay = args.lr, args.momentum, args.weight_decay

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pre-activations, hidden activations and log-probabilities."""
        a = self.arrays
        pre = x @ a["w1"] + a["b1"]
        hidden = np.maximum(pre, 0.0)
        z = hidden @ a["w2"] + a["b2"]
        z = z - z.max(axis=1, keepdims=True)
        return pre, hidden, z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def train_step(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """One step on the batch (x, y); returns each sample's cross-entropy loss."""
        a, n = self.arrays, len(y)
        pre, hidden, log_probs = self._forward(x)
        dz = np.exp(log_probs)  # softmax
        dz[np.arange(n), y] -= 1.0
        dz /= n
        dhidden = dz @ a["w2"].T
        dhidden[pre <= 0.0] = 0.0
        grads = {"w1": x.T @ dhidden, "b1": dhidden.sum(0), "w2": hidden.T @ dz, "b2": dz.sum(0)}
        for name, grad in grads.items():  # torch.optim.SGD's update rule
            velocity = f"velocity_{name}"
            a[velocity] = self.momentum * a[velocity] + grad + self.weight_decay * a[name]
            a[name] -= (self.lr * a[velocity]).astype(np.float32)
        return -log_probs[np.arange(n), y]

    def metrics(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        log_probs = self._forward(x)[2]
        return {"accuracy": log_probs.argmax(axis=1) == y, "loss": -log_probs[np.arange(len(y)), y]}
{% endif -%}
