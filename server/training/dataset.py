"""The rendered training set: the first `count` training seeds at one resolution, cached as .npy."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from server.training.portraits import TRAIN_SEEDS, render_batch


def load_or_render_dataset(cache_dir: Path, resolution: int, count: int, workers: int = 2) -> np.ndarray:
    """uint8 [count, R, R, 3] of portraits for seeds TRAIN_SEEDS[:count]; rendered once, then memory-mapped."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"portraits_{resolution}px_{count}.npy"
    if not path.exists():
        seeds = TRAIN_SEEDS[:count]
        images = render_batch(seeds, size=resolution, workers=workers)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, images)
        os.replace(tmp, path)
    return np.load(path, mmap_mode="r")
