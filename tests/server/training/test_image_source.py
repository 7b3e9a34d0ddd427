"""`image_source.ImageSource`: the real images `train_regressor --images` trains on, from a folder or a .npy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from server.training.image_source import HELDOUT_MAX, ImageSource, ImagesUnusable, heldout_count
from tests.support.pictures import write_pictures


def test_a_folder_is_cropped_resized_and_split(tmp_path):
    write_pictures(tmp_path, 24)
    (tmp_path / "notes.txt").write_text("not a picture")
    source = ImageSource(tmp_path, 16)
    assert len(source) == 24 and source.heldout == [23] and 23 not in source.train
    images = source.load([0, 5])
    assert images.shape == (2, 3, 16, 16) and images.dtype == torch.float32
    assert -1 <= float(images.min()) and float(images.max()) <= 1
    red = (images[:, 0].mean(dim=(1, 2)) + 1) * 127.5  # sorted names: "000.jpg" lives in more/, sorts last
    assert [round(float(v)) for v in red] == pytest.approx([10, 60], abs=3)
    drawn = source.draw(6, torch.Generator().manual_seed(0))
    assert drawn.shape == (6, 3, 16, 16)


def test_a_picture_that_cannot_be_read_is_replaced_and_remembered(tmp_path):
    write_pictures(tmp_path, 12)
    (tmp_path / "005.png").write_bytes(b"\x89PNG broken")
    source = ImageSource(tmp_path, 8)
    images = source.load(list(range(len(source))))
    assert images.shape == (12, 3, 8, 8) and source.unreadable == [str(tmp_path / "005.png")]
    assert torch.isfinite(images).all()
    assert torch.equal(source.load(list(range(len(source)))), images)  # the same stand-in, remembered once
    assert source.unreadable == [str(tmp_path / "005.png")]


def test_a_npy_is_memory_mapped_and_checked(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "ok.npy", array)
    source = ImageSource(tmp_path / "ok.npy", 8)
    assert len(source.heldout) == 2 and source.heldout == [38, 39]
    assert torch.equal(source.load([3])[0], torch.from_numpy(array[3]).permute(2, 0, 1).float() / 127.5 - 1)
    assert ImageSource(tmp_path / "ok.npy", 4).load([0]).shape == (1, 3, 4, 4)
    np.save(tmp_path / "float.npy", array.astype(np.float32))
    with pytest.raises(ImagesUnusable, match=r"uint8 \[N, S, S, 3\]"):
        ImageSource(tmp_path / "float.npy", 8)
    np.save(tmp_path / "few.npy", array[:3])
    with pytest.raises(ImagesUnusable, match="holds 3 images; training needs at least 8"):
        ImageSource(tmp_path / "few.npy", 8)
    with pytest.raises(ImagesUnusable, match="a folder of pictures"):
        ImageSource(tmp_path / "missing.png", 8)


def test_heldout_count():
    assert [heldout_count(n) for n in (8, 40, 100, 50_000)] == [1, 2, 5, HELDOUT_MAX]
