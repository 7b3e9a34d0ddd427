"""A collage read the StyleMapGAN way: each layer encoded on its own, the stylemaps laid over each other.

StyleMapGAN's demo composes an image from references by copying, at each stylemap cell, the reference's
stylemap wherever the reference's mask covers more than half of the cell (the mask average-pooled to
the stylemap grid, > 0.5). Here the references are the collage's visible layers, bottom to top, each
composed alone onto the region (its coverage is its mask) and encoded with it; later layers overwrite
earlier ones. Cells no layer covers by more than half keep the stylemap of the whole composite,
encoded once, so the encoder's guess fills the holes.

"composite" mode (compose, then encode once) needs nothing from here. Which mode keeps a collage
better is measured in docs/benchmark.md ("StyleMapGAN collages").
"""
from __future__ import annotations

from itertools import islice

import torch
import torch.nn.functional as F
from torch import Tensor

from .canvas import Canvas
from .compose import Composite, compose
from .progress import CancelToken

COLLAGE_MODES = ("composite", "layers")
STYLEMAP_COLLAGE = "layers"  # a stylemap model's default (measured: docs/benchmark.md)
CELL_COVERAGE = 0.5  # the demo's rule: a layer takes a cell it covers by more than half
CHUNK = 8  # layers composed and encoded together: memory stays bounded whatever the layer count


def _alone(canvas: Canvas, comp: Composite, resolution: int, device, cancel: CancelToken | None):
    """Each visible layer composed alone onto `comp`'s region, bottom to top, lazily (layers that miss
    the region left out)."""
    for layer in canvas.layers:
        if layer.visible:
            part = compose(Canvas(canvas.width, canvas.height, [layer]), resolution, region=comp.region,
                           device=device, cancel=cancel)
            if float(part.mask.max()) > 0:
                yield part


@torch.no_grad()
def _encode(encoder, parts: list[Composite]) -> Tensor:
    images, masks = torch.cat([p.image for p in parts]), torch.cat([p.mask for p in parts])
    return encoder(images * masks, masks).float()


def _laid_over(out: Tensor, parts: list[Composite], stylemaps: Tensor, latent_size: int) -> Tensor:
    for part, stylemap in zip(parts, stylemaps):
        cells = F.adaptive_avg_pool2d(part.mask, latent_size) > CELL_COVERAGE
        out = torch.where(cells, stylemap[None], out)
    return out


@torch.no_grad()
def layered_stylemap(encoder, canvas: Canvas, comp: Composite, latent_size: int,
                     cancel: CancelToken | None = None) -> Tensor:
    """[1, C, L, L]: the composite's stylemap with each visible layer's own stylemap laid over it,
    bottom to top, on the cells the layer covers by more than half. A single layer is the composite:
    one pass. Layers are composed and encoded CHUNK at a time, with a cancel check between chunks."""
    parts = _alone(canvas, comp, comp.image.shape[-1], comp.image.device, cancel)
    first = list(islice(parts, 2))
    if len(first) < 2:
        return _encode(encoder, [comp])
    stylemaps = _encode(encoder, [comp] + first)
    out = _laid_over(stylemaps[:1], first, stylemaps[1:], latent_size)
    while chunk := list(islice(parts, CHUNK)):
        if cancel is not None:
            cancel.check()
        out = _laid_over(out, chunk, _encode(encoder, chunk), latent_size)
    return out
