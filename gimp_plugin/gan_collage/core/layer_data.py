"""The plain data between GIMP and the server: layers read from the image, what Realize reads, the new
layers to add, and the options the dialogs offer (gimp_io fills and empties them; no GIMP here)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from server.shared.defaults import DEFAULT_FEATHER, DEFAULT_MARGIN, DEFAULT_STEPS
from server.shared.region import Bounds, Square, read_step, region_square

from .latent_parasite import Stored


@dataclass
class LayerData:
    """A layer's pixels (RGBA u8 rows, or RGB u8 rows for a layer without alpha) and where they lie.

    For Realize the pixels are only the layer's part inside the region of interest, possibly read at
    reduced scale: then they stand for `canvas_width` x `canvas_height` canvas pixels from (x, y).
    """
    name: str
    width: int
    height: int
    pixels: bytes
    x: int = 0
    y: int = 0
    opacity: float = 1.0          # 0..1, times the opacities of the groups holding it
    mask: Optional[bytes] = None  # the layer mask, width * height bytes
    channels: int = 4             # 3: opaque RGB
    canvas_width: int = 0         # 0: the pixels' own size (full scale)
    canvas_height: int = 0
    latent: Optional[Stored] = None  # the latent the layer carries (its square in canvas coordinates)
    latent_unusable: bool = False    # it carries one that cannot be used (latent_parasite.read): as if none

    @property
    def box(self) -> Bounds:
        return Bounds.sized(self.x, self.y, self.canvas_width or self.width, self.canvas_height or self.height)


@dataclass
class CanvasData:
    """What Realize sends: the layers' parts inside `region` (a square, the shared rule's)."""
    width: int
    height: int
    layers: list               # LayerData, bottom to top, groups flattened
    region: Square             # the region of interest
    has_selection: bool = False  # the result gets a layer mask from the selection


@dataclass(frozen=True)
class ReadPlan:
    """Which part of the canvas Realize reads, and how coarsely."""
    region: Square    # the region of interest (may reach past the canvas)
    area: Bounds      # its part inside the canvas: what the layers are read over
    step: int         # read at 1/step scale

    @classmethod
    def of(cls, selection: Optional[Bounds], width: int, height: int, resolution: int,
           margin: float = DEFAULT_MARGIN) -> "ReadPlan":
        """For the selection's bounds (None: nothing selected), the model's resolution and the margin (a
        fraction of the selection's longer side)."""
        region = region_square(selection, width, height, margin)
        area = region.bounds.intersect(Bounds(0, 0, width, height))
        return cls(region, area, read_step(region.size, resolution))


@dataclass
class NewLayer:
    """A result for gimp_io: `image` (an Image dict) is scaled to `box`, then cropped to `crop`;
    `masked`: it gets a layer mask from the selection, softened `feather` pixels in from its edge;
    `mask`: else this layer mask (the cropped layer's size); `latent`: the latent `image` was made from,
    kept with the layer."""
    name: str
    image: dict
    box: Bounds
    crop: Optional[Bounds] = None
    masked: bool = False
    feather: float = 0.0
    mask: Optional[bytes] = None
    latent: Optional[dict] = None


@dataclass
class Options:
    """Projection options the dialogs offer; the server's defaults cover the rest. The regressor is one
    deterministic pass: steps and seed only matter for the other methods."""
    method: str = "regressor"
    steps: int = DEFAULT_STEPS
    seed: int = 0
    feather: float = DEFAULT_FEATHER  # Realize: the result's mask fades in over this many pixels inside the selection
    margin: float = DEFAULT_MARGIN    # Realize: context around the selection, a fraction of its longer side
    truncation: float = 1.0           # the latent pulled toward the average, w_avg + psi (w - w_avg); 1 = none

    @property
    def optimizes(self) -> bool:
        return self.method != "regressor"

    def request(self) -> dict:
        request = {"method": self.method, "steps": self.steps, "seed": self.seed}
        if self.truncation != 1.0:  # only then: older servers know no such field
            request["truncation"] = self.truncation
        return request
