"""Procedural illustrated portraits: the training set of the embedded StyleGAN2.

Each portrait is assembled from independent parts (face shape and skin, hair, eyes, brows, nose,
mouth, glasses, hat, earrings, clothes, background) whose choices `sample_params` draws from
`numpy.random.default_rng(seed)` (server/training/portrait_params.py), so an integer seed fully
determines the image. The parts are painted in normalised, FFHQ-aligned coordinates
(server/training/portrait_canvas.py; portrait_parts.py orders the painters of portrait_hair.py,
portrait_face.py and portrait_wear.py) at `size * supersample` pixels and box-downsampled, which
anti-aliases every edge.

    python -m server.training.portraits grid OUT.png [--size 64] [--n 64] [--seed-start S]
"""
from __future__ import annotations

import argparse
from functools import partial
from multiprocessing import Pool
from typing import Iterable

import numpy as np
from PIL import Image

from server.training.grids import make_grid
from server.training.portrait_canvas import PARTS, _Canvas
from server.training.portrait_params import PortraitParams, sample_params
from server.training.portrait_parts import _PART_FNS

TRAIN_SEEDS = range(0, 1_000_000)
HELDOUT_SEEDS = range(1_000_000, 1_010_000)  # evaluation only: never train on these


# ----------------------------------------------------------------------------------------------
# Public API


def render_params(params: PortraitParams, size: int = 64, supersample: int = 4) -> np.ndarray:
    """uint8 (size, size, 3) RGB image of the portrait described by `params`."""
    c = _Canvas(Image.new("RGB", (size * supersample,) * 2))
    for draw in _PART_FNS:
        draw(c, params)
    return np.asarray(c.img.reduce(supersample))


def render_portrait(seed: int, size: int = 64, supersample: int = 4) -> tuple[np.ndarray, PortraitParams]:
    params = sample_params(seed)
    return render_params(params, size, supersample), params


def _render_seed(seed: int, size: int, supersample: int) -> np.ndarray:
    return render_params(sample_params(seed), size, supersample)


def render_batch(seeds: Iterable[int], size: int = 64, supersample: int = 4, workers: int = 1) -> np.ndarray:
    """uint8 (N, size, size, 3) portraits for `seeds`, rendered in `workers` processes."""
    seeds = [int(s) for s in seeds]
    fn = partial(_render_seed, size=size, supersample=supersample)
    if workers > 1 and len(seeds) > 1:
        with Pool(workers) as pool:
            images = pool.map(fn, seeds, chunksize=max(1, min(256, len(seeds) // (4 * workers))))
    else:
        images = [fn(s) for s in seeds]
    return np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)


def part_masks(params: PortraitParams, size: int = 64, supersample: int = 4) -> dict[str, np.ndarray]:
    """Soft uint8 (size, size) coverage of each visible part (names in PARTS), anti-aliased like
    the image: the masks are exclusive and sum to 255 per pixel, up to rounding."""
    c = _Canvas(Image.new("L", (size * supersample,) * 2), labels=True)
    for draw in _PART_FNS:
        draw(c, params)
    blocks = np.asarray(c.img).reshape(size, supersample, size, supersample).transpose(0, 2, 1, 3)
    n = len(PARTS)
    flat = np.arange(size * size)[:, None] * n + blocks.reshape(size * size, -1)
    counts = np.bincount(flat.ravel(), minlength=size * size * n).reshape(size, size, n)
    cover = np.round(counts * (255 / supersample ** 2)).astype(np.uint8)
    return {name: cover[..., i] for i, name in enumerate(PARTS)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    grid = sub.add_parser("grid", help="write a PNG grid of sample portraits")
    grid.add_argument("out")
    grid.add_argument("--size", type=int, default=64)
    grid.add_argument("--n", type=int, default=64)
    grid.add_argument("--seed-start", type=int, default=0)
    grid.add_argument("--supersample", type=int, default=4)
    args = parser.parse_args(argv)
    seeds = range(args.seed_start, args.seed_start + args.n)
    Image.fromarray(make_grid(render_batch(seeds, args.size, args.supersample))).save(args.out)
    print(f"wrote {args.n} portraits ({args.size}px, seeds {seeds.start}..{seeds.stop - 1}) to {args.out}")


if __name__ == "__main__":
    main()
