"""The bodies of the jobs the servicer queues: engine calls on the worker thread, numpy out.

Each takes engine-typed inputs plus `(progress, cancel)` last, like `engine.realize.realize` (the
Realize job itself), so the servicer binds the inputs with `functools.partial` and hands the rest to
the job queue.
"""
from __future__ import annotations

import numpy as np
import torch

from server.engine.canvas import Canvas
from server.engine.compose import compose
from server.engine.edits import interpolate, local_blend, style_mix
from server.models import Model
from server.engine.errors import translate_oom
from server.engine.progress import CancelToken, ProgressCallback, report
from server.engine.project import Projection, ProjectOptions, project
from server.engine.pixels import to_uint8_hwc


@translate_oom
@torch.no_grad()
def render(g, ws: torch.Tensor) -> np.ndarray:
    """W+ [1, num_ws, w_dim] -> uint8 RGB (R, R, 3), constant noise."""
    return to_uint8_hwc(g.synthesis(ws.to(g.w_avg.device), noise_mode="const"))[0]


def project_canvas(model: Model, canvas: Canvas, options: ProjectOptions, progress: ProgressCallback,
                   cancel: CancelToken) -> tuple[Projection, np.ndarray]:
    """Project a one-layer canvas (its whole extent, padding unknown); the projection and its image."""
    g = model.generator
    report(progress, "compose", 0, 1)
    composed = compose(canvas, g.resolution, margin=0.0, device=g.w_avg.device, cancel=cancel)
    report(progress, "compose", 1, 1)
    projection = project(model, composed.image, composed.mask, options, progress, cancel)
    return projection, to_uint8_hwc(projection.image)[0]


def interpolate_frames(model: Model, a: torch.Tensor, b: torch.Tensor, frames: int, mode: str,
                       progress: ProgressCallback, cancel: CancelToken) -> list[tuple[torch.Tensor, np.ndarray]]:
    g = model.generator
    latents = interpolate(g, a, b, frames, mode)
    rendered = []
    for index, latent in enumerate(latents):
        cancel.check()
        rendered.append((latent, render(g, latent)))
        report(progress, "render", index + 1, len(latents))
    return rendered


def style_mix_image(model: Model, content: torch.Tensor, style: torch.Tensor, split: int,
                    progress: ProgressCallback, cancel: CancelToken) -> tuple[torch.Tensor, np.ndarray]:
    mixed = style_mix(content, style, split)
    cancel.check()
    image = render(model.generator, mixed)
    report(progress, "render", 1, 1)
    return mixed, image


def local_blend_image(model: Model, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, start_layer: int,
                      progress: ProgressCallback, cancel: CancelToken) -> np.ndarray:
    cancel.check()
    image = to_uint8_hwc(local_blend(model.generator, a, b, mask, start_layer))[0]
    report(progress, "render", 1, 1)
    return image
