"""The rendered training set: the first `count` training seeds at one resolution, cached as .npy.

    python -m server.training.dataset [--dir runs/datasets] [--resolution 64] [--count 50000]

renders it ahead of time (the GAN trainers do so on first use) and prints its path: the embedded
model's regressor trains on it with `train_regressor --images PATH`.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from server.training.portraits import TRAIN_SEEDS, render_batch


def dataset_path(cache_dir: Path, resolution: int, count: int) -> Path:
    return cache_dir / f"portraits_{resolution}px_{count}.npy"


def load_or_render_dataset(cache_dir: Path, resolution: int, count: int, workers: int = 2) -> np.ndarray:
    """uint8 [count, R, R, 3] of portraits for seeds TRAIN_SEEDS[:count]; rendered once, then memory-mapped."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = dataset_path(cache_dir, resolution, count)
    if not path.exists():
        seeds = TRAIN_SEEDS[:count]
        images = render_batch(seeds, size=resolution, workers=workers)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, images)
        os.replace(tmp, path)
    return np.load(path, mmap_mode="r")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m server.training.dataset", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path("runs/datasets"))
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--count", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    images = load_or_render_dataset(args.dir, args.resolution, args.count, args.workers)
    print(f"{dataset_path(args.dir, args.resolution, args.count)}: {len(images)} images")


if __name__ == "__main__":
    main()
