"""The artist's menu action: canvas in, new layer out.

compose (region of interest at model resolution) -> project (regressor | optimize | hybrid |
scribble) -> paste back into the selection. The result carries the latent, so later edits reuse it
without projecting again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .canvas import Canvas, Square, validate_canvas
from .compose import compose, to_tensors
from .errors import InvalidInput
from .paste import PastedLayer, paste_back
from .pixels import to_uint8_hwc
from .progress import CancelToken, ProgressCallback, report
from .project import ProjectOptions, project
from .validation import check_number


@dataclass
class RealizeOptions:
    projection: ProjectOptions = field(default_factory=ProjectOptions)
    margin: float = 0.125  # region margin, a fraction of the selection's longer side
    feather: float = 8.0  # paste-back edge width in canvas pixels; 0 = hard edge

    def validate(self) -> None:
        """Raise InvalidInput naming the first bad field."""
        check_number("margin", self.margin, 0.0, 4.0)
        check_number("feather", self.feather, 0.0, 1024.0)
        self.projection.validate()


@dataclass
class RealizeResult:
    layer: PastedLayer  # RGBA, transparent outside the selection, placed at (layer.x, layer.y)
    latent: torch.Tensor  # W+ [1, num_ws, w_dim], CPU
    generated: np.ndarray  # uint8 RGB (R, R, 3): the raw generated square
    region: Square
    metrics: dict


def realize(model: dict, canvas: Canvas, options: RealizeOptions | None = None,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> RealizeResult:
    """Raises InvalidInput, ModelUnavailable, Cancelled, OutOfMemory (see errors.py)."""
    options = options or RealizeOptions()
    started = time.perf_counter()
    options.validate()
    validate_canvas(canvas)
    g = model["generator"]
    report(progress, "compose", 0, 1)
    comp = compose(canvas, g.resolution, margin=options.margin)
    image, mask = to_tensors(comp)
    if float(mask.max()) == 0.0:
        raise InvalidInput("layers", "no visible pixels inside the region to project; "
                                     "check layer visibility, opacity and the selection")
    report(progress, "compose", 1, 1)
    device = g.w_avg.device
    projection = project(model, image.to(device), mask.to(device), options.projection, progress, cancel)
    if cancel is not None:
        cancel.check()
    report(progress, "paste", 0, 1)
    layer = paste_back(projection.image[0], comp, feather=options.feather)
    report(progress, "paste", 1, 1)
    metrics = dict(projection.metrics, seconds=time.perf_counter() - started,
                   projection_seconds=projection.metrics["seconds"])
    return RealizeResult(layer=layer, latent=projection.latent, generated=to_uint8_hwc(projection.image)[0],
                         region=comp.region, metrics=metrics)
