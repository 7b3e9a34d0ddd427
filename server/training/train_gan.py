"""Train the embedded StyleGAN2 on rendered portraits (resumable; CPU or CUDA).

    python -m server.training.train_gan --run runs/portraits64 --kimg 2000

Non-saturating logistic loss, lazy R1 on reals, EMA generator, style mixing. Everything needed to
resume (networks, optimizers, RNG states, progress) is checkpointed atomically into the run folder;
running the same command again continues from the newest checkpoint.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from server.models.discriminator import Discriminator, DiscriminatorConfig
from server.models.generator import Generator, GeneratorConfig
from server.training.adversarial import add_training_arguments, bench, d_logistic_loss, ema_beta, real_batch, update_ema
from server.training.dataset import load_or_render_dataset
from server.training.grids import save_grid
from server.training.runs import CheckpointedTrainer, pick_device, run_config, train_loop


@dataclass
class TrainConfig:
    resolution: int = 64
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    g_channels: dict = field(default_factory=lambda: {4: 256, 8: 256, 16: 128, 32: 64, 64: 32})
    d_channels: dict = field(default_factory=lambda: {4: 256, 8: 256, 16: 128, 32: 64, 64: 32})
    batch: int = 32
    lr: float = 0.0025
    r1_gamma: float = 0.05
    r1_interval: int = 16
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05
    dataset_size: int = 50_000
    xflip: bool = True
    seed: int = 0

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(resolution=self.resolution, z_dim=self.z_dim, w_dim=self.w_dim,
                               channels=self.g_channels, mapping_layers=self.mapping_layers)

    def discriminator_config(self) -> DiscriminatorConfig:
        return DiscriminatorConfig(resolution=self.resolution, channels=self.d_channels)


def style_mixed_ws(g: Generator, z: torch.Tensor, prob: float, gen: torch.Generator,
                   c: torch.Tensor | None = None) -> torch.Tensor:
    """Map z (with class labels `c` for a conditional g); with probability `prob` switch to a second
    z's w from a random layer on."""
    ws = g.mapping(z, c)
    if prob <= 0:
        return ws
    n = z.shape[0]
    z2 = torch.randn(z.shape, generator=gen).to(z.device)
    ws2 = g.mapping(z2, c)
    cut = torch.randint(1, g.num_ws, (n,), generator=gen)
    mix = torch.rand(n, generator=gen) < prob
    cut = torch.where(mix, cut, torch.full_like(cut, g.num_ws)).to(z.device)
    layer = torch.arange(g.num_ws, device=z.device)[None, :, None]
    return torch.where(layer < cut[:, None, None], ws, ws2)


