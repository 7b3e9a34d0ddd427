"""A collage read the StyleMapGAN way: each layer encoded on its own, the stylemaps laid over each other.

StyleMapGAN's demo composes an image from references by copying, at each stylemap cell, the reference's
stylemap wherever the reference's mask covers more than half of the cell (the mask average-pooled to
the stylemap grid, > 0.5). Here the references are the collage's visible layers, bottom to top, each
composed alone onto the region (its coverage is its mask) and encoded with it; later layers overwrite
earlier ones. Cells no layer covers by more than half keep the stylemap of the whole composite,
encoded once, so the encoder's guess fills the holes. All encodings run as one batch.

"composite" mode (compose, then encode once) needs nothing from here. Which mode keeps a collage
better is measured in docs/benchmark.md ("StyleMapGAN collages").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .canvas import Canvas
from .compose import Composite, compose
from .progress import CancelToken

COLLAGE_MODES = ("composite", "layers")
STYLEMAP_COLLAGE = "layers"  # a stylemap model's default (measured: docs/benchmark.md)
CELL_COVERAGE = 0.5  # the demo's rule: a layer takes a cell it covers by more than half


def layer_composites(canvas: Canvas, comp: Composite, resolution: int, device,
                     cancel: CancelToken | None) -> list[Composite]:
    """Each visible layer composed alone onto `comp`'s region (layers that miss the region left out)."""
    alone = []
    for layer in canvas.layers:
        if not layer.visible:
            continue
        single = Canvas(canvas.width, canvas.height, [layer])
        part = compose(single, resolution, region=comp.region, device=device, cancel=cancel)
        if float(part.mask.max()) > 0:
            alone.append(part)
    return alone


@torch.no_grad()
def encode_layers(encoder, comp: Composite, parts: list[Composite], latent_size: int) -> Tensor:
    """[1, C, L, L]: the composite's stylemap with each part's stylemap laid over it, bottom to top,
    on the cells the part covers by more than half. A single part is the composite: one pass."""
    parts = parts if len(parts) > 1 else []
    images = torch.cat([comp.image] + [part.image for part in parts])
    masks = torch.cat([comp.mask] + [part.mask for part in parts])
    stylemaps = encoder(images * masks, masks).float()
    out = stylemaps[:1].clone()
    for index in range(1, len(stylemaps)):
        cells = F.adaptive_avg_pool2d(masks[index:index + 1], latent_size) > CELL_COVERAGE
        out = torch.where(cells, stylemaps[index:index + 1], out)
    return out
