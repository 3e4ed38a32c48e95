{% if cookiecutter.framework == "pytorch" -%}
"""Everything on the device, for whatever task.py describes: PyTorch, one process per GPU.

With more than one task (``srun`` with ``--ntasks`` > 1, or torchrun), every process trains a
DistributedDataParallel replica on its own share of each step's samples and evaluates its own
share of the validation set; rank 0 alone writes files. Methods marked *collective* must be
called by every rank at the same point.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from . import task
from .checkpoint import Progress, atomic_write
from .data import DataError, EpochSampler
from .watchdog import beat

CHECKPOINT_FORMAT = 3
# How long a rank waits for the others, at start-up and in every collective, past the watchdog's
# --hang-minutes: the watchdog, which prints every thread's stack, fires first.
DIST_TIMEOUT_MARGIN = timedelta(minutes=5)
DIST_TIMEOUT_NO_WATCHDOG = timedelta(minutes=30)


def under_torchrun(env: Mapping[str, str]) -> bool:
    """Whether torchrun started this process (its variables then win over Slurm's)."""
    return "TORCHELASTIC_RUN_ID" in env


@dataclass(frozen=True)
class Topology:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_tasks: int = 1  # processes on this node

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Topology:
        """torchrun's view when torchrun started this process, even inside a Slurm job (whose
        SLURM_PROCID is then torchrun's own); else srun's, one task per GPU; else one process."""
        if under_torchrun(env) or "SLURM_PROCID" not in env:
            names = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")
        else:
            names = ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE")
        rank, local_rank, world_size, local_tasks = (env.get(name) for name in names)
        local = int(local_rank or 0)
        return cls(int(rank or 0), local, int(world_size or 1), int(local_tasks or local + 1))


def process_rank() -> int:
    """This process's rank, known before any communication is set up."""
    return Topology.from_env().rank


def cpu_threads(env: Mapping[str, str] = os.environ) -> int:
    """The cores Slurm gave this task, else the cores this process may run on; under torchrun,
    which starts several processes in one task, this process's share of them."""
    if env.get("SLURM_CPUS_PER_TASK"):
        cores = int(env["SLURM_CPUS_PER_TASK"])
    else:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS
            cores = os.cpu_count() or 1
    if under_torchrun(env):
        cores //= int(env.get("LOCAL_WORLD_SIZE") or 1)
    return max(1, cores)


def default_workers(env: Mapping[str, str] = os.environ) -> int:
    """Processes that load batches: the process's cores but one in a job, none outside."""
    inside_a_job = "SLURM_CPUS_PER_TASK" in env or under_torchrun(env)
    return cpu_threads(env) - 1 if inside_a_job else 0


def gpu_index(local_rank: int, local_tasks: int, visible: int, on_node: int) -> int:
    """This task's GPU among the ``visible`` ones; an error rather than two tasks on one GPU.

    ``on_node`` is the number of GPUs the node has for the job: a task that sees a single GPU
    while the node has one per task was given its own by Slurm.
    """
    if local_tasks > on_node or 1 < visible < local_tasks:
        raise RuntimeError(
            f"{local_tasks} tasks on this node for {on_node} GPUs ({visible} visible to this "
            "task): some would share a GPU; run one task per GPU (--ntasks-per-node equal to "
            "the GPUs per node, as job.sh does)"
        )
    return 0 if visible == 1 else local_rank


def pick_device(topology: Topology) -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    visible = torch.cuda.device_count()
    on_node = int(os.environ.get("SLURM_GPUS_ON_NODE", visible))
    index = gpu_index(topology.local_rank, topology.local_tasks, visible, on_node)
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def configure_kernels(deterministic: bool) -> None:
    """Fast kernels unless ``deterministic``, which gives the same bits run after run."""
    if torch.cuda.is_available():  # TF32 matmuls and convolutions on A100, H100 and newer
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = not deterministic  # autotuning picks kernels by timing
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
        torch.use_deterministic_algorithms(True, warn_only=True)


def dist_timeout(hang_minutes: float) -> timedelta:
    if hang_minutes <= 0:
        return DIST_TIMEOUT_NO_WATCHDOG
    return timedelta(minutes=hang_minutes) + DIST_TIMEOUT_MARGIN


def init_distributed(topology: Topology, device: torch.device, timeout: timedelta) -> None:
    """Join the process group, then prove that every rank can talk to every other one."""
    addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if not addr or not port:
        raise RuntimeError(
            f"world size {topology.world_size} needs MASTER_ADDR and MASTER_PORT in the "
            "environment (job.sh exports them: the first node's name and a free port)"
        )
    host = f"[{addr}]" if ":" in addr else addr
    # DistributedDataParallel imports torch._dynamo. Imported after init_process_group, it keeps
    # the process group alive past destroy_process_group (torch 2.13), and the group's threads
    # then abort the process at exit, now and then ("terminate called without an active
    # exception"): import it first.
    import torch._dynamo  # noqa: F401

    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        init_method=f"tcp://{host}:{port}",
        rank=topology.rank,
        world_size=topology.world_size,
        timeout=timeout,
    )
    check = torch.tensor([topology.rank + 1], dtype=torch.int64, device=device)
    dist.all_reduce(check, op=dist.ReduceOp.SUM)
    total, world = int(check.item()), topology.world_size
    expected = world * (world + 1) // 2
    print(
        f"rank {topology.rank} of {world} on {socket.gethostname()}: "
        f"all-reduce sum {total} (expected {expected})",
        flush=True,
    )
    if total != expected:
        raise RuntimeError(f"all-reduce check failed: sum {total}, expected {expected}")


