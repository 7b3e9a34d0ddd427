"""One training step of a latent regressor (W+ or StyleMapGAN encoder), after latent-composition
(Chai et al. 2021): the generator and its discriminator are frozen; only the regressor R learns.

**Inputs.** Every image is a generator sample whose latent is known (W+ from style-mixed z, or a
stylemap). Most of the batch are latent-composition's masked samples: blob masks (`masks.random_masks`,
`full_mask_fraction` of them all visible), the target the whole sample. The last `collage_fraction` of
the batch become collages (`collage_inputs.collage_batch`) of `collage_kinds`: holes (the target the
whole sample), pieces of other samples of the batch under part-like ellipses, flat painted strokes (the
target the collage itself: the regressor learns to realise it, not to undo it). The regressor sees
`(input * visible, visible)`; a StyleMapGAN encoder has no mask input and sees the masked input only.

**Losses.** Latent MSE against the sample's latent where the target is the sample (masked and holes
inputs); pixel MSE of G(R(input)) against the target; and, when the checkpoint has a discriminator,
the distance between its unit-length block features of the two (`train_stylemapgan.feature_distance`,
LPIPS's normalisation). No adversarial term: D is frozen, G's outputs are in its domain by
construction, and a frozen critic can be gamed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from server.training.accelerate import autocast, channels_last
from server.training.collage_inputs import KINDS, collage_batch
from server.training.image_source import ImageSource
from server.training.masks import random_masks
from server.training.regressor_nets import sample_latents, wplus_shape
from server.training.runs import CheckpointedTrainer
from server.training.train_stylemapgan import feature_distance


@dataclass
class RegressorConfig:
    # A new W+ regressor's size; None: the rule of `regressor_nets.wplus_shape` for the generator.
    block_counts: list | None = None
    widths: list | None = None
    input_size: int | None = None
    finetune: bool = True  # start from the checkpoint's own regressor when it has one of the right shape
    batch: int = 16
    lr: float = 1e-3
    finetune_lr: float = 1e-4  # the peak learning rate when fine-tuning
    iterations: int = 20_000
    latent_weight: float = 1.0
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.5
    style_mixing_prob: float = 0.5
    full_mask_fraction: float = 0.2
    # This share of each batch becomes collages of these kinds (`collage_inputs.KINDS`); the rest are
    # masked samples. 0 trains as latent-composition does.
    collage_fraction: float = 0.0
    collage_kinds: list = field(default_factory=lambda: list(KINDS))
    # Real images (`image_source.ImageSource`: a folder or a .npy) and the share of each batch drawn from
    # them instead of generator samples; they get the same masks and collages, but no latent loss.
    images: str | None = None
    real_fraction: float = 0.5
    eval_images: int = 64  # held-out samples of the evaluation at the end (`regressor_eval`)
    seed: int = 0

    def __post_init__(self):
        unknown = sorted(set(self.collage_kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown collage kinds {unknown}; known: {', '.join(KINDS)}")
        if not 0.0 <= self.collage_fraction <= 1.0:
            raise ValueError(f"collage_fraction must be between 0 and 1, got {self.collage_fraction}")
        if not 0.0 <= self.real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be between 0 and 1, got {self.real_fraction}")

    def wplus_shape(self, resolution: int) -> dict:
        """A new W+ regressor's size: the rule, with what this config sets in its place."""
        given = {"input_size": self.input_size, "block_counts": self.block_counts, "widths": self.widths}
        return {**wplus_shape(resolution), **{k: v for k, v in given.items() if v is not None}}


@dataclass
class TrainingBatch:
    inputs: Tensor  # [N, 3, H, W], 0 where not visible
    visible: Tensor  # [N, 1, H, W]
    targets: Tensor  # [N, 3, H, W] what G(R(inputs)) should look like
    latents: Tensor  # [N, *latent_shape] the samples' latents
    knows_latent: Tensor  # bool [N]: the target is the sample itself, so `latents` is the answer


