"""The engine's job entry points: one for each server call that runs a model.

`<call>_job(model, ...)` returns the call's work, `work(progress, cancel)`, which server/jobs.py runs
on the device's worker; the servicer runs models through these alone. `@job` gives every entry point
the same handling:

* validation: what a request asks of its model that can be refused without running the model (the
  entry point's `check`) is refused when the entry point is called, before the job queues; the
  request's own ranges were checked where it was converted, the rest is checked as the job runs;
* cancel: a job whose token is set by the time it starts runs nothing; longer jobs check again
  between their steps;
* out of memory: an allocation that fails on the device or the host (torch's CUDA or CPU allocator,
  numpy, Python) ends the job with OutOfMemory once the failed call's tensors are released, and the
  worker carries on.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from server.models import Model

from .attribute_edits import AttributeEdit, directions_of, edited_latent
from .canvas import Canvas
from .edits import interpolate, local_blend, render, render_levels, style_mix, style_mix_levels, stylemap_blend
from .errors import InvalidInput, OutOfMemory
from .latents import STYLEMAP
from .pixels import to_uint8_hwc
from .progress import CancelToken, ProgressCallback, Work, report
from .project import Projection, ProjectOptions
from .realize import RealizeOptions, RealizeResult, collage_mode, compose_and_project, realize

# RuntimeError messages of a failed allocation: CUDA's, torch's CPU allocator's ("can't allocate memory")
OUT_OF_MEMORY_WORDS = ("out of memory", "allocate memory", "not enough memory")


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(words in str(exc).lower() for words in OUT_OF_MEMORY_WORDS)


def _releasing_memory(run: Callable, *args):
    """`run(*args)`; running out of memory raises OutOfMemory after the failed call's tensors are released."""
    try:
        return run(*args)
    except (MemoryError, RuntimeError) as exc:  # MemoryError: numpy's "Unable to allocate", Python's own
        if not _is_out_of_memory(exc):
            raise
        message = str(exc).splitlines()[0] if str(exc) else "out of memory"
    # Outside the except block the traceback (and the tensors its frames hold) is gone.
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    raise OutOfMemory(f"the device ran out of memory: {message}")


def job(check: Callable[..., None] | None = None):
    """Make `run(model, *args, progress, cancel)` the entry point `entry(model, *args) -> work`, which
    first runs `check(model, *args)` (see the module docstring)."""

    def entry_point(run: Callable) -> Callable[..., Work]:
        @functools.wraps(run)
        def entry(model: Model, *args) -> Work:
            if check is not None:
                check(model, *args)

            def work(progress: ProgressCallback, cancel: CancelToken):
                cancel.check()
                return _releasing_memory(run, model, *args, progress, cancel)

            return work

        return entry

    return entry_point


# ----------------------------------------------------------------------------- projection


def _check_collage(model: Model, canvas: Canvas, options: RealizeOptions) -> None:
    collage_mode(model, options.collage)


@job(check=_check_collage)
def realize_job(model: Model, canvas: Canvas, options: RealizeOptions, progress: ProgressCallback,
                cancel: CancelToken) -> RealizeResult:
    """The artist's menu action (realize.py)."""
    return realize(model, canvas, options, progress, cancel)


@job()
def project_job(model: Model, canvas: Canvas, options: ProjectOptions, progress: ProgressCallback,
                cancel: CancelToken) -> tuple[Projection, np.ndarray]:
    """Project a one-layer canvas (its whole extent; the padding to a square is unknown, not black):
    the projection and its image, uint8 RGB (R, R, 3)."""
    _, projection = compose_and_project(model, canvas, options, progress, cancel, margin=0.0, collage="composite")
    return projection, to_uint8_hwc(projection.image)[0]


# ----------------------------------------------------------------------------- edits


@job()
def interpolate_job(model: Model, a: Tensor, b: Tensor, frames: int, mode: str, progress: ProgressCallback,
                    cancel: CancelToken) -> list[tuple[Tensor, np.ndarray]]:
    """(latent, image) of each frame from `a` to `b`."""
    g = model.generator
    latents = interpolate(g, a, b, frames, mode)
    rendered = []
    for index, latent in enumerate(latents):
        cancel.check()
        rendered.append((latent, render(g, latent)))
        report(progress, "render", index + 1, len(latents))
    return rendered


@job()
def style_mix_job(model: Model, content: Tensor, style: Tensor, split: int, progress: ProgressCallback,
                  cancel: CancelToken) -> tuple[Tensor | None, np.ndarray]:
    """The mixed latent (None for a stylemap model: its mix is per level) and its image."""
    g = model.generator
    if g.latent_kind == STYLEMAP:
        levels = style_mix_levels(g, content, style, split)
        cancel.check()
        mixed, image = None, render_levels(g, levels)
    else:
        mixed = style_mix(g, content, style, split)
        cancel.check()
        image = render(g, mixed)
    report(progress, "render", 1, 1)
    return mixed, image


def _check_mix_space(model: Model, a: Tensor, b: Tensor, mask: Tensor, start_layer: int, mix_space: str) -> None:
    if mix_space and model.generator.latent_kind != STYLEMAP:
        raise InvalidInput("mix_space", "applies to stylemap models only; this model's latent is W+")


@job(check=_check_mix_space)
def local_blend_job(model: Model, a: Tensor, b: Tensor, mask: Tensor, start_layer: int, mix_space: str,
                    progress: ProgressCallback, cancel: CancelToken) -> tuple[Tensor | None, np.ndarray]:
    """The blend's image, and its latent when it has one (a stylemap model's "w" blend); `mix_space`
    "" is "w" on a stylemap model."""
    g = model.generator
    if g.latent_kind == STYLEMAP:
        latent, image = stylemap_blend(g, a, b, mask, start_layer, mix_space or "w")
        latent = None if latent is None else latent.cpu()
    else:
        latent, image = None, local_blend(g, a, b, mask, start_layer)
    report(progress, "render", 1, 1)
    return latent, to_uint8_hwc(image)[0]


# ----------------------------------------------------------------------------- attribute edits


@job()
def list_directions_job(model: Model, progress: ProgressCallback, cancel: CancelToken) -> list:
    """The model's directions in library order (the first call may compute them)."""
    return list(directions_of(model, cancel).values())


@job()
def edit_latent_job(model: Model, latent: Tensor, edits: list[AttributeEdit], progress: ProgressCallback,
                    cancel: CancelToken) -> tuple[Tensor, np.ndarray]:
    """The edited latent and its image."""
    known = directions_of(model, cancel) if any(edit.direction for edit in edits) else {}
    cancel.check()
    edited = edited_latent(model.generator, latent, edits, known)
    if not bool(torch.isfinite(edited).all()):
        raise InvalidInput("edits", "move the latent beyond the range of finite numbers")
    image = render(model.generator, edited)
    report(progress, "render", 1, 1)
    return edited.cpu(), image
