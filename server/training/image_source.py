"""Real images for a regressor's training: a folder of pictures or a `.npy` array, at the generator's size.

latent-composition trains its regressor on generator samples only; e4e and pSp train on photos. A
sample carries its latent (so a latent loss), a photo does not, but photos are what an artist's
collage is cut from, and a regressor that only ever saw samples keeps several dB less of them (the
embedded model: `docs/benchmark.md`). So `train_regressor --images` mixes both.

A folder is read lazily, a batch of files a step (any size: centre-cropped to a square, then resized);
a `.npy` holds uint8 [N, H, W, 3] and is memory-mapped. The last `heldout_count(N)` images (by sorted
file name, or array order) are never drawn for training: the held-out evaluation scores them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
MIN_IMAGES = 8
HELDOUT_MAX = 64


class ImagesUnusable(ValueError):
    """`--images` names nothing this module can train on (no such path, too few images, a wrong array)."""


def heldout_count(total: int) -> int:
    """How many of `total` images are kept for the evaluation: 5%, at least 1, at most `HELDOUT_MAX`."""
    return max(1, min(HELDOUT_MAX, total // 20))


def _to_tensor(rgb: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 [H, W, 3] (square) -> float [3, R, R] in [-1, 1], area-resized when its size differs."""
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1)
    if t.shape[-1] != resolution:
        t = F.interpolate(t[None], size=(resolution, resolution), mode="bilinear", antialias=True,
                          align_corners=False)[0]
    return t


def _square(image: Image.Image) -> np.ndarray:
    """The centred square crop of `image` as uint8 RGB."""
    image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)))


class ImageSource:
    """The images under `path` at `resolution` px: `train` and `heldout` index lists, `load(indices)`."""

    def __init__(self, path: Path | str, resolution: int):
        self.path, self.resolution = Path(path), resolution
        self._unreadable: set[int] = set()  # file indices that failed once: never decoded again
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            self.array = None
            total = len(self.files)
        elif self.path.suffix == ".npy" and self.path.is_file():
            self.files = None
            self.array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            if self.array.dtype != np.uint8 or self.array.ndim != 4 or self.array.shape[3] != 3 \
                    or self.array.shape[1] != self.array.shape[2]:
                raise ImagesUnusable(f"{self.path}: a .npy of images must be uint8 [N, S, S, 3], "
                                 f"not {self.array.dtype} {list(self.array.shape)}")
            total = len(self.array)
        else:
            raise ImagesUnusable(f"{self.path}: --images takes a folder of pictures ({', '.join(SUFFIXES)}) "
                             "or a .npy of uint8 [N, S, S, 3]")
        if total < MIN_IMAGES:
            raise ImagesUnusable(f"{self.path} holds {total} images; training needs at least {MIN_IMAGES}")
        held = heldout_count(total)
        self.train, self.heldout = list(range(total - held)), list(range(total - held, total))

    def __len__(self) -> int:
        return len(self.train) + len(self.heldout)

    def describe(self) -> str:
        return f"{len(self)} images in {self.path} ({len(self.heldout)} held out)"

    @property
    def unreadable(self) -> list[str]:
        """The files that could not be read, in name order."""
        return [str(self.files[i]) for i in sorted(self._unreadable)]

    def _read(self, index: int) -> np.ndarray | None:
        if self.array is not None:
            return np.asarray(self.array[index])
        if index in self._unreadable:
            return None
        try:
            with Image.open(self.files[index]) as image:
                return _square(image)
        except (OSError, ValueError, Image.DecompressionBombError):
            self._unreadable.add(index)
            return None

    def load(self, indices: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """float [n, 3, R, R] in [-1, 1]; a file that cannot be read is replaced by the next readable
        one of `train` (and remembered in `unreadable`), so one bad file does not stop a long run."""
        images, fallback = [], iter(self.train)
        for index in indices:
            rgb = self._read(index)
            while rgb is None:
                spare = next(fallback, None)
                if spare is None:
                    raise ImagesUnusable(f"{self.path}: none of its training images can be read")
                rgb = self._read(spare)
            images.append(_to_tensor(rgb, self.resolution))
        return torch.stack(images).to(device)

    def draw(self, n: int, gen: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        """`n` training images drawn uniformly (with replacement) with `gen`."""
        picks = torch.randint(len(self.train), (n,), generator=gen).tolist()
        return self.load([self.train[i] for i in picks], device)