class Trainer(CheckpointedTrainer):
    NETWORKS = ("G", "D", "G_ema")
    OPTIMIZERS = ("opt_g", "opt_d")

    def __init__(self, cfg: TrainConfig, run_dir: Path, device: torch.device):
        self.start(cfg, run_dir, device)
        torch.manual_seed(cfg.seed)
        self.G = Generator(cfg.generator_config()).to(device)
        self.D = Discriminator(cfg.discriminator_config()).to(device)
        self.G_ema = Generator(cfg.generator_config()).to(device).eval()
        self.G_ema.load_state_dict(self.G.state_dict())
        self.G_ema.requires_grad_(False)
        self.opt_g = self.adam(self.G.parameters(), cfg.lr)
        self.opt_d = self.lazy_r1_adam(self.D.parameters(), cfg.lr, cfg.r1_interval)

    # -- checkpoints (state, save, try_resume: CheckpointedTrainer) ----------------------------
    def init_from_model(self, path: str | Path):
        """Warm start from a shipped model (G and G_ema from its generator, D from its D; fresh Adam)."""
        from server.models import load_model

        model = load_model(path)
        for name in ("G", "G_ema"):
            getattr(self, name).load_state_dict(model.generator.state_dict())
        self.D.load_state_dict(model.discriminator.state_dict())
        gan = model.card.get("training", {}).get("gan", {})
        self.step = gan.get("iterations", 0)
        self.images_seen = int(gan.get("kimg", 0) * 1000)
        self.wall_seconds = gan.get("wall_hours", 0) * 3600

    # -- one iteration -------------------------------------------------------------------------
    def real_batch(self) -> torch.Tensor:
        return real_batch(self.data, self.cfg.batch, self.gen, self.device, self.cfg.xflip)

    def fake_images(self) -> torch.Tensor:
        z = torch.randn(self.cfg.batch, self.cfg.z_dim, generator=self.gen).to(self.device)
        ws = style_mixed_ws(self.G, z, self.cfg.style_mixing_prob, self.gen)
        return self.synthesize(ws)

    def synthesize(self, ws: torch.Tensor) -> torch.Tensor:
        noise = torch.Generator(device=self.device).manual_seed(int(torch.randint(2**31, (1,), generator=self.gen)))
        return self.G.synthesis(ws, noise_mode="random", generator=noise)

    def train_step(self) -> dict:
        cfg = self.cfg
        logs = {}
        # Generator: non-saturating loss.
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        loss_g = F.softplus(-self.D(self.fake_images())).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        logs["loss_g"] = loss_g.item()
        # Discriminator: logistic loss, plus lazy R1 on reals.
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            fake = self.fake_images()
        real = self.real_batch()
        do_r1 = cfg.r1_gamma > 0 and self.step % cfg.r1_interval == 0
        loss_d, real_logits, r1_logs = d_logistic_loss(self.D, real, [fake], cfg.r1_gamma, cfg.r1_interval,
                                                       do_r1)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        logs.update(r1_logs)
        logs["loss_d"] = loss_d.item()
        logs["real_score"] = real_logits.mean().item()
        self.update_ema()
        self.step += 1
        self.images_seen += cfg.batch
        return logs

    def update_ema(self):
        cfg = self.cfg
        update_ema(self.G_ema, self.G, ema_beta(cfg.batch, self.images_seen, cfg.ema_kimg, cfg.ema_rampup))

    # -- outputs --------------------------------------------------------------------------------
    @torch.no_grad()
    def save_samples(self, path: Path, n: int = 64):
        gen = torch.Generator().manual_seed(1234)
        z = torch.randn(n, self.cfg.z_dim, generator=gen).to(self.device)
        self.G_ema.mapping.w_avg.copy_(self.G_ema.estimate_w_avg(2000, seed=0).to(self.device))
        img = self.G_ema(z)
        save_grid(img, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(ap, "TrainConfig")
    ap.add_argument("--init-from", help="with no checkpoint in --run, warm-start from this shipped model")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cfg = run_config(args.run, TrainConfig, args.config, write=not args.bench)
    trainer = Trainer(cfg, args.run, device)
    resumed = trainer.try_resume()
    if not resumed and args.init_from:
        trainer.init_from_model(args.init_from)
        resumed = True
    trainer.data = load_or_render_dataset(args.run.parent / "datasets", cfg.resolution, cfg.dataset_size)
    print(f"{'resumed at step ' + str(trainer.step) if resumed else 'new run'}; device {device}; "
          f"G {sum(p.numel() for p in trainer.G.parameters())/1e6:.2f}M params, "
          f"D {sum(p.numel() for p in trainer.D.parameters())/1e6:.2f}M", flush=True)

    if args.bench:
        bench(trainer, args.bench, cfg.batch)
        return

    def samples():
        trainer.save_samples(args.run / f"samples_{trainer.images_seen // 1000:06d}k.png")

    train_loop(trainer, lambda: trainer.images_seen >= args.kimg * 1000, args.run / "log.jsonl",
               log_every=50, hours=args.hours, checkpoint_minutes=args.checkpoint_minutes,
               periodic=[(args.sample_minutes, samples)], progress=lambda: {"kimg": trainer.images_seen / 1000})
    samples()
    print(f"stopped at step {trainer.step}, {trainer.images_seen / 1000:.0f} kimg", flush=True)


if __name__ == "__main__":
    main()
