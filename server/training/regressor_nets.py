"""Which network regresses a generator's latent, how big it is, and where its training starts.

A W+ generator (StyleGAN2) gets a :class:`LatentRegressor` (latent-composition's ResNet with an RGBM
input and a W+ head added to w_avg); a StyleMapGAN generator gets its family's :class:`StyleMapEncoder`.
Both are called as `r(image * visible, visible)` and give a latent of the generator's `latent_shape`.

**Size rule for a new W+ regressor** (:func:`wplus_shape`), after the encoders latent-composition
(Chai et al. 2021) published for 256 px and 1024 px generators:

* input side = min(resolution, 256): a 1024 px generator's regressor sees its images area-resized to
  256 px, as latent-composition's FFHQ encoder does. A collage is judged by its layout, colours and
  parts, which 256 px keeps; the ResNet costs 16x less than at 1024 px, and the step is dominated by
  the generator's passes anyway.
* depth 34 (blocks 3, 4, 6, 3) from a 256 px input on, the published encoders' layout (their weights
  then fit it); depth 18 (2, 2, 2, 2) below.
* widths b, 2b, 4b, 8b with b = input side / 2, between 16 and 64: 64..512 at 256 px (the published
  encoders), 32..256 at 64 px (the embedded model's regressor), 16..128 at 32 px.

A new StyleMapGAN encoder (only for a model folder that has none: official checkpoints carry theirs)
takes the generator's own widths, as the official `train.py` builds it.

**Fine-tuning.** When the checkpoint has a regressor of the generator's latent shape (the embedded
model's, a latent-composition encoder exported beside its generator, a StyleMapGAN `e_ema`), training
starts from it with its own architecture, so retraining costs a fraction of a new run.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from server.models.model import Model
from server.models.own_format import BUILDERS, family_of, regressor_json
from server.models.regressor import DEPTH_BLOCK_COUNTS, LatentRegressor
from server.models.stylemapgan import StyleMapEncoder, StyleMapEncoderConfig
from server.training.train_gan import style_mixed_ws

MAX_INPUT = 256


def wplus_shape(resolution: int) -> dict:
    """`input_size`, `block_counts` and `widths` of a new W+ regressor for a generator of `resolution`."""
    side = min(resolution, MAX_INPUT)
    base = min(64, max(16, side // 2))
    depth = 34 if side >= MAX_INPUT else 18
    return {"input_size": side, "block_counts": list(DEPTH_BLOCK_COUNTS[depth]),
            "widths": [base, 2 * base, 4 * base, 8 * base]}


def new_regressor(g, shape: dict | None = None) -> nn.Module:
    """An untrained regressor for `g`: a W+ regressor of `shape` (default :func:`wplus_shape`, keys as
    its), predicting offsets from g's w_avg; or a StyleMapGAN encoder with g's widths."""
    if g.latent_kind == "stylemap":
        c = g.config
        return StyleMapEncoder(StyleMapEncoderConfig(resolution=c.resolution, latent_channels=c.latent_channels,
                                                     latent_size=c.latent_size, channels=dict(c.channels)))
    r = LatentRegressor(num_ws=g.num_ws, w_dim=g.w_dim, has_w_avg=True, **(shape or wplus_shape(g.resolution)))
    r.set_w_avg(g.w_avg.detach().cpu())
    return r


def fits(g, r: nn.Module | None) -> bool:
    """Whether regressor `r` gives `g`'s latents."""
    return r is not None and (r.latent_kind, tuple(r.latent_shape)) == (g.latent_kind, tuple(g.latent_shape))


def starting_regressor(model: Model, finetune: bool, shape: dict | None = None) -> tuple[nn.Module, str]:
    """(the network a new run starts from, where it came from: "checkpoint" or "new")."""
    if finetune and fits(model.generator, model.regressor):
        return model.regressor, "checkpoint"
    return new_regressor(model.generator, shape), "new"


def network_record(g, r: nn.Module) -> dict:
    """What rebuilds `r` (for `g`'s family) when a run resumes: its constructor arguments."""
    return {"family": family_of(g), "config": regressor_json(r)}


def rebuild(record: dict) -> nn.Module:
    """An untrained network from :func:`network_record`'s output (load the weights afterwards)."""
    return BUILDERS[record["family"]]["regressor"](record["config"])


def sample_latents(g, n: int, gen: torch.Generator, mixing_prob: float, device) -> torch.Tensor:
    """`n` latents of `g` from z drawn with `gen` (and uniform class labels for a conditional W+
    generator); W+ latents are style-mixed with probability `mixing_prob`, as in GAN training."""
    z = torch.randn(n, g.z_dim, generator=gen).to(device)
    if g.latent_kind == "stylemap":
        return g.mapping(z)
    c = None
    if g.c_dim:
        c = F.one_hot(torch.randint(g.c_dim, (n,), generator=gen), g.c_dim).float().to(device)
    return style_mixed_ws(g, z, mixing_prob, gen, c)
