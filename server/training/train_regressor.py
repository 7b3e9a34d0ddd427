"""Train a latent regressor for a generator (after latent-composition, Chai et al. 2021).

    python -m server.training.train_regressor --model server/models/embedded --run runs/regressor64

The regressor sees `cat([image * mask, mask])` and predicts W+ as offsets from w_avg. It is trained
only on generator samples (W+ from style-mixed z, constant noise) with random blob masks; the loss is
latent MSE + pixel MSE of G(prediction) against the sample + a perceptual term on discriminator
features. Resumable like the GAN trainer: run the same command again to continue.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from server.models import load_model
from server.models.regressor import LatentRegressor, build_regressor, regressor_config
from server.training.masks import random_masks
from server.training.runs import CheckpointedTrainer, pick_device, run_config, train_loop
from server.training.grids import save_grid
from server.training.train_gan import style_mixed_ws


@dataclass
class RegressorConfig:
    block_counts: list = field(default_factory=lambda: [2, 2, 2, 2])
    widths: list = field(default_factory=lambda: [32, 64, 128, 256])
    batch: int = 16
    lr: float = 1e-3
    iterations: int = 20_000
    latent_weight: float = 1.0
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.5
    style_mixing_prob: float = 0.5
    full_mask_fraction: float = 0.2
    seed: int = 0


def feature_distance(d, pred: torch.Tensor, target_feats: list[torch.Tensor]) -> torch.Tensor:
    """Mean over D blocks of the squared feature difference, normalised by the target's energy."""
    total = pred.new_zeros(())
    for fp, ft in zip(d.features(pred), target_feats):
        total = total + (fp - ft).square().mean() / (ft.square().mean() + 1e-8)
    return total / len(target_feats)


class RegressorTrainer(CheckpointedTrainer):
    NETWORKS, OPTIMIZERS, COUNTERS = ("R",), ("opt",), ("step", "wall_seconds")

    def __init__(self, cfg: RegressorConfig, model: dict, run_dir: Path, device: torch.device):
        self.start(cfg, run_dir, device)
        self.G = model.generator.to(device).requires_grad_(False)
        self.D = model.discriminator.to(device).requires_grad_(False) if model.discriminator else None
        torch.manual_seed(cfg.seed)
        self.R = LatentRegressor(num_ws=self.G.num_ws, w_dim=self.G.w_dim, block_counts=cfg.block_counts,
                                 widths=cfg.widths, input_size=self.G.resolution, has_w_avg=True).to(device)
        self.R.set_w_avg(self.G.w_avg)
        self.R.train()
        self.opt = torch.optim.Adam(self.R.parameters(), lr=cfg.lr)

    def lr_at(self, step: int) -> float:
        """Short warm-up, then cosine decay to 5% of the peak."""
        warm = 500
        if step < warm:
            return self.cfg.lr * (step + 1) / warm
        t = (step - warm) / max(1, self.cfg.iterations - warm)
        return self.cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    @torch.no_grad()
    def samples(self, n: int):
        z = torch.randn(n, self.G.z_dim, generator=self.gen).to(self.device)
        ws = style_mixed_ws(self.G, z, self.cfg.style_mixing_prob, self.gen)
        img = self.G.synthesis(ws, noise_mode="const").clamp(-1, 1)
        mask = random_masks(n, self.G.resolution, self.gen, self.cfg.full_mask_fraction).to(self.device)
        return ws, img, mask

    def train_step(self) -> dict:
        cfg = self.cfg
        ws, img, mask = self.samples(cfg.batch)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        pred_ws = self.R(img * mask, mask)
        loss_latent = (pred_ws - ws).square().mean()
        recon = self.G.synthesis(pred_ws, noise_mode="const")
        loss_pixel = (recon - img).square().mean()
        loss = cfg.latent_weight * loss_latent + cfg.pixel_weight * loss_pixel
        logs = {"latent": loss_latent.item(), "pixel": loss_pixel.item()}
        if self.D is not None and cfg.perceptual_weight:
            with torch.no_grad():
                target_feats = self.D.features(img)
            loss_perc = feature_distance(self.D, recon, target_feats)
            loss = loss + cfg.perceptual_weight * loss_perc
            logs["perceptual"] = loss_perc.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        logs["loss"] = loss.item()
        return logs

    @torch.no_grad()
    def save_reconstructions(self, path: Path, n: int = 8):
        """Rows: target, masked input, reconstruction."""
        was_training = self.R.training
        self.R.eval()
        gen = torch.Generator().manual_seed(4321)
        z = torch.randn(n, self.G.z_dim, generator=gen).to(self.device)
        img = self.G.synthesis(self.G.mapping(z), noise_mode="const").clamp(-1, 1)
        mask = random_masks(n, self.G.resolution, gen, 0.0).to(self.device)
        recon = self.G.synthesis(self.R(img * mask, mask), noise_mode="const")
        save_grid(torch.cat([img, img * mask, recon]), path, nrow=n)
        self.R.train(was_training)


def load_trained_regressor(run_dir: Path) -> LatentRegressor:
    """The regressor of a training run, in eval mode."""
    st = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    config = json.loads((run_dir / "regressor.json").read_text())
    r = build_regressor(config)
    r.load_state_dict(st["R"])
    return r.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="generator (+ discriminator) to train for: any load_model path")
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--config", type=Path, help="JSON overrides of RegressorConfig (new runs only)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--hours", type=float, default=None)
    ap.add_argument("--checkpoint-minutes", type=float, default=5)
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = run_config(args.run, RegressorConfig, args.config)
    trainer = RegressorTrainer(cfg, load_model(args.model), args.run, pick_device(args.device))
    (args.run / "regressor.json").write_text(json.dumps(regressor_config(trainer.R), indent=2))
    resumed = trainer.try_resume()
    print(f"{'resumed at step ' + str(trainer.step) if resumed else 'new run'}; "
          f"R {sum(p.numel() for p in trainer.R.parameters()) / 1e6:.2f}M params", flush=True)

    def reconstructions():
        trainer.save_reconstructions(args.run / f"recon_{trainer.step:06d}.png")

    train_loop(trainer, lambda: trainer.step >= cfg.iterations, args.run / "log.jsonl", log_every=100,
               hours=args.hours, checkpoint_minutes=args.checkpoint_minutes, periodic=[(20, reconstructions)],
               progress=lambda: {"lr": trainer.lr_at(trainer.step)})
    reconstructions()
    print(f"stopped at step {trainer.step}", flush=True)


if __name__ == "__main__":
    main()
