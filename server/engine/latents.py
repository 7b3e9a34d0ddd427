"""What the engine knows of a latent, for every generator family: its shape, checked; its rows.

A generator states `latent_shape` (`(num_ws, w_dim)` for StyleGAN2's W+, `(C, L, L)` for a StyleMapGAN
stylemap), `latent_kind` ("w_plus" | "stylemap"), `latent_rows` (the latent seen as rows x row_dim:
W+ rows, or one row holding the whole stylemap) and `w_avg`, its mean latent, which broadcasts against a
batch of latents (`[w_dim]` against W+, `[C, L, L]` against stylemaps). Code here and in the rest of the
engine works through these alone; what one family cannot do says so where it is refused.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import InvalidInput

W_PLUS, STYLEMAP = "w_plus", "stylemap"
KIND_WORDS = {W_PLUS: "W+ latent", STYLEMAP: "stylemap"}


def shape_text(shape) -> str:
    return " x ".join(str(int(side)) for side in shape)


def check_latent(g, name: str, latent) -> Tensor:
    """`latent` if it is a finite float batch [N >= 1, *g.latent_shape], else InvalidInput naming `name`."""
    shape = tuple(g.latent_shape)
    if (not isinstance(latent, Tensor) or not latent.is_floating_point() or latent.ndim != len(shape) + 1
            or tuple(latent.shape[1:]) != shape):
        got = tuple(latent.shape) if isinstance(latent, Tensor) else type(latent).__name__
        raise InvalidInput(name, f"must be a float {KIND_WORDS[g.latent_kind]} of shape (N, {shape_text(shape)}) "
                                 f"for this model, got {got}")
    if latent.shape[0] < 1 or not bool(torch.isfinite(latent).all()):
        raise InvalidInput(name, "must be non-empty and finite")
    return latent


def as_rows(g, latent: Tensor) -> Tensor:
    """[N, rows, row_dim]: W+ as it is, a stylemap as one row."""
    return latent.reshape(latent.shape[0], *g.latent_rows)


def mean_latent(g, batch: int) -> Tensor:
    """[batch, *latent_shape] copies of the generator's mean latent, on its device."""
    avg = g.w_avg.detach().float()
    return avg.reshape(1, *([1] * (len(g.latent_shape) - avg.ndim)), *avg.shape).expand(batch, *g.latent_shape)


def truncate(g, latent: Tensor, psi: float) -> Tensor:
    """`latent` pulled toward the mean latent by psi (1: `latent` itself)."""
    if psi == 1:
        return latent
    return mean_latent(g, latent.shape[0]).to(latent).lerp(latent, psi)
