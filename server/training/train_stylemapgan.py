"""Train the embedded StyleMapGAN (generator, encoder, discriminator jointly) on rendered portraits.

    python -m server.training.train_stylemapgan --run runs/stylemapgan64 \
        --config server/training/configs/portraits64-stylemapgan.json --kimg 300 [--hours H] [--threads T]
    python -m server.training.train_stylemapgan --run runs/stylemapgan64 --bench 10     # ms/iteration
    python -m server.training.train_stylemapgan --run runs/stylemapgan64 --ship OUT     # model folder

One iteration follows the official naver-ai/StyleMapGAN `train.py` (Kim et al., CVPR 2021), in its order:

1. G: non-saturating adversarial loss on G(w), w = mapping(z).
2. E: stylemap reconstruction of those generated samples, ||E(G(w)) - w||^2 (w and the image detached).
3. D: logistic loss on reals vs fresh fakes, plus the reconstructions of the reals G(E(x)) as fakes (the
   domain-guided / "in-domain" D term), plus lazy R1 on reals every `r1_interval` steps (added to the
   same D step, as `train_gan` does; the official code takes a separate optimizer step for it).
4. E and G together: image reconstruction of the reals x_rec = G(E(x)): MSE + perceptual + the
   encoder's domain-guided adversarial term softplus(-D(x_rec)).
Then EMA of G and E.

**Perceptual term.** The paper uses LPIPS-VGG16; its ImageNet weights cannot be downloaded here, so the
perceptual term is the distance between the (current) discriminator's block activations, each
position's feature vector scaled to unit length as LPIPS does: exactly
`server.engine.losses.DiscriminatorLoss(D)` with a full mask, computed from the same D pass as the
adversarial term. D keeps training, so this "perceptual" space moves with it.

**Collage inputs** (the project's addition): half of each batch's reals (`collage_fraction`) reach E in
stage 4 as collages (`collage_inputs`: holes to fill, part-sized pieces of another real pasted on,
flat painted strokes), to be reconstructed as the whole real (holes) or as the collage itself (pieces,
strokes). Those reconstructions train E only (their gradient is kept from G, so that G keeps drawing
portraits, not collages) and count as fakes for the domain-guided D term like the others. The image
reconstruction weighs 10 (official: 1).

Other departures: the EMA half-life is `ema_kimg` thousand images with the project's ramp-up (the
official decay 0.999 per step of 16 images is a half-life of about 11 kimg); R1's gamma is the
project's 64 px value, not the official 256 px one (10); the mapping network is shallower than the
official 8 layers; the resizer outputs (stylecodes) are narrower than the official generator's (see
`stylecode_channels`). The D of stage 3 reuses stage 4's x_rec (E and G do not change in between, so
the values are those of the official second forward pass).

The default (= `configs/portraits64-stylemapgan.json`) is a 16x16x32 stylemap: in a pilot on this
2-core CPU it reconstructed held-out renders better per iteration and per hour than an 8x8x64 one of
similar widths, and each iteration is cheaper (the generator and encoder start at 16 px).

Resumable like `train_gan`: everything (networks, EMAs, optimizers, RNG states, progress) is
checkpointed atomically into the run folder; Ctrl-C / SIGTERM saves; rerunning the same command
continues. Samples and held-out reconstructions (EMA networks) are written periodically, with the
reconstruction PSNR appended to `eval.jsonl`.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from server.models.discriminator import Discriminator, DiscriminatorConfig
from server.models.stylemapgan import StyleMapConfig, StyleMapEncoder, StyleMapEncoderConfig, StyleMapGenerator
from server.training.adversarial import add_training_arguments, bench, d_logistic_loss, ema_beta, real_batch, update_ema
from server.training.collage_inputs import KINDS, collage_batch
from server.training.dataset import load_or_render_dataset
from server.training.grids import save_grid
from server.training.runs import CheckpointedTrainer, pick_device, run_config, train_loop

HELDOUT_COUNT = 64  # held-out renders whose reconstruction PSNR is tracked


@dataclass
class StyleMapTrainConfig:
    resolution: int = 64
    latent_channels: int = 32  # C: z and stylemap channels
    latent_size: int = 16  # L: the stylemap is C x L x L
    mapping_layers: int = 4
    mapping_lr_mul: float = 0.01
    normalize_mode: str = "LayerNorm"
    # Feature widths per resolution; the generator's and the encoder's from L up, the D's from 4 up.
    g_channels: dict = field(default_factory=lambda: {16: 128, 32: 64, 64: 32})
    # Widths of the resizer outputs (the per-layer stylemaps). The official generator uses g_channels
    # (None here), its "small" variant C everywhere; narrower ones cut the cost of the per-pixel
    # gamma/beta 3x3 convs, which otherwise dominate the generator (3x cheaper at 64 px).
    stylecode_channels: dict | None = field(default_factory=lambda: {16: 32, 32: 16, 64: 8})
    e_channels: dict = field(default_factory=lambda: {16: 128, 32: 64, 64: 32})
    d_channels: dict = field(default_factory=lambda: {4: 128, 8: 128, 16: 128, 32: 64, 64: 32})
    batch: int = 16
    lr: float = 0.002
    r1_gamma: float = 0.05
    r1_interval: int = 16
    # The official train.py's lambdas are all 1; image reconstruction weighs 10 here (a pilot: +0.5 dB
    # held-out reconstruction in 100 steps against +0.0 at 1, with the samples no worse by eye).
    adv_weight: float = 1.0
    w_rec_weight: float = 1.0
    indomain_d_weight: float = 1.0
    x_rec_weight: float = 10.0
    perceptual_weight: float = 1.0
    indomain_e_weight: float = 1.0
    # The project's addition: this fraction of each batch's reals reaches E as a collage
    # (`collage_inputs`: holes, pasted pieces, painted strokes); their reconstructions train E only.
    collage_fraction: float = 0.5
    collage_kinds: list = field(default_factory=lambda: list(KINDS))
    ema_kimg: float = 5.0
    ema_rampup: float = 0.05
    dataset_size: int = 50_000
    xflip: bool = True
    seed: int = 0

    def _from_latent(self, channels: dict) -> dict[int, int]:
        return {int(r): int(c) for r, c in channels.items() if int(r) >= self.latent_size}

    def generator_config(self) -> StyleMapConfig:
        g = self._from_latent(self.g_channels)
        return StyleMapConfig(resolution=self.resolution, latent_channels=self.latent_channels,
                              latent_size=self.latent_size, channels=g,
                              stylecode_channels=self._from_latent(self.stylecode_channels or g),
                              mapping_layers=self.mapping_layers, mapping_lr_mul=self.mapping_lr_mul,
                              normalize_mode=self.normalize_mode)

    def encoder_config(self) -> StyleMapEncoderConfig:
        return StyleMapEncoderConfig(resolution=self.resolution, latent_channels=self.latent_channels,
                                     latent_size=self.latent_size, channels=self._from_latent(self.e_channels))

    def discriminator_config(self) -> DiscriminatorConfig:
        return DiscriminatorConfig(resolution=self.resolution, channels=self.d_channels)


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f * (f.square().sum(dim=1, keepdim=True) + 1e-10).rsqrt()


def feature_distance(pred_feats: list[torch.Tensor], target_feats: list[torch.Tensor]) -> torch.Tensor:
    """Per image [N]: the mean over layers of the mean over positions of the squared distance between
    unit-length feature vectors (`DiscriminatorLoss(D)(pred, target, full mask)` from precomputed
    features, image by image)."""
    return sum((_unit(p) - _unit(t)).square().sum(dim=1).mean(dim=(1, 2))
               for p, t in zip(pred_feats, target_feats)) / len(target_feats)


class StyleMapTrainer(CheckpointedTrainer):
    NETWORKS = ("G", "E", "D", "G_ema", "E_ema")
    OPTIMIZERS = ("opt_g", "opt_e", "opt_d")

    def __init__(self, cfg: StyleMapTrainConfig, run_dir: Path, device: torch.device):
        self.start(cfg, run_dir, device)
        torch.manual_seed(cfg.seed)
        self.G = StyleMapGenerator(cfg.generator_config()).to(device)
        self.E = StyleMapEncoder(cfg.encoder_config()).to(device)
        self.D = Discriminator(cfg.discriminator_config()).to(device)
        self.G_ema = StyleMapGenerator(cfg.generator_config()).to(device).eval()
        self.E_ema = StyleMapEncoder(cfg.encoder_config()).to(device).eval()
        for ema, net in ((self.G_ema, self.G), (self.E_ema, self.E)):
            ema.load_state_dict(net.state_dict())
            ema.requires_grad_(False)
        self.opt_g = self.adam(self.G.parameters(), cfg.lr)
        self.opt_e = self.adam(self.E.parameters(), cfg.lr)
        self.opt_d = self.lazy_r1_adam(self.D.parameters(), cfg.lr, cfg.r1_interval)
        self._heldout = None

    # -- one iteration -------------------------------------------------------------------------
    def z(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch, self.cfg.latent_channels, generator=self.gen).to(self.device)

    def train_step(self) -> dict:
        cfg, G, E, D = self.cfg, self.G, self.E, self.D
        logs = {}
        # 1. G: non-saturating adversarial loss on samples from z.
        G.requires_grad_(True)
        D.requires_grad_(False)
        w = G.mapping(self.z())
        fake = G.synthesis(w)
        loss_adv = F.softplus(-D(fake)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        (loss_adv * cfg.adv_weight).backward()
        self.opt_g.step()
        logs["g_adv"] = loss_adv.item()
        # 2. E: stylemap reconstruction of those samples (E alone learns from it).
        loss_w_rec = (E(fake.detach()) - w.detach()).square().mean()
        self.opt_e.zero_grad(set_to_none=True)
        (loss_w_rec * cfg.w_rec_weight).backward()
        self.opt_e.step()
        logs["w_rec"] = loss_w_rec.item()
        # 3. D: reals vs fresh fakes, plus reconstructions of the reals as fakes; lazy R1.
        real = self.real_batch()
        with torch.no_grad():
            fake = G(self.z())
        e_input, e_target, clean = self.encoder_inputs(real)
        x_rec = G.synthesis(E(e_input))  # kept with its graph for stage 4 (E and G do not change before it)
        D.requires_grad_(True)
        do_r1 = cfg.r1_gamma > 0 and self.step % cfg.r1_interval == 0
        loss_d, real_logits, r1_logs = d_logistic_loss(D, real, [fake], cfg.r1_gamma, cfg.r1_interval, do_r1)
        loss_indomain_d = F.softplus(D(x_rec.detach())).mean()
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + loss_indomain_d * cfg.indomain_d_weight).backward()
        self.opt_d.step()
        D.requires_grad_(False)
        logs.update(r1_logs)
        logs.update(d=loss_d.item(), d_indomain=loss_indomain_d.item(), real_score=real_logits.mean().item())
        # 4. E and G: image reconstruction (pixels, D features, domain-guided adversarial), image by
        # image; G learns from the clean reals only, so that it keeps rendering portraits, not collages.
        pixel = (x_rec - e_target).square().mean(dim=(1, 2, 3))
        feats = D.features(x_rec)
        with torch.no_grad():
            target_feats = D.features(e_target)
        perceptual = feature_distance(feats, target_feats)
        indomain_e = F.softplus(-D.b4(feats[-1], None)).flatten()
        per_image = (pixel * cfg.x_rec_weight + perceptual * cfg.perceptual_weight
                     + indomain_e * cfg.indomain_e_weight) / len(real)
        self.opt_e.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        if clean < len(real):
            per_image[clean:].sum().backward(inputs=list(E.parameters()), retain_graph=True)
            logs["x_rec_collage"] = pixel[clean:].mean().item()
        per_image[:clean].sum().backward()
        self.opt_e.step()
        self.opt_g.step()
        logs.update(x_rec=pixel[:clean].mean().item(), perceptual=perceptual.mean().item(),
                    e_indomain=indomain_e.mean().item())
        self.update_ema()
        self.step += 1
        self.images_seen += cfg.batch
        return logs

    def encoder_inputs(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(E's inputs, their reconstruction targets, how many lead the batch clean): the last
        `collage_fraction` of the reals become collages (`collage_inputs`)."""
        clean = len(real) - round(len(real) * self.cfg.collage_fraction)
        if clean == len(real):
            return real, real, clean
        col = collage_batch(real[clean:], self.gen, tuple(self.cfg.collage_kinds))
        return torch.cat([real[:clean], col.inputs]), torch.cat([real[:clean], col.targets]), clean

    def real_batch(self) -> torch.Tensor:
        return real_batch(self.data, self.cfg.batch, self.gen, self.device, self.cfg.xflip)

    def update_ema(self):
        cfg = self.cfg
        beta = ema_beta(cfg.batch, self.images_seen, cfg.ema_kimg, cfg.ema_rampup)
        update_ema(self.G_ema, self.G, beta)
        update_ema(self.E_ema, self.E, beta)

    # -- outputs --------------------------------------------------------------------------------
    def heldout(self) -> torch.Tensor:
        """Held-out renders (never trained on) as [-1, 1] NCHW."""
        if self._heldout is None:
            from server.training.collages import heldout_seeds
            from server.training.portraits import render_batch

            images = render_batch(heldout_seeds(HELDOUT_COUNT), size=self.cfg.resolution)
            self._heldout = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return self._heldout.to(self.device)

    @torch.no_grad()
    def heldout_reconstructions(self):
        """Held-out renders x and collages of them (a fixed seeded `collage_batch`), each with its
        G_ema(E_ema(.)) clamped to [-1, 1]: (x, x's reconstructions, the collages, theirs)."""
        x = self.heldout()
        col = collage_batch(x, torch.Generator().manual_seed(99))
        rec = self.G_ema.synthesis(self.E_ema(x)).clamp(-1, 1)
        col_rec = self.G_ema.synthesis(self.E_ema(col.inputs)).clamp(-1, 1)
        return x, rec, col, col_rec

    @torch.no_grad()
    def save_samples(self, path: Path, n: int = 32, rows: int = 16) -> float:
        """Grid: `n` samples of G_ema, then held-out renders over their reconstructions, then collages of
        them over theirs, `rows` a row. Returns the reconstruction PSNR on all held-out renders (that
        and the collages', over their covered pixels, are appended to eval.jsonl)."""
        from server.engine.losses import masked_psnr

        gen = torch.Generator().manual_seed(1234)
        z = torch.randn(n, self.cfg.latent_channels, generator=gen).to(self.device)
        samples = self.G_ema(z)
        x, rec, col, col_rec = self.heldout_reconstructions()
        save_grid(torch.cat([samples, x[:rows], rec[:rows], col.inputs[:rows], col_rec[:rows]]), path, nrow=rows)
        psnr = masked_psnr(rec, x, torch.ones_like(x[:, :1]))
        collage_psnr = masked_psnr(col_rec, col.targets, col.visible)
        line = json.dumps({"step": self.step, "kimg": self.images_seen / 1000,
                           "wall_h": round(self.wall_seconds / 3600, 4), "heldout_recon_psnr": round(psnr, 3),
                           "heldout_collage_psnr": round(collage_psnr, 3)})
        with open(self.run_dir / "eval.jsonl", "a") as f:
            f.write(line + "\n")
        print(line, flush=True)
        return psnr


