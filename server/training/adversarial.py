"""What the GAN trainers (StyleGAN2 in `train_gan`, StyleMapGAN in `train_stylemapgan`) share:
real batches from the rendered dataset, the EMA of networks, the logistic D loss with lazy R1, the
common command-line flags and `--bench` (checkpoint/resume: runs.CheckpointedTrainer).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def real_batch(data: np.ndarray, batch: int, gen: torch.Generator, device: torch.device,
               xflip: bool) -> torch.Tensor:
    """`batch` random dataset images (uint8 NHWC) as float32 NCHW in [-1, 1], each mirrored with
    probability 1/2 when `xflip`. Draws from `gen` only."""
    idx = torch.randint(len(data), (batch,), generator=gen)
    x = torch.from_numpy(data[idx.numpy()]).to(device).permute(0, 3, 1, 2).float()
    x = x / 127.5 - 1.0
    if xflip:
        flip = torch.rand(batch, generator=gen) < 0.5
        x = torch.where(flip.to(device)[:, None, None, None], x.flip(3), x)
    return x


def ema_beta(batch: int, images_seen: int, ema_kimg: float, ema_rampup: float | None) -> float:
    """Per-step EMA decay for a half-life of `ema_kimg` thousand images (StyleGAN2-ADA), the
    half-life ramped up over the first images when `ema_rampup`."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup:
        ema_nimg = min(ema_nimg, images_seen * ema_rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float):
    """ema <- beta * ema + (1 - beta) * model for parameters; buffers copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.copy_(p.lerp(p_ema, beta))
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def d_logistic_loss(d: nn.Module, real: torch.Tensor, fakes: list[torch.Tensor], r1_gamma: float,
                    r1_interval: int, do_r1: bool) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Logistic D loss: softplus(D(fake)) for each batch of `fakes` + softplus(-D(real)), plus the
    lazy R1 penalty on reals (weighted by gamma/2 * interval) when `do_r1`. `real` gets
    requires_grad set to `do_r1`. Returns the loss, D's logits of the reals, and logs (`r1` when
    computed)."""
    real.requires_grad_(do_r1)
    real_logits = d(real)
    loss = sum(F.softplus(d(fake)).mean() for fake in fakes) + F.softplus(-real_logits).mean()
    logs = {}
    if do_r1:
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        r1 = grad.square().sum(dim=[1, 2, 3]).mean()
        loss = loss + r1 * (r1_gamma / 2) * r1_interval
        logs["r1"] = r1.item()
    return loss, real_logits, logs


def add_training_arguments(ap: argparse.ArgumentParser, config_name: str):
    """The flags both GAN trainers take."""
    ap.add_argument("--run", type=Path, required=True, help="run folder (checkpoints, logs, samples)")
    ap.add_argument("--kimg", type=float, default=2000, help="stop after this many thousand real images")
    ap.add_argument("--hours", type=float, default=None, help="also stop after this many hours (this call)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    ap.add_argument("--config", type=Path, help=f"JSON overrides of {config_name} fields (new runs only)")
    ap.add_argument("--checkpoint-minutes", type=float, default=10)
    ap.add_argument("--sample-minutes", type=float, default=30)
    ap.add_argument("--bench", type=int, default=0, help="time this many iterations and exit")


def bench(trainer, iterations: int, batch: int) -> float:
    """Time `iterations` training steps after one warm-up step; print and return seconds per step."""
    trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(iterations):
        trainer.train_step()
    dt = (time.perf_counter() - t0) / iterations
    print(f"{dt*1000:.0f} ms/iter, {batch/dt:.1f} img/s, {batch/dt*3.6:.0f} kimg/hour", flush=True)
    return dt
