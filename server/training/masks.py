"""Random visibility masks for regressor training (after latent-composition, Chai et al. 2021).

A 6x6 grid of U(0, 1) values is bilinearly up-sampled to the image size and thresholded at a
cutoff drawn from U(0.3, 1.0): pixels below the cutoff are visible, so roughly 30-100% of the image
shows, in blobs. A fraction of the masks is all ones (the whole image visible).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

GRID = 6
CUTOFF_RANGE = (0.3, 1.0)


def random_masks(n: int, size: int, gen: torch.Generator, full_fraction: float = 0.2) -> torch.Tensor:
    """float32 [n, 1, size, size] in {0, 1}, 1 = visible."""
    grid = torch.rand(n, 1, GRID, GRID, generator=gen)
    field = F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)
    lo, hi = CUTOFF_RANGE
    cutoff = lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=gen)
    masks = (field < cutoff).float()
    full = torch.rand(n, generator=gen) < full_fraction
    masks[full] = 1.0
    return masks


def masks_with_fraction(n: int, size: int, fraction: float | torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Blob masks like `random_masks`, each thresholded at its own quantile so that `fraction` of the
    pixels (up to ties) is visible: one fraction for all, or one per mask ([n] tensor)."""
    if not isinstance(fraction, torch.Tensor) and fraction >= 1.0:
        return torch.ones(n, 1, size, size)
    grid = torch.rand(n, 1, GRID, GRID, generator=gen)
    field = F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)
    if not isinstance(fraction, torch.Tensor):
        cutoff = torch.quantile(field.reshape(n, -1), fraction, dim=1).reshape(n, 1, 1, 1)
        return (field < cutoff).float()
    ranks = field.reshape(n, -1).argsort(dim=1).argsort(dim=1)  # each pixel's rank in its own mask
    visible = ranks < (fraction.reshape(n, 1) * size * size).round()
    return visible.reshape(n, 1, size, size).float()