class LossSum:
    """A loss summed over samples, in float64 on the device, for the price of keeping each step's
    mean: reading one would wait for the device, and even adding it to a sum costs a small model
    1% of its step. The means are added up GROUP at a time. A checkpoint holds the ones not added
    up yet as they are, so that a resumed run adds up the same groups, to the same bits."""

    GROUP = 512

    def __init__(self, device: torch.device) -> None:
        self._total = torch.zeros((), dtype=torch.float64, device=device)
        self._means: list[torch.Tensor] = []  # not in _total yet, each of _size samples
        self._size = self.count = 0

    def add(self, mean: torch.Tensor, samples: int) -> None:
        if samples != self._size or len(self._means) == self.GROUP:
            self._add_up()
            self._size = samples
        self._means.append(mean.detach())
        self.count += samples

    def _add_up(self) -> None:
        if self._means:
            self._total.add_(torch.stack(self._means).sum(dtype=torch.float64), alpha=self._size)
            self._means.clear()

    def total(self) -> torch.Tensor:
        self._add_up()
        return self._total

    def state(self) -> dict[str, Any]:
        means = torch.stack(self._means).cpu() if self._means else torch.zeros(0)
        total, size, count = self._total.item(), self._size, self.count
        return {"total": total, "means": means, "size": size, "count": count}

    def load(self, state: dict[str, Any]) -> None:
        self._total.fill_(state["total"])
        self._means = list(state["means"].to(self._total.device).unbind())
        self._size, self.count = state["size"], state["count"]

    @staticmethod
    def merged(states: list[dict[str, Any]]) -> dict[str, Any]:
        """One state for the samples of all ``states``: a checkpoint's ranks, for another number."""
        total = sum(s["total"] + float(s["means"].double().sum()) * s["size"] for s in states)
        return LossSum.added_up(total, sum(s["count"] for s in states))

    @staticmethod
    def added_up(total: float, count: int) -> dict[str, Any]:
        """The state of a sum with nothing left to add up."""
        return {"total": total, "means": torch.zeros(0), "size": 0, "count": count}


