"""The artist's menu action: canvas in, new layer out.

compose (region of interest at model resolution) -> project (regressor | optimize | hybrid |
scribble) -> paste back into the selection (unless the caller places `generated` itself). The result
carries the latent, so later edits reuse it without projecting again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from server.models import Model
from server.shared.defaults import DEFAULT_FEATHER, DEFAULT_MARGIN, MAX_FEATHER, MAX_MARGIN
from server.shared.region import Square

from .canvas import MAX_CANVAS_SIDE, Canvas
from .compose import Composite, compose
from .errors import InvalidInput, TooLarge, pixel_count, shown
from .latents import STYLEMAP
from .paste import PastedLayer, layer_box, paste_back
from .pixels import to_uint8_hwc
from .progress import CancelToken, ProgressCallback, report
from .project import Projection, ProjectOptions, project
from .stylemap_collage import COLLAGE_MODES, layered_stylemap
from .validation import check_choice, check_int, check_number


@dataclass
class RealizeOptions:
    projection: ProjectOptions = field(default_factory=ProjectOptions)
    margin: float = DEFAULT_MARGIN  # region margin, a fraction of the selection's longer side
    feather: float = DEFAULT_FEATHER  # paste-back edge width in canvas pixels; 0 = hard edge
    region: Square | None = None  # the square to realize; None: the selection's region of interest
    skip_layer: bool = False  # no paste-back: the caller places `generated` on `region` itself
    max_layer_pixels: int | None = None  # refuse (TooLarge) before projecting when the layer would be bigger
    collage: str = ""  # "composite" | "layers" (stylemap models only: stylemap_collage.py); "": "composite"

    def validate(self) -> None:
        """Raise InvalidInput naming the first bad field of these options (the projection options are
        checked by `project`, and at the server's edge when a request arrives)."""
        check_number("margin", self.margin, 0.0, MAX_MARGIN)
        check_number("feather", self.feather, 0.0, MAX_FEATHER)
        if self.region is not None:
            check_int("region.size", self.region.size, 1, MAX_CANVAS_SIDE)
            for name in ("x", "y"):
                check_int(f"region.{name}", getattr(self.region, name), -2 ** 31, 2 ** 31 - 1)
        if not isinstance(self.skip_layer, bool):
            raise InvalidInput("skip_layer", f"must be a bool, got {shown(self.skip_layer)}")
        if self.collage:
            check_choice("collage", self.collage, COLLAGE_MODES)


@dataclass
class RealizeResult:
    layer: PastedLayer | None  # RGBA, transparent outside the selection, at (layer.x, layer.y); None: skip_layer
    latent: torch.Tensor  # [1, *latent_shape] (W+ or a stylemap), CPU
    generated: np.ndarray  # uint8 RGB (R, R, 3): the raw generated square
    region: Square
    metrics: dict


def _check_layer_size(canvas: Canvas, comp: Composite, limit: int) -> None:
    box = layer_box(canvas, comp.region)
    if box.width * box.height > limit:
        raise TooLarge("canvas", f"the result layer would be {box.width}x{box.height} "
                                 f"({pixel_count(box.width * box.height)}), more than this server's limit of "
                                 f"{pixel_count(limit)} (ServerInfo.max_result_pixels); select a smaller area, "
                                 f"or set skip_layer and place the generated square yourself")


def collage_mode(model: Model, asked: str) -> str:
    """The collage mode a request gets: its own, or "composite"."""
    if asked == "layers" and model.generator.latent_kind != STYLEMAP:
        raise InvalidInput("collage", "'layers' needs a stylemap model (StyleMapGAN); this model's latent is W+")
    return asked or "composite"


def compose_and_project(model: Model, canvas: Canvas, options: ProjectOptions, progress: ProgressCallback | None,
                        cancel: CancelToken | None, margin: float = DEFAULT_MARGIN, region: Square | None = None,
                        before_projecting=None, collage: str = "") -> tuple[Composite, Projection]:
    """What Realize and Project share: the region composed on the model's grid, then projected
    (`before_projecting(comp)` may refuse the request in between, cheaply). With the "layers" collage
    mode, the regressor's latent is the layers' stylemaps laid over each other (stylemap_collage.py)."""
    g = model.generator
    mode = collage_mode(model, collage)
    report(progress, "compose", 0, 1)
    comp = compose(canvas, g.resolution, margin=margin, region=region, device=g.w_avg.device, cancel=cancel)
    if float(comp.mask.max()) == 0.0:
        raise InvalidInput("layers", "no visible pixels inside the region to project; "
                                     "check layer visibility, opacity and the selection")
    report(progress, "compose", 1, 1)
    if before_projecting is not None:
        before_projecting(comp)
    regress = None
    if mode == "layers" and model.regressor is not None:
        regress = partial(layered_stylemap, model.regressor, canvas, comp, g.latent_shape[-1], cancel)
    return comp, project(model, comp.image, comp.mask, options, progress, cancel, regress)


def realize(model: Model, canvas: Canvas, options: RealizeOptions | None = None,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> RealizeResult:
    """Raises InvalidInput, ModelUnavailable, Cancelled (see errors.py); as a server job (jobs.py) also
    OutOfMemory."""
    options = options or RealizeOptions()
    started = time.perf_counter()
    options.validate()
    check = None
    if not options.skip_layer and options.max_layer_pixels is not None:
        check = partial(_check_layer_size, canvas, limit=options.max_layer_pixels)
    comp, projection = compose_and_project(model, canvas, options.projection, progress, cancel, options.margin,
                                           options.region, before_projecting=check, collage=options.collage)
    if cancel is not None:
        cancel.check()
    layer = None
    if not options.skip_layer:
        report(progress, "paste", 0, 1)
        layer = paste_back(projection.image[0], canvas, comp.region, options.feather, cancel)
        report(progress, "paste", 1, 1)
    metrics = dict(projection.metrics, seconds=time.perf_counter() - started)
    return RealizeResult(layer=layer, latent=projection.latent, generated=to_uint8_hwc(projection.image)[0],
                         region=comp.region, metrics=metrics)