class RegressorTrainer(CheckpointedTrainer):
    """R (`regressor`) trained for the frozen generator and discriminator of `model`; `origin` says
    whether R started from the checkpoint's own regressor ("checkpoint") or new ("new"), which picks the
    learning rate. `amp`: bfloat16 autocast (on by default on CUDA)."""

    NETWORKS, OPTIMIZERS, COUNTERS = ("R",), ("opt",), ("step", "images_seen", "wall_seconds")

    def __init__(self, cfg: RegressorConfig, model, regressor: nn.Module, origin: str, run_dir: Path,
                 device: torch.device, amp: bool | None = None):
        self.start(cfg, run_dir, device)
        self.origin = origin
        self.amp = device.type == "cuda" if amp is None else amp
        self.G = model.generator.to(device).eval().requires_grad_(False)
        self.D = model.discriminator
        if self.D is not None:
            self.D = channels_last(self.D.to(device).eval().requires_grad_(False), device)
        self.R = channels_last(regressor.to(device).train().requires_grad_(True), device)
        self.images = ImageSource(cfg.images, self.G.resolution) if cfg.images else None
        self.peak_lr = cfg.finetune_lr if origin == "checkpoint" else cfg.lr
        self.opt = torch.optim.Adam(self.R.parameters(), lr=self.peak_lr)

    def lr_at(self, step: int) -> float:
        """A short warm-up (5% of the run, at most 500 steps), then cosine decay to 5% of the peak."""
        warm = max(1, min(500, self.cfg.iterations // 20))
        if step < warm:
            return self.peak_lr * (step + 1) / warm
        t = (step - warm) / max(1, self.cfg.iterations - warm)
        return self.peak_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    @torch.no_grad()
    def make_batch(self, n: int, gen: torch.Generator) -> TrainingBatch:
        """`n` images: generator samples, and with real images the last `real_fraction` of them real;
        in each group the last `collage_fraction` become collages, the rest masked images."""
        cfg, g = self.cfg, self.G
        real = round(n * cfg.real_fraction) if self.images is not None else 0
        latents = sample_latents(g, n - real, gen, cfg.style_mixing_prob, self.device)
        with autocast(self.device, self.amp):
            samples = g.synthesis(latents, noise_mode="const").float().clamp(-1, 1)
        groups = [self._inputs(samples, gen, known=True)]
        if real:
            groups.append(self._inputs(self.images.draw(real, gen, self.device), gen, known=False))
            latents = torch.cat([latents, latents.new_zeros((real,) + latents.shape[1:])])
        inputs, visible, targets, knows = (torch.cat(parts) for parts in zip(*groups))
        return TrainingBatch(inputs, visible, targets, latents, knows)

    def _inputs(self, images: Tensor, gen: torch.Generator, known: bool) -> tuple[Tensor, ...]:
        """(inputs, visible, targets, knows_latent) of a group of images; `known`: they are samples
        whose latents the batch holds, which masked images and holes keep as their answer."""
        cfg, n = self.cfg, len(images)
        collages = round(n * cfg.collage_fraction) if cfg.collage_kinds else 0
        base = n - collages
        mask = random_masks(base, self.G.resolution, gen, cfg.full_mask_fraction).to(self.device)
        inputs, visible, targets = [images[:base] * mask], [mask], [images[:base]]
        knows = [known] * base
        if collages:
            col = collage_batch(images[base:], gen, tuple(cfg.collage_kinds), others=images.roll(1, 0)[base:])
            inputs.append(col.inputs)
            visible.append(col.visible)
            targets.append(col.targets)
            knows += [known and kind == "holes" for kind in col.kinds]
        return (torch.cat(inputs), torch.cat(visible), torch.cat(targets),
                torch.tensor(knows, dtype=torch.bool, device=self.device))

    def losses(self, b: TrainingBatch) -> tuple[Tensor, dict]:
        cfg = self.cfg
        with autocast(self.device, self.amp):
            pred = self.R(b.inputs, b.visible)
            recon = self.G.synthesis(pred, noise_mode="const")
            feats = self.D.features(recon) if self.D is not None and cfg.perceptual_weight else None
        pred, recon = pred.float(), recon.float()
        loss_pixel = (recon - b.targets).square().mean()
        loss = cfg.pixel_weight * loss_pixel
        logs = {"pixel": loss_pixel.item()}
        if bool(b.knows_latent.any()):
            loss_latent = (pred[b.knows_latent] - b.latents[b.knows_latent]).square().mean()
            loss = loss + cfg.latent_weight * loss_latent
            logs["latent"] = loss_latent.item()
        if feats is not None:
            with torch.no_grad(), autocast(self.device, self.amp):
                target_feats = [f.float() for f in self.D.features(b.targets)]
            loss_perc = feature_distance([f.float() for f in feats], target_feats).mean()
            loss = loss + cfg.perceptual_weight * loss_perc
            logs["perceptual"] = loss_perc.item()
        logs["loss"] = loss.item()
        return loss, logs

    def train_step(self) -> dict:
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        loss, logs = self.losses(self.make_batch(self.cfg.batch, self.gen))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        self.images_seen += self.cfg.batch
        return logs

    def try_batch(self, batch: int) -> None:
        """One forward and backward pass of `batch` images that changes nothing (for `accelerate.fit_batch`):
        its own random draws, no optimizer step, R's batch-norm statistics put back."""
        saved = {k: v.clone() for k, v in self.R.state_dict().items()}
        try:
            loss, _ = self.losses(self.make_batch(batch, torch.Generator().manual_seed(0)))
            loss.backward()
        finally:
            self.R.zero_grad(set_to_none=True)
            self.R.load_state_dict(saved)
