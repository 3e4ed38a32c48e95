{% if cookiecutter.framework == "pytorch" -%}
"""The model, its optimiser and everything on the device: PyTorch, one process per GPU.

With more than one task (``srun`` with ``--ntasks`` > 1, or a launcher's ``WORLD_SIZE`` > 1),
every process trains a DistributedDataParallel replica on its own shard of each epoch, and rank
0 alone writes files. Methods marked *collective* must be called by every rank at the same point.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import Progress, atomic_write
from .data import Dataset

CHECKPOINT_FORMAT = 1
# How long a rank waits for the others, at start-up and in every collective.
DIST_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class Topology:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> Topology:
        """Slurm's view (one task per GPU, started by ``srun``), or a launcher's (torchrun)."""
        env = os.environ
        if "RANK" in env and "WORLD_SIZE" in env and "SLURM_PROCID" not in env:
            return cls(int(env["RANK"]), int(env.get("LOCAL_RANK", 0)), int(env["WORLD_SIZE"]))
        return cls(
            rank=int(env.get("SLURM_PROCID", env.get("RANK", 0))),
            local_rank=int(env.get("SLURM_LOCALID", env.get("LOCAL_RANK", 0))),
            world_size=int(env.get("SLURM_NTASKS", env.get("WORLD_SIZE", 1))),
        )


def process_rank() -> int:
    """This process's rank, known before any communication is set up."""
    return Topology.from_env().rank


def cpu_threads() -> int:
    """The cores Slurm gave this task, else the cores this process may run on."""
    if os.environ.get("SLURM_CPUS_PER_TASK"):
        return int(os.environ["SLURM_CPUS_PER_TASK"])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def init_distributed(topology: Topology, device: torch.device) -> None:
    """Join the process group, then prove that every rank can talk to every other one."""
    addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if not addr or not port:
        raise RuntimeError(
            f"world size {topology.world_size} needs MASTER_ADDR and MASTER_PORT in the "
            "environment (job.sh exports them: the first node's name and a free port)"
        )
    host = f"[{addr}]" if ":" in addr else addr
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        init_method=f"tcp://{host}:{port}",
        rank=topology.rank,
        world_size=topology.world_size,
        timeout=DIST_TIMEOUT,
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