def load_stylemap_run(run_dir: Path, w_avg_samples: int = 10_000):
    """(G_ema with its mean stylemap estimated, E_ema, D, training info) of a run, in eval mode."""
    st = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = StyleMapTrainConfig(**st["config"])
    g = StyleMapGenerator(cfg.generator_config())
    g.load_state_dict(st["G_ema"])
    g.mapping.w_avg.copy_(g.estimate_w_avg(w_avg_samples, seed=0))
    e = StyleMapEncoder(cfg.encoder_config())
    e.load_state_dict(st["E_ema"])
    d = Discriminator(cfg.discriminator_config())
    d.load_state_dict(st["D"])
    info = {"config": st["config"], "iterations": st["step"], "kimg": st["images_seen"] / 1000,
            "wall_hours": round(st["wall_seconds"] / 3600, 2)}
    return g.eval(), e.eval(), d.eval(), info


def ship(run_dir: Path, out: Path, name: str = "portraits-stylemap-64", notes: list[str] | None = None,
         hardware: str | None = None) -> dict:
    """Write the run's EMA generator and encoder and its D as a float16 model folder; return the card."""
    from server.models.own_format import save_model
    from server.training.ship import hardware as this_hardware

    g, e, d, info = load_stylemap_run(run_dir)
    training = {"stylemapgan": info, "hardware": hardware or this_hardware(),
                "dataset": {"renderer": "server.training.portraits",
                            "seeds": f"TRAIN_SEEDS[:{info['config']['dataset_size']}]",
                            "held_out": "HELDOUT_SEEDS (never trained on)"},
                "perceptual_loss": "unit-normalised discriminator features (no LPIPS-VGG: no ImageNet weights)"}
    return save_model(
        out, g, d, e, name=name,
        description="GAN Collage's embedded StyleMapGAN: illustrated portraits at 64x64 with a spatial "
                    "stylemap latent and its encoder, trained by the project on its own procedural renderer",
        source={"format": "gan-collage-training", "w_avg": "mean of mapping(z) over 10000 z (torch seed 0)"},
        notes=notes, extra={"training": training}, dtype=torch.float16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(ap, "StyleMapTrainConfig")
    ap.add_argument("--log-every", type=int, default=50, help="log a line every this many iterations")
    ap.add_argument("--ship", type=Path, metavar="OUT_DIR",
                    help="write the run's EMA G + E and D as a float16 model folder and exit")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.ship:
        card = ship(args.run, args.ship)
        print(json.dumps({k: card.get(k) for k in ("name", "resolution", "weights")}, indent=2))
        return
    device = pick_device(args.device)
    cfg = run_config(args.run, StyleMapTrainConfig, args.config, write=not args.bench)
    trainer = StyleMapTrainer(cfg, args.run, device)
    resumed = trainer.try_resume()
    t0 = time.perf_counter()
    trainer.data = load_or_render_dataset(args.run.parent / "datasets", cfg.resolution, cfg.dataset_size)
    load_s = time.perf_counter() - t0
    params = {k: sum(p.numel() for p in getattr(trainer, k).parameters()) / 1e6 for k in ("G", "E", "D")}
    print(f"{'resumed at step ' + str(trainer.step) if resumed else 'new run'}; device {device}; "
          f"{torch.get_num_threads()} threads; dataset {len(trainer.data)} images ({load_s:.0f} s); "
          + ", ".join(f"{k} {v:.2f}M params" for k, v in params.items()), flush=True)

    if args.bench:
        bench(trainer, args.bench, cfg.batch)
        return

    start_time, start_images = time.time(), trainer.images_seen
    target = args.kimg * 1000

    def progress() -> dict:
        elapsed = time.time() - start_time
        rate = (trainer.images_seen - start_images) / max(elapsed, 1e-9)  # images/s in this call
        left = (target - trainer.images_seen) / rate if rate > 0 else float("inf")
        if args.hours:
            left = min(left, args.hours * 3600 - elapsed)
        return {"kimg": trainer.images_seen / 1000, "kimg_h": round(rate * 3.6, 1),
                "eta_h": round(max(left, 0) / 3600, 3)}

    def samples():
        trainer.save_samples(args.run / f"samples_{trainer.images_seen // 1000:06d}k.png")

    train_loop(trainer, lambda: trainer.images_seen >= target, args.run / "log.jsonl",
               log_every=args.log_every, hours=args.hours, checkpoint_minutes=args.checkpoint_minutes,
               periodic=[(args.sample_minutes, samples)], progress=progress)
    samples()
    print(f"stopped at step {trainer.step}, {trainer.images_seen / 1000:.1f} kimg", flush=True)


if __name__ == "__main__":
    main()
