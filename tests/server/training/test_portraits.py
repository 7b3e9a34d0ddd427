"""Procedural portrait renderer: determinism, variety, seed split, anti-aliasing, part masks."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from server.training.portrait_canvas import PARTS
from server.training.portrait_params import HAIR_STYLES, MOUTHS, PortraitParams, sample_params
from server.training.portraits import (
    HELDOUT_SEEDS,
    TRAIN_SEEDS,
    main,
    part_masks,
    render_batch,
    render_params,
    render_portrait,
)

SEEDS = range(200)


@pytest.fixture(scope="module")
def params() -> list[PortraitParams]:
    return [sample_params(s) for s in SEEDS]


def test_same_seed_gives_identical_bytes():
    a, pa = render_portrait(123)
    b, pb = render_portrait(123)
    assert a.tobytes() == b.tobytes()
    assert pa == pb


def test_different_seeds_differ():
    images = render_batch(range(8))
    flat = images.reshape(len(images), -1)
    assert len({row.tobytes() for row in flat}) == len(images)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shape_and_dtype(size):
    img, params = render_portrait(7, size=size)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert isinstance(params, PortraitParams)


def test_render_params_matches_render_portrait():
    for seed in (0, 5, 99):
        assert np.array_equal(render_params(sample_params(seed)), render_portrait(seed)[0])


def test_render_batch_matches_single_renders_with_and_without_workers():
    seeds = [3, 1, 4, 1, 5]
    expected = np.stack([render_portrait(s)[0] for s in seeds])
    assert render_batch(seeds).dtype == np.uint8
    assert np.array_equal(render_batch(seeds), expected)
    assert np.array_equal(render_batch(seeds, workers=2), expected)
    assert render_batch([], size=32).shape == (0, 32, 32, 3)


def test_params_are_plain_values(params):
    d = params[0].to_dict()
    assert d["seed"] == 0
    for value in d.values():
        assert isinstance(value, (int, float, str, bool, tuple))
        if isinstance(value, tuple):
            assert len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in value)


def test_parts_vary_over_seeds(params):
    assert {p.hair_style for p in params} == set(HAIR_STYLES)
    assert {p.mouth for p in params} == set(MOUTHS)
    for field in ("face_shape", "eye_shape", "nose_shape", "clothing", "background", "hat", "earrings",
                  "glasses", "facial_hair", "hair_color_name"):
        assert len({getattr(p, field) for p in params}) >= 3, field
    glasses = sum(p.glasses != "none" for p in params)
    assert 0.1 * len(params) < glasses < 0.5 * len(params)
    skin_lum = [sum(p.skin) / 3 for p in params]
    assert min(skin_lum) < 80 and max(skin_lum) > 200  # dark to light


def test_eyes_are_aligned():
    """The eye line is fixed; only the spacing moves the eyes sideways, symmetrically."""
    for seed in (0, 1, 2):
        eyes = part_masks(sample_params(seed), size=128)["eyes"].astype(float)
        ys, xs = np.nonzero(eyes > 128)
        assert abs(ys.mean() - 0.46 * 128) < 3
        assert abs(xs.mean() - 64) < 2


def test_train_and_heldout_seeds_do_not_overlap():
    assert TRAIN_SEEDS.stop <= HELDOUT_SEEDS.start
    assert len(HELDOUT_SEEDS) == 10_000


def test_supersampling_antialiases_edges():
    """Box-downsampling mixes colours along edges, so far more distinct colours appear."""
    params = dataclasses.replace(sample_params(11), background="flat")
    aliased = render_params(params, size=64, supersample=1).reshape(-1, 3)
    smooth = render_params(params, size=64, supersample=4).reshape(-1, 3)
    n_aliased = len(np.unique(aliased, axis=0))
    n_smooth = len(np.unique(smooth, axis=0))
    assert n_smooth > 2 * n_aliased
    # the background/shoulder boundary gets intermediate values, not just the two flat colours
    bg, cloth = np.array(params.bg_color), np.array(params.clothing_color)
    row = render_params(params, size=64)[60].astype(int)
    pure = [(px == bg).all() or (px == cloth).all() for px in row]
    assert not all(pure)


def test_part_masks_cover_the_image():
    params = sample_params(4)
    masks = part_masks(params, size=32)
    assert set(masks) == set(PARTS)
    total = sum(m.astype(int) for m in masks.values())
    assert np.all(np.abs(total - 255) <= 1)
    for name in ("background", "hair", "face", "eyes", "mouth", "clothes"):
        assert masks[name].max() > 0, name


def test_grid_cli(tmp_path):
    from PIL import Image

    out = tmp_path / "grid.png"
    main(["grid", str(out), "--size", "32", "--n", "6", "--seed-start", "10"])
    img = Image.open(out)
    assert img.size == (3 * 34 + 2, 2 * 34 + 2)