class Engine:
    def __init__(self, args: argparse.Namespace, train_set: Dataset, val_set: Dataset) -> None:
        self.topology = Topology.from_env()
        self.rank, self.world_size = self.topology.rank, self.topology.world_size
        if min(len(train_set), len(val_set)) < self.world_size:
            raise DataError(
                f"{len(train_set)} training and {len(val_set)} validation samples for "
                f"{self.world_size} ranks: each rank needs at least one of each"
            )
        self.distributed = self.world_size > 1
        self.is_main = self.rank == 0
        self.threads = cpu_threads()
        torch.set_num_threads(self.threads)
        configure_kernels(args.deterministic)
        self.device = pick_device(self.topology)
        ampere = self.device.type == "cuda" and torch.cuda.get_device_capability()[0] >= 8
        self.precision = args.precision or ("bf16" if ampere else "fp32")
        if self.distributed:
            init_distributed(self.topology, self.device, dist_timeout(args.hang_minutes))

        # The same initial weights on every rank (DDP would broadcast rank 0's anyway) ...
        torch.manual_seed(args.seed)
        self.model = task.build_model(train_set, args).to(self.device)
        # ... then one random stream per rank, for dropout, augmentation and the like.
        torch.manual_seed(args.seed + self.rank)
        random.seed(args.seed + self.rank)
        if self.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net: torch.nn.Module = DistributedDataParallel(self.model, device_ids=device_ids)
        else:
            self.net = self.model
        self.sampler = EpochSampler(
            len(train_set), args.batch_size, args.seed, self.rank, self.world_size
        )
        total_steps = args.epochs * self.sampler.steps_per_epoch()
        self._make_optimizer: Callable[[], tuple[Any, Any]] = lambda: task.make_optimizer(
            self.model, args, total_steps
        )
        self.optimizer, self.scheduler = self._make_optimizer()
        self.train_loader, self.val_loader = self._loaders(args, train_set, val_set)
        self.train_losses = LossSum(self.device)  # the epoch's so far

    def _loaders(self, args: argparse.Namespace, train: Dataset, val: Dataset) -> list[DataLoader]:
        """The training batches in the sampler's order, and this rank's share of ``val``."""
        options: dict[str, Any] = {
            "num_workers": args.workers,
            "persistent_workers": args.workers > 0,
            "pin_memory": self.device.type == "cuda",
            # Its own generator: starting an epoch must not draw on the saved random streams. It
            # seeds the worker processes: their streams differ between ranks and between --seed.
            "generator": torch.Generator().manual_seed(args.seed * 100_003 + self.rank),
        }
        shard = range(self.rank, len(val), self.world_size)
        return [
            DataLoader(train, batch_sampler=self.sampler, **options),
            DataLoader(val, args.batch_size, sampler=shard, **options),
        ]

    def describe(self) -> str:
        backend = dist.get_backend() if self.distributed else "none (one process)"
        return (
            f"PyTorch {torch.__version__}, device {self.device}, precision {self.precision}, "
            f"{self.threads} CPU threads, {self.train_loader.num_workers} loader workers, "
            f"{self.sampler.n} training samples, world size {self.world_size}, backend {backend}"
        )

    def batches(self, epoch: int, consumed: int) -> Iterator[Any]:
        """This rank's batches for the rest of ``epoch``, after ``consumed`` samples of it."""
        self.sampler.epoch, self.sampler.consumed = epoch, consumed
        return iter(self.train_loader)

    def _on_device(self, batch: Any) -> list[torch.Tensor]:
        if self.device.type == "cpu":
            return batch  # already there: .to() would cost a call per tensor for nothing
        return [t.to(self.device, non_blocking=True) for t in batch]

    def _outputs(self, model: torch.nn.Module, inputs: Any) -> torch.Tensor:
        """``model(inputs)`` in the run's precision, handed back in fp32: a loss or a metric
        summed in bf16 would lose digits (a no-op for outputs already in fp32)."""
        if self.precision == "fp32":
            return model(inputs).float()  # no context at all: even an idle one costs a little
        with torch.autocast(self.device.type, torch.bfloat16):
            return model(inputs).float()

    def train_step(self, batch: Any) -> int:
        """One optimisation step on this rank's ``batch`` (DDP averages the gradients over the
        ranks); returns the number of samples all ranks consumed."""
        inputs, targets = self._on_device(batch)
        self.optimizer.zero_grad(set_to_none=True)  # before the forward pass: less memory in use
        loss = task.loss(self._outputs(self.net, inputs), targets).mean()
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.train_losses.add(loss, len(targets))
        return len(targets) * self.world_size

    def _sum(self, values: list[Any]) -> list[float]:
        """*Collective.* Each value (a number or a tensor) summed over the ranks."""
        as_tensor = [torch.as_tensor(v, dtype=torch.float64, device=self.device) for v in values]
        total = torch.stack(as_tensor)
        if self.distributed:
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.tolist()

    def train_loss(self) -> float:
        """*Collective.* The epoch's training loss per sample, over all ranks; starts the next."""
        loss_sum, count = self._sum([self.train_losses.total(), self.train_losses.count])
        self.train_losses = LossSum(self.device)
        return loss_sum / count

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """*Collective.* task.metrics' means over the validation set: each rank sums the values
        of its own share of it, then sums and counts are added up over the ranks."""
        self.model.eval()  # not self.net: DDP would expect every rank to run as many batches
        sums: dict[str, Any] = {}
        count = 0
        for batch in self.val_loader:
            inputs, targets = self._on_device(batch)
            values = task.metrics(self._outputs(self.model, inputs), targets)
            for name, value in values.items():
                sums[name] = sums.get(name, 0) + value.sum(dtype=torch.float64)
            count += len(targets)
            beat()  # a long evaluation is not a hang
        self.model.train()
        *totals, count = self._sum([*sums.values(), count])
        return {f"val_{name}": total / count for name, total in zip(sums, totals, strict=True)}

    def agree(self, values: list[float]) -> list[float]:
        """*Collective.* Each value's maximum over the ranks: the same on every rank."""
        if not self.distributed:
            return values
        flags = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return flags.tolist()

    def _rank_state(self) -> dict[str, Any]:
        return {
            "train_losses": self.train_losses.state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "python_rng": random.getstate(),
        }

    def save(self, path: Path, progress: Progress, config: dict[str, Any]) -> None:
        """*Collective.* Rank 0 writes the checkpoint atomically; all return once it is in place."""
        if self.distributed:
            states: list[Any] = [None] * self.world_size
            dist.all_gather_object(states, self._rank_state())
        else:
            states = [self._rank_state()]
        if self.is_main:
            checkpoint = {
                "format": CHECKPOINT_FORMAT,
                "progress": progress.to_dict(),
                "config": config,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "ranks": states,
            }
            atomic_write(path, lambda f: torch.save(checkpoint, f))
        if self.distributed:
            dist.barrier()

    def load(self, path: Path) -> tuple[Progress, dict[str, Any]]:
        """Restore model, optimiser, scheduler and the epoch's loss so far; with as many ranks
        as the checkpoint's, also each rank's random streams."""
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if checkpoint.get("format") == 2:  # each rank's loss as a sum and a count: still read
            for state in checkpoint["ranks"]:
                sums = state.pop("loss_sum"), state.pop("loss_count")
                state["train_losses"] = LossSum.added_up(*sums)
        elif checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"format {checkpoint.get('format')}, not {CHECKPOINT_FORMAT}")
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        states = checkpoint["ranks"]
        progress = Progress.from_dict(checkpoint["progress"])
        if len(states) == self.world_size:
            state = states[self.rank]
            self.train_losses.load(state["train_losses"])
            torch.set_rng_state(state["torch_rng"])
            if state["cuda_rng"] is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"])
            random.setstate(state["python_rng"])
        else:  # another world size: rank 0 carries the sums on, streams start anew
            self._schedule_for_this_world_size(progress)
            if self.is_main:
                self.train_losses.load(LossSum.merged([state["train_losses"] for state in states]))
        return progress, checkpoint["config"]

    def _schedule_for_this_world_size(self, progress: Progress) -> None:
        """The schedule counts optimiser steps, and another world size takes more or fewer of
        them per epoch: replay a fresh scheduler up to the step this world size would be at, so
        that the learning rate follows the share of the training done (any scheduler that
        steps once per batch), then keep its rates with the saved optimiser state."""
        per_step = self.sampler.batch_size * self.world_size
        steps = progress.epoch * self.sampler.steps_per_epoch() + progress.samples // per_step
        optimizer, scheduler = self._make_optimizer()
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": on purpose
            warnings.simplefilter("ignore")
            for _ in range(steps):
                scheduler.step()
        rates = [group["lr"] for group in optimizer.param_groups]
        optimizer.load_state_dict(self.optimizer.state_dict())  # momentum and the like
        for group, rate in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = rate
        self.optimizer, self.scheduler = optimizer, scheduler

    def close(self, clean: bool = True) -> None:
        """*Collective* if ``clean``: release DDP, wait for every rank, leave the process group.

        After an error (``clean=False``) no rank is waited for: the others may be anywhere.
        """
        if dist.is_available() and dist.is_initialized():
            # DDP holds on to the process group: free it while every rank is still connected,
            # or a rank may hang at exit in DDP's destructor once its peers have gone.
            self.net = self.model
            if clean:
                dist.barrier()
            dist.destroy_process_group()
{% else -%}
"""Training for whatever task.py describes, with NumPy: one process, on the CPU."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import task
from .checkpoint import Progress, atomic_write
from .data import EpochSampler

CHECKPOINT_FORMAT = 2


def process_rank() -> int:
    """NumPy runs are a single process."""
    return 0


class Engine:
    rank = 0
    world_size = 1
    is_main = True

    def __init__(self, args: argparse.Namespace, train: task.Arrays, val: task.Arrays) -> None:
        self.train, self.val = train, val
        # Every random draw goes through these two; both are saved in the checkpoint.
        self.rng = np.random.default_rng(args.seed)
        random.seed(args.seed)
        self.model = task.Model(train, args, self.rng)
        self.sampler = EpochSampler(len(train), args.batch_size, args.seed)
        self.loss_sum, self.loss_count = 0.0, 0

    def describe(self) -> str:
        return f"NumPy {np.__version__}, CPU, one process, {len(self.train)} training samples"

    def batches(self, epoch: int, consumed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches for the rest of ``epoch``, after ``consumed`` samples of it."""
        self.sampler.epoch, self.sampler.consumed = epoch, consumed
        return ((self.train.x[index], self.train.y[index]) for index in self.sampler)

    def train_step(self, batch: tuple[np.ndarray, np.ndarray]) -> int:
        """One optimisation step; returns the number of samples it consumed."""
        losses = self.model.train_step(*batch)
        self.loss_sum += float(losses.sum(dtype=np.float64))
        self.loss_count += len(losses)
        return len(losses)

    def train_loss(self) -> float:
        """The epoch's training loss per sample; starts the next epoch's."""
        loss = self.loss_sum / self.loss_count
        self.loss_sum, self.loss_count = 0.0, 0
        return loss

    def evaluate(self) -> dict[str, float]:
        values = self.model.metrics(self.val.x, self.val.y)
        return {f"val_{name}": float(np.mean(v, dtype=np.float64)) for name, v in values.items()}

    def agree(self, values: list[float]) -> list[float]:
        return values  # one process agrees with itself

    def save(self, path: Path, progress: Progress, config: dict[str, Any]) -> None:
        """Write the checkpoint atomically: arrays, plus the rest as JSON (no pickle)."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "progress": progress.to_dict(),
            "config": config,
            "loss_sum": self.loss_sum,
            "loss_count": self.loss_count,
            "numpy_rng": self.rng.bit_generator.state,
            "python_rng": random.getstate(),
        }
        arrays = self.model.arrays
        atomic_write(path, lambda f: np.savez(f, state=np.array(json.dumps(state)), **arrays))

    def load(self, path: Path) -> tuple[Progress, dict[str, Any]]:
        with np.load(path, allow_pickle=False) as npz:
            state = json.loads(str(npz["state"]))
            if state.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"format {state.get('format')}, not {CHECKPOINT_FORMAT}")
            for name, array in self.model.arrays.items():
                saved = npz[name]
                if saved.shape != array.shape:
                    raise ValueError(
                        f"{name} has shape {saved.shape} in the checkpoint but {array.shape} in "
                        "this model (--hidden or the data changed?)"
                    )
                self.model.arrays[name] = saved
        self.loss_sum, self.loss_count = state["loss_sum"], state["loss_count"]
        self.rng.bit_generator.state = state["numpy_rng"]
        version, internal, gauss = state["python_rng"]
        random.setstate((version, tuple(internal), gauss))
        return Progress.from_dict(state["progress"]), state["config"]

    def close(self, clean: bool = True) -> None:
        pass
{% endif -%}
