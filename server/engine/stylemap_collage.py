"""A collage read the StyleMapGAN way: each layer encoded on its own, the stylemaps laid over each other.

StyleMapGAN's demo composes an image from references by copying, at each stylemap cell, the reference's
stylemap wherever the reference's mask covers more than half of the cell (the mask average-pooled to
the stylemap grid, > 0.5). Here the references are the collage's visible layers, bottom to top, each
composed alone onto the region (its coverage is its mask) and encoded with it; later layers overwrite
earlier ones. Cells no layer covers by more than half keep the stylemap of the whole composite,
encoded once, so the encoder's guess fills the holes. Only the layers that show in some cell are
encoded (see `layered_stylemap`).

"composite" mode (compose, then encode once) needs nothing from here, and it is the default: on the
project's collage evaluation it kept collages a little better than this mode (docs/benchmark.md,
"StyleMapGAN collages"): an encoder that sees a layer alone sees no context around it.
"""
from __future__ import annotations

from itertools import islice

import torch
import torch.nn.functional as F
from torch import Tensor

from .canvas import Canvas
from .compose import Composite, compose
from .progress import CancelToken

COLLAGE_MODES = ("composite", "layers")  # "composite" is every model's default: measured, docs/benchmark.md
CELL_COVERAGE = 0.5  # the demo's rule: a layer takes a cell it covers by more than half
CHUNK = 8  # layers composed and encoded together: memory stays bounded whatever the layer count


def _alone(canvas: Canvas, comp: Composite, layers, cancel: CancelToken | None):
    """Each of `layers` composed alone onto `comp`'s region, lazily, in order."""
    for layer in layers:
        yield compose(Canvas(canvas.width, canvas.height, [layer]), comp.image.shape[-1], region=comp.region,
                      device=comp.image.device, cancel=cancel)


def _cells(part: Composite, latent_size: int) -> Tensor:
    """bool [1, 1, L, L]: the stylemap cells `part` covers by more than half."""
    return F.adaptive_avg_pool2d(part.mask, latent_size) > CELL_COVERAGE


@torch.no_grad()
def _encode(encoder, parts: list[Composite]) -> Tensor:
    images, masks = torch.cat([p.image for p in parts]), torch.cat([p.mask for p in parts])
    return encoder(images * masks, masks).float()


@torch.no_grad()
def layered_stylemap(encoder, canvas: Canvas, comp: Composite, latent_size: int,
                     cancel: CancelToken | None = None) -> Tensor:
    """[1, C, L, L]: the composite's stylemap with each visible layer's own stylemap laid over it,
    bottom to top, on the cells the layer covers by more than half.

    Only what shows is encoded: a first pass finds each layer's cells (its coverage alone); a layer
    whose every cell a later layer takes is never encoded, nor the composite when the layers take every
    cell; a single visible layer is the composite (one pass). The rest are composed again and encoded
    CHUNK at a time, with a cancel check between chunks, so memory stays bounded whatever the layer count.
    """
    visible = [layer for layer in canvas.layers if layer.visible]
    if len(visible) < 2:
        return _encode(encoder, [comp])  # a single layer is the composite
    owner = torch.full((latent_size, latent_size), -1, dtype=torch.long, device=comp.image.device)
    for index, part in enumerate(_alone(canvas, comp, visible, cancel)):
        owner[_cells(part, latent_size)[0, 0]] = index
    shown = sorted(set(owner.flatten().tolist()) - {-1})
    out = _encode(encoder, [comp]) if bool((owner < 0).any()) else None
    parts = _alone(canvas, comp, [visible[i] for i in shown], cancel)
    indices = iter(shown)
    while chunk := list(islice(parts, CHUNK)):
        if cancel is not None:
            cancel.check()
        for index, stylemap in zip(indices, _encode(encoder, chunk)):
            taken = (owner == index)[None, None]
            out = torch.where(taken, stylemap[None], stylemap[None] if out is None else out)
    return out
