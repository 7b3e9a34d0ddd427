"""Image grids for training and evaluation figures."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from server.engine.pixels import to_uint8_hwc


def make_grid(images: np.ndarray, gap: int = 2, columns: int | None = None) -> np.ndarray:
    """Tile (N, H, W, 3) images, `columns` a row (default: a near-square grid), with white gaps."""
    n, h, w, _ = images.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for i, img in enumerate(images):
        y, x = (gap + (h + gap) * (i // cols), gap + (w + gap) * (i % cols))
        grid[y:y + h, x:x + w] = img
    return grid


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None):
    """[-1, 1] NCHW -> one PNG grid, `nrow` images a row (default: near-square)."""
    Image.fromarray(make_grid(to_uint8_hwc(images), gap=0, columns=nrow)).save(path)
