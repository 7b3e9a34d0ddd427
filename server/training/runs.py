"""What the trainers share: device choice, run folders with a frozen config, atomic checkpoints of
named networks and optimizers (`CheckpointedTrainer`), and the timed loop that logs, checkpoints and
stops."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from server.models.torch_files import load_torch_file


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_config(run_dir: Path, config_cls, overrides: Path | None, write: bool = True):
    """The run's frozen config: read back when the run exists, else defaults + JSON overrides."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "train_config.json"
    if path.exists():
        return config_cls(**json.loads(path.read_text()))
    cfg = config_cls(**(json.loads(overrides.read_text()) if overrides else {}))
    if write:
        path.write_text(json.dumps(asdict(cfg), indent=2))
    return cfg


def save_atomic(state: dict, path: Path):
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict | None:
    """A run's own checkpoint (tensors and plain data only), or None when there is none yet.

    Raises ValueError (see :func:`load_torch_file`) when the file cannot be read weights-only."""
    return load_torch_file(path, "training checkpoint", map_location=device) if path.exists() else None


@contextmanager
def stop_on_sigterm():
    """Turn SIGTERM into KeyboardInterrupt while training (main thread only), so that `kill` and
    Ctrl-C both end the loop through the same save-and-exit path."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def train_loop(trainer, done: Callable[[], bool], log_path: Path, log_every: int, hours: float | None,
               checkpoint_minutes: float, periodic: list[tuple[float, Callable[[], None]]] = (),
               progress: Callable[[], dict] = dict, bar=None) -> str:
    """Step `trainer` until `done()` or `hours` pass; log every `log_every` steps as JSON lines,
    checkpoint every `checkpoint_minutes`, and call each `(minutes, fn)` of `periodic` that often.
    Ctrl-C or SIGTERM saves a checkpoint before returning, so a stopped run loses nothing.
    `trainer` needs `train_step() -> dict`, `step`, `wall_seconds` and `save()`. With a `bar`
    (`update(step, logs)` every step, `close()`) the JSON lines go to the log file only.
    Returns why it stopped: "done", "hours" or "interrupted"."""
    reason = "interrupted"
    try:
        with stop_on_sigterm(), open(log_path, "a") as log:
            reason = _steps(trainer, done, log, log_every, hours, checkpoint_minutes, periodic, progress, bar)
    except KeyboardInterrupt:
        pass
    finally:
        if bar is not None:
            bar.close()
    if reason == "interrupted":
        print(f"interrupted at step {trainer.step}; saving a checkpoint", flush=True)
    trainer.save()
    return reason


def _steps(trainer, done, log, log_every, hours, checkpoint_minutes, periodic, progress, bar):
    start = t_step = last_ckpt = time.time()
    last_run = [start] * len(periodic)
    while not done():
        logs = trainer.train_step()
        now = time.time()
        trainer.wall_seconds += now - t_step
        t_step = now
        if bar is not None:
            bar.update(trainer.step, logs)
        if trainer.step % log_every == 0:
            logs.update(step=trainer.step, wall_h=round(trainer.wall_seconds / 3600, 4), **progress())
            line = json.dumps(logs)
            log.write(line + "\n")
            log.flush()
            if bar is None:
                print(line, flush=True)
        for i, (minutes, fn) in enumerate(periodic):
            if now - last_run[i] > minutes * 60:
                fn()
                last_run[i] = now
        if now - last_ckpt > checkpoint_minutes * 60:
            trainer.save()
            last_ckpt = now
        if hours and now - start > hours * 3600:
            return "hours"
    return "done"


class CheckpointedTrainer:
    """Checkpoint/resume plumbing: the config, progress counters, the networks named in `NETWORKS`
    and the optimizers named in `OPTIMIZERS` (attributes of the trainer), the trainer's
    `torch.Generator` (`self.gen`) and torch's global RNG, saved atomically to
    `run_dir/checkpoint.pt`. Subclasses set `cfg`, `run_dir`, `device`, `gen` and the counters."""

    NETWORKS: tuple[str, ...] = ()
    OPTIMIZERS: tuple[str, ...] = ()
    COUNTERS = ("step", "images_seen", "wall_seconds")

    def start(self, cfg, run_dir: Path, device: torch.device) -> None:
        """The run's config and place, a `torch.Generator` seeded from `cfg.seed`, counters at 0."""
        self.cfg, self.run_dir, self.device = cfg, run_dir, device
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = self.images_seen = 0
        self.wall_seconds = 0.0
        self.data = None

    @staticmethod
    def adam(params, lr: float) -> torch.optim.Adam:
        """StyleGAN2's Adam for G (and E): betas (0, 0.99)."""
        return torch.optim.Adam(params, lr=lr, betas=(0.0, 0.99), eps=1e-8)

    @staticmethod
    def lazy_r1_adam(params, lr: float, r1_interval: int) -> torch.optim.Adam:
        """D's Adam with the lazy-regularisation correction of lr and beta2 for R1 every `r1_interval` steps."""
        ratio = r1_interval / (r1_interval + 1)
        return torch.optim.Adam(params, lr=lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)

    def state(self) -> dict:
        st = {"config": asdict(self.cfg)}
        st.update({k: getattr(self, k) for k in self.COUNTERS})
        st.update({k: getattr(self, k).state_dict() for k in self.NETWORKS + self.OPTIMIZERS})
        st.update(rng=self.gen.get_state(), torch_rng=torch.get_rng_state())
        return st

    def save(self):
        save_atomic(self.state(), self.run_dir / "checkpoint.pt")

    def try_resume(self) -> bool:
        st = load_checkpoint(self.run_dir / "checkpoint.pt", self.device)
        if st is None:
            return False
        for name in self.NETWORKS + self.OPTIMIZERS:
            getattr(self, name).load_state_dict(st[name])
        self.gen.set_state(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        for k in self.COUNTERS:
            setattr(self, k, st[k])
        return True
