"""Collage-like training inputs: each kind does what its name says, seeded and sized for any resolution."""
from __future__ import annotations

import pytest
import torch

from server.training.collage_inputs import KINDS, collage_batch, ellipse_masks, stroke_masks


def images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth distinct images in [-1, 1] (a per-image colour plus a gentle ramp)."""
    gen = torch.Generator().manual_seed(seed)
    colour = torch.rand(n, 3, 1, 1, generator=gen) * 1.2 - 0.6
    ramp = torch.linspace(-0.3, 0.3, size).view(1, 1, 1, size)
    return (colour + ramp).expand(n, 3, size, size).clamp(-1, 1).contiguous()


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_changes_what_it_should(kind):
    x = images(12, 32)
    batch = collage_batch(x, torch.Generator().manual_seed(1), kinds=(kind,))
    assert batch.kinds == [kind] * 12
    changed = (batch.inputs != x).any(dim=1, keepdim=True)
    assert changed.flatten(1).any(dim=1).all(), "every image is changed"
    if kind == "holes":
        assert torch.equal(batch.targets, x)
        hidden = batch.visible == 0
        assert hidden.flatten(1).any(dim=1).all() and (batch.visible == 1).flatten(1).any(dim=1).all()
        assert torch.equal(changed, hidden & (x != 0).any(dim=1, keepdim=True))
        assert (batch.inputs * hidden == 0).all()
    else:
        assert torch.equal(batch.inputs, batch.targets) and (batch.visible == 1).all()
        covered = changed.float().mean().item()
        assert 0.005 < covered < 0.6, covered
    if kind == "pieces":  # pasted pixels are the next image's (the batch rolled by one)
        others = x.roll(1, dims=0)
        assert torch.equal(batch.inputs.masked_select(changed), others.masked_select(changed.expand_as(x)))


def test_strokes_are_flat_colours():
    x = images(6, 64)
    batch = collage_batch(x, torch.Generator().manual_seed(2), kinds=("strokes",))
    for i in range(6):
        painted = (batch.inputs[i] != x[i]).any(dim=0)
        colours = batch.inputs[i][:, painted].T.unique(dim=0)
        assert 1 <= len(colours) <= 5  # one colour per line and blob, at most 4 lines + 1 blob


def test_seeded_and_mixed():
    x = images(32, 32)
    a = collage_batch(x, torch.Generator().manual_seed(3))
    b = collage_batch(x, torch.Generator().manual_seed(3))
    assert torch.equal(a.inputs, b.inputs) and a.kinds == b.kinds
    assert set(a.kinds) == set(KINDS)
    assert not torch.equal(a.inputs, collage_batch(x, torch.Generator().manual_seed(4)).inputs)


def test_shapes_scale_with_the_image():
    gen = torch.Generator().manual_seed(5)
    small = ellipse_masks(64, 32, gen, (1, 1), (0.1, 0.1)).mean().item()
    large = ellipse_masks(64, 128, torch.Generator().manual_seed(5), (1, 1), (0.1, 0.1)).mean().item()
    assert abs(small - large) < 0.01  # the same fraction of the image at any size
    lines = stroke_masks(16, 64, gen)
    assert lines.dtype == torch.bool and lines.shape == (16, 4, 64, 64)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown collage kind 'smudge'"):
        collage_batch(images(2, 16), torch.Generator().manual_seed(0), kinds=("smudge",))
