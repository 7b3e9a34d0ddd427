"""Train the embedded StyleGAN2 on rendered portraits (resumable; CPU or CUDA).

    python -m server.training.train_gan --run runs/portraits64 --kimg 2000

Non-saturating logistic loss, lazy R1 on reals, EMA generator, style mixing. Everything needed to
resume (networks, optimizers, RNG states, progress) is checkpointed atomically into the run folder;
running the same command again continues from the newest checkpoint.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from server.models.discriminator import Discriminator, DiscriminatorConfig
from server.models.generator import Generator, GeneratorConfig
from server.training.dataset import load_or_render_dataset
from server.training.grids import save_grid
from server.training.runs import load_checkpoint, pick_device, run_config, save_atomic, train_loop


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


def style_mixed_ws(g: Generator, z: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Map z; with probability `prob` switch to a second z's w from a random layer on."""
    ws = g.mapping(z)
    if prob <= 0:
        return ws
    n = z.shape[0]
    z2 = torch.randn(z.shape, generator=gen).to(z.device)
    ws2 = g.mapping(z2)
    cut = torch.randint(1, g.num_ws, (n,), generator=gen)
    mix = torch.rand(n, generator=gen) < prob
    cut = torch.where(mix, cut, torch.full_like(cut, g.num_ws)).to(z.device)
    layer = torch.arange(g.num_ws, device=z.device)[None, :, None]
    return torch.where(layer < cut[:, None, None], ws, ws2)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, device: torch.device):
        self.cfg, self.run_dir, self.device = cfg, run_dir, device
        torch.manual_seed(cfg.seed)
        self.G = Generator(cfg.generator_config()).to(device)
        self.D = Discriminator(cfg.discriminator_config()).to(device)
        self.G_ema = Generator(cfg.generator_config()).to(device).eval()
        self.G_ema.load_state_dict(self.G.state_dict())
        self.G_ema.requires_grad_(False)
        r1_ratio = cfg.r1_interval / (cfg.r1_interval + 1)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr * r1_ratio,
                                      betas=(0.0, 0.99 ** r1_ratio), eps=1e-8)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.images_seen = 0
        self.wall_seconds = 0.0
        self.data = None

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict:
        return {"config": asdict(self.cfg), "step": self.step, "images_seen": self.images_seen,
                "wall_seconds": self.wall_seconds,
                "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": self.gen.get_state(), "torch_rng": torch.get_rng_state()}

    def save(self):
        save_atomic(self.state(), self.run_dir / "checkpoint.pt")

    def try_resume(self) -> bool:
        st = load_checkpoint(self.run_dir / "checkpoint.pt", self.device)
        if st is None:
            return False
        for name in ("G", "D", "G_ema"):
            getattr(self, name).load_state_dict(st[name])
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.gen.set_state(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        self.step, self.images_seen, self.wall_seconds = st["step"], st["images_seen"], st["wall_seconds"]
        return True

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
        idx = torch.randint(len(self.data), (self.cfg.batch,), generator=self.gen)
        x = torch.from_numpy(self.data[idx.numpy()]).to(self.device).permute(0, 3, 1, 2).float()
        x = x / 127.5 - 1.0
        if self.cfg.xflip:
            flip = torch.rand(self.cfg.batch, generator=self.gen) < 0.5
            x = torch.where(flip.to(self.device)[:, None, None, None], x.flip(3), x)
        return x

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
        real.requires_grad_(do_r1)
        real_logits = self.D(real)
        loss_d = F.softplus(self.D(fake)).mean() + F.softplus(-real_logits).mean()
        if do_r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            loss_d = loss_d + r1 * (cfg.r1_gamma / 2) * cfg.r1_interval
            logs["r1"] = r1.item()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        logs["loss_d"] = loss_d.item()
        logs["real_score"] = real_logits.mean().item()
        self.update_ema()
        self.step += 1
        self.images_seen += cfg.batch
        return logs

    @torch.no_grad()
    def update_ema(self):
        cfg = self.cfg
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.images_seen * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

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
    ap.add_argument("--run", type=Path, required=True, help="run folder (checkpoints, logs, samples)")
    ap.add_argument("--kimg", type=float, default=2000, help="stop after this many thousand real images")
    ap.add_argument("--hours", type=float, default=None, help="also stop after this many hours (this call)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    ap.add_argument("--config", type=Path, help="JSON overrides of TrainConfig fields (new runs only)")
    ap.add_argument("--checkpoint-minutes", type=float, default=10)
    ap.add_argument("--sample-minutes", type=float, default=30)
    ap.add_argument("--init-from", help="with no checkpoint in --run, warm-start from this shipped model")
    ap.add_argument("--bench", type=int, default=0, help="time this many iterations and exit")
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
        trainer.train_step()
        t0 = time.perf_counter()
        for _ in range(args.bench):
            trainer.train_step()
        dt = (time.perf_counter() - t0) / args.bench
        print(f"{dt*1000:.0f} ms/iter, {cfg.batch/dt:.1f} img/s, {cfg.batch/dt*3.6:.0f} kimg/hour")
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
