"""The generated README's recipes for a training script of one's own under job.sh, as scripts the
tests submit: a plain PyTorch loop, PyTorch Lightning and Hugging Face Transformers' Trainer. The
lines the README tells a user to add are marked ``# added``; tests/test_readme.py checks that the
README shows each of them, and says how many there are.

Each training takes 90 to 100 s of 1-s steps: longer than what a 2-minute job leaves, so that the
time-limit warning comes while it trains. Data in a fixed order, fixed seeds, one CPU thread: an
uninterrupted run and a requeued one end with the same numbers, bit for bit.
"""

from __future__ import annotations

# What a lab adds to requirements.txt for each (both are in DRAC's wheelhouse); the test wheelhouse
# gets them from PyPI, with torch held to the machine's CPU wheel (tools/local-slurm build-wheelhouse).
REQUIREMENTS = {
    "lightning": "lightning>=2.4\n",
    "transformers": "transformers>=4.46\naccelerate>=1.0  # the Trainer needs it\n",
}

# A plain PyTorch loop that a lab brings: the README adds the run folder, the stop request, the
# stop marker and its exit code; the loop saves and loads its own checkpoint.
OWN_LOOP = """
import json, sys, time
import torch
from {package}.engine import job  # added

run = job.run_dir()  # added
stop = job.stop_request()  # added
checkpoint = run / "checkpoint.pt"
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
step = 0
if checkpoint.exists():
    saved = torch.load(checkpoint)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    step = saved["step"]
    print(f"my loop: resuming at step {{step}}")
x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
while step < 100:
    if stop:  # added
        torch.save({{"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}}, checkpoint)
        sys.exit(job.stopped(run))  # added
    optimizer.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    step += 1
    time.sleep(1.0)
(run / "metrics.json").write_text(json.dumps({{"loss": loss.item(), "weights": model.weight.tolist()}}))
"""

LIGHTNING = """
import json, sys, time
import lightning as L
import torch
from lightning.pytorch.plugins.environments import SLURMEnvironment  # added
from {package}.engine import job  # added

run = job.run_dir()  # added
stop = job.stop_request()  # added
checkpoint = run / "checkpoint.ckpt"  # added


class SaveOnStop(L.Callback):  # added
    def on_train_epoch_end(self, trainer, module):  # added
        if stop:  # added
            trainer.save_checkpoint(checkpoint)  # added
            trainer.should_stop = True  # added


class Regression(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        time.sleep(1.0)  # stands for a real step
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.02)


L.seed_everything(0)
x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
model = Regression()
trainer = L.Trainer(
    max_epochs=23, accelerator="cpu", deterministic=True, logger=False, enable_checkpointing=False,
    enable_progress_bar=False, enable_model_summary=False,
    plugins=[SLURMEnvironment(auto_requeue=False)],  # added
    callbacks=[SaveOnStop()],  # added
)
trainer.fit(model, data, ckpt_path=checkpoint if checkpoint.exists() else None)  # added
if stop:  # added
    sys.exit(job.stopped(run))  # added
loss = torch.nn.functional.mse_loss(model.layer(x), y).item()
(run / "metrics.json").write_text(json.dumps({{"loss": loss, "weights": model.layer.weight.tolist(),
                                              "steps": trainer.global_step}}))
"""

TRANSFORMERS = """
import json, sys, time
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from transformers import TrainerCallback  # added
from transformers.trainer_utils import get_last_checkpoint  # added
from {package}.engine import job  # added

run = job.run_dir()  # added
stop = job.stop_request()  # added


class SaveOnStop(TrainerCallback):  # added
    def on_step_end(self, args, state, control, **kwargs):  # added
        if stop:  # added
            control.should_save = control.should_training_stop = True  # added


class Slow(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(1.0)  # stands for a real step


class Tokens(torch.utils.data.Dataset):  # synthetic sentences of 12 tokens, padded, with a label
    def __init__(self):
        g = torch.Generator().manual_seed(1)
        self.ids = torch.randint(1, 50, (64, 12), generator=g)
        self.mask = (torch.arange(12) < torch.randint(4, 13, (64, 1), generator=g)).long()
        self.labels = (self.ids[:, 0] > 25).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {{"input_ids": self.ids[i], "attention_mask": self.mask[i], "labels": self.labels[i]}}


torch.manual_seed(0)
config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=16, num_labels=2)
model = BertForSequenceClassification(config)  # a tiny model built from its config: nothing to download
data = Tokens()
args = TrainingArguments(
    max_steps=92, per_device_train_batch_size=8, learning_rate=1e-3, seed=0, use_cpu=True,
    save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
    output_dir=str(run),  # added
)
trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[Slow()])
trainer.add_callback(SaveOnStop())  # added
print("my trainer: checkpoints", sorted(path.name for path in run.glob("checkpoint-*")))
trainer.train(resume_from_checkpoint=get_last_checkpoint(run))  # added
if stop:  # added
    sys.exit(job.stopped(run))  # added
loss = trainer.evaluate(data)["eval_loss"]
checksum = sum(p.double().sum() for p in model.parameters()).item()
(run / "metrics.json").write_text(json.dumps({{"eval_loss": loss, "checksum": checksum,
                                              "steps": trainer.state.global_step}}))
"""

SCRIPTS = {"own": OWN_LOOP, "lightning": LIGHTNING, "transformers": TRANSFORMERS}


def added_lines(script: str) -> list[str]:
    """The code of each line marked ``# added``, without the mark: what the README shows."""
    return [line.removesuffix("  # added").strip() for line in script.splitlines() if line.endswith("  # added")]