def build_model(features: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


class Engine:
    def __init__(self, args: argparse.Namespace, data: Dataset) -> None:
        self.topology = Topology.from_env()
        self.rank, self.world_size = self.topology.rank, self.topology.world_size
        self.distributed = self.world_size > 1
        self.is_main = self.rank == 0
        self.threads = cpu_threads()
        torch.set_num_threads(self.threads)
        if torch.cuda.is_available():
            # cuBLAS needs this to give the same bits run after run (set before CUDA starts).
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            local_gpu = self.topology.local_rank % torch.cuda.device_count()
            torch.cuda.set_device(local_gpu)
            self.device = torch.device("cuda", local_gpu)
        else:
            self.device = torch.device("cpu")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        if self.distributed:
            init_distributed(self.topology, self.device)

        # The same initial weights on every rank (DDP would broadcast rank 0's anyway) ...
        torch.manual_seed(args.seed)
        self.model = build_model(data.features, args.hidden, data.classes).to(self.device)
        # ... then one random stream per rank, for dropout, augmentation and the like.
        torch.manual_seed(args.seed + self.rank)
        self.np_rng = np.random.default_rng([args.seed, self.rank])
        random.seed(args.seed + self.rank)

        if self.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net: nn.Module = DistributedDataParallel(self.model, device_ids=device_ids)
        else:
            self.net = self.model
        self.optimizer = torch.optim.SGD(
            self.net.parameters(),
            lr=args.lr,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
        )
        # The data set is tiny: it lives on the device whole. Use a DataLoader for real data.
        self.x_train = torch.from_numpy(data.train.x).to(self.device)
        self.y_train = torch.from_numpy(data.train.y).to(self.device)
        self.x_val = torch.from_numpy(data.val.x).to(self.device)
        self.y_val = torch.from_numpy(data.val.y).to(self.device)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)

    def describe(self) -> str:
        backend = dist.get_backend() if self.distributed else "none (one process)"
        return (
            f"PyTorch {torch.__version__}, device {self.device}, {self.threads} CPU threads, "
            f"world size {self.world_size}, backend {backend}"
        )

    def train_step(self, index: np.ndarray) -> None:
        """One optimisation step on this rank's samples ``index`` (DDP averages the gradients)."""
        idx = torch.from_numpy(index).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.net(self.x_train[idx]), self.y_train[idx])
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach()

    def epoch_loss(self, steps: int) -> float:
        """*Collective.* Mean training loss of the epoch just finished, over steps and ranks."""
        total = self.loss_sum.clone()
        if self.distributed:
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        self.loss_sum.zero_()
        return total.item() / (steps * self.world_size)

    @torch.no_grad()
    def evaluate(self) -> float:
        """Accuracy on the whole validation set (every rank computes the same value)."""
        self.model.eval()
        correct = 0
        for start in range(0, len(self.y_val), 4096):
            logits = self.model(self.x_val[start : start + 4096])
            correct += int((logits.argmax(dim=1) == self.y_val[start : start + 4096]).sum())
        self.model.train()
        return correct / len(self.y_val)

    def stop_agreed(self, requested: bool) -> bool:
        """*Collective.* True on every rank if any rank was asked to stop, so all stop together."""
        if not self.distributed:
            return requested
        flag = torch.tensor([int(requested)], dtype=torch.int32, device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _rank_state(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum.item(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "numpy_rng": self.np_rng.bit_generator.state,
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
                "ranks": states,
            }
            atomic_write(path, lambda f: torch.save(checkpoint, f))
        if self.distributed:
            dist.barrier()

    def load(self, path: Path) -> tuple[Progress, dict[str, Any]]:
        """Restore model, optimiser, this rank's random streams and partial-epoch loss."""
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        states = checkpoint["ranks"]
        if len(states) == self.world_size:
            state = states[self.rank]
            self.loss_sum.fill_(state["loss_sum"])
            torch.set_rng_state(state["torch_rng"])
            if state["cuda_rng"] is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"])
            self.np_rng.bit_generator.state = state["numpy_rng"]
            random.setstate(state["python_rng"])
        return Progress.from_dict(checkpoint["progress"]), checkpoint["config"]

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
"""The model, its optimiser and their state: NumPy only, one process.

A multilayer perceptron (one hidden ReLU layer, softmax output) trained by minibatch SGD with
momentum, written out in full so that nothing is hidden: replace it with your own model.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import Progress, atomic_write
from .data import Dataset

CHECKPOINT_FORMAT = 1
PARAMS = ("w1", "b1", "w2", "b2")


def process_rank() -> int:
    """NumPy runs are a single process."""
    return 0


class MLP:
    def __init__(self, features: int, hidden: int, classes: int, rng: np.random.Generator):
        self.params = {
            "w1": (rng.standard_normal((features, hidden)) * np.sqrt(2.0 / features)),
            "b1": np.zeros(hidden),
            "w2": (rng.standard_normal((hidden, classes)) * np.sqrt(1.0 / hidden)),
            "b2": np.zeros(classes),
        }
        self.params = {name: p.astype(np.float32) for name, p in self.params.items()}
        self.velocity = {name: np.zeros_like(p) for name, p in self.params.items()}

    def logits(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        return np.maximum(x @ p["w1"] + p["b1"], 0.0) @ p["w2"] + p["b2"]

    def sgd_step(
        self, x: np.ndarray, y: np.ndarray, lr: float, momentum: float, weight_decay: float
    ) -> float:
        """One step on the batch (x, y); returns the batch's mean cross-entropy loss."""
        p, n = self.params, len(y)
        pre = x @ p["w1"] + p["b1"]
        hidden = np.maximum(pre, 0.0)
        z = hidden @ p["w2"] + p["b2"]
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(n), y].mean()

        dz = np.exp(log_probs)  # softmax
        dz[np.arange(n), y] -= 1.0
        dz /= n
        dhidden = dz @ p["w2"].T
        dhidden[pre <= 0.0] = 0.0
        grads = {
            "w1": x.T @ dhidden,
            "b1": dhidden.sum(axis=0),
            "w2": hidden.T @ dz,
            "b2": dz.sum(axis=0),
        }
        for name in PARAMS:  # torch.optim.SGD's update rule
            g = grads[name] + weight_decay * p[name]
            self.velocity[name] = momentum * self.velocity[name] + g
            p[name] -= (lr * self.velocity[name]).astype(np.float32)
        return float(loss)


class Engine:
    rank = 0
    world_size = 1
    is_main = True

    def __init__(self, args: argparse.Namespace, data: Dataset) -> None:
        self.args = args
        self.data = data
        # Every random draw goes through these two; both are saved in the checkpoint.
        self.rng = np.random.default_rng(args.seed)
        random.seed(args.seed)
        self.model = MLP(data.features, args.hidden, data.classes, self.rng)
        self.loss_sum = 0.0

    def describe(self) -> str:
        return f"NumPy {np.__version__}, CPU, one process"

    def train_step(self, index: np.ndarray) -> None:
        train, args = self.data.train, self.args
        self.loss_sum += self.model.sgd_step(
            train.x[index], train.y[index], args.lr, args.momentum, args.weight_decay
        )

    def epoch_loss(self, steps: int) -> float:
        """Mean training loss of the epoch just finished."""
        loss, self.loss_sum = self.loss_sum / steps, 0.0
        return loss

    def evaluate(self) -> float:
        val = self.data.val
        correct = int((self.model.logits(val.x).argmax(axis=1) == val.y).sum())
        return correct / len(val.y)

    def stop_agreed(self, requested: bool) -> bool:
        return requested

    def save(self, path: Path, progress: Progress, config: dict[str, Any]) -> None:
        """Write the checkpoint atomically: arrays, plus the rest as JSON (no pickle)."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "progress": progress.to_dict(),
            "config": config,
            "loss_sum": self.loss_sum,
            "numpy_rng": self.rng.bit_generator.state,
            "python_rng": random.getstate(),
        }
        arrays = {f"param_{name}": p for name, p in self.model.params.items()}
        arrays |= {f"velocity_{name}": v for name, v in self.model.velocity.items()}
        atomic_write(path, lambda f: np.savez(f, state=np.array(json.dumps(state)), **arrays))

    def load(self, path: Path) -> tuple[Progress, dict[str, Any]]:
        with np.load(path, allow_pickle=False) as npz:
            state = json.loads(str(npz["state"]))
            for name in PARAMS:
                saved = npz[f"param_{name}"]
                if saved.shape != self.model.params[name].shape:
                    raise ValueError(
                        f"{name} has shape {saved.shape} in the checkpoint but "
                        f"{self.model.params[name].shape} in this model (--hidden or data changed?)"
                    )
                self.model.params[name] = saved
                self.model.velocity[name] = npz[f"velocity_{name}"]
        self.loss_sum = state["loss_sum"]
        self.rng.bit_generator.state = state["numpy_rng"]
        version, internal, gauss = state["python_rng"]
        random.setstate((version, tuple(internal), gauss))
        return Progress.from_dict(state["progress"]), state["config"]

    def close(self, clean: bool = True) -> None:
        pass
{% endif -%}
