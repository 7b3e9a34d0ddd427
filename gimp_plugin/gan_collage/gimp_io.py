"""GIMP image <-> plain data (core.layer_data: LayerData, CanvasData, NewLayer). Only GEGL reads and writes here:
GIMP converts every layer to RGBA u8 (RGB u8 for layers without alpha) and masks to Y u8; no pixel is
computed in Python.

Realize reads each layer only inside the region of interest, at 1/step scale when the region is much
larger than the model's resolution. Scaled reads box-average from GEGL's mipmaps, in linear light.
Read straight from an 8-bit layer they are wrong in a plug-in (GIMP 3.0.4): the colour comes back black
(the plug-in's GEGL lacks the 8-bit gamma tables; initialising it again floods stderr), and it would
be averaged unpremultiplied, so the colour hidden under transparent pixels (a piece cut from a photo
keeps the photo there) would bleed into the piece's edge. So an RGBA layer's part is copied into a
premultiplied float buffer and read scaled from that; an RGB layer, which hides nothing, is read as
GIMP's own sub-thumbnail (computed in GIMP, exact box averages, a fraction of a millisecond), trimmed
to whole scaled pixels (past its edge it would average in black). A layer mask is linear 8-bit and is
read scaled directly; where a mask edge falls inside one scaled pixel the two averages multiply
(slightly off from GIMP's per-pixel product there).

The user's layers and selection are only read. Results become new layers above the active layer,
all in one undo group; GIMP itself scales and crops them and makes their mask from the selection
(see core.layer_data.NewLayer). Each result carries the persistent parasite RESULT_MARK, so "Visible layers"
can leave earlier results out of the next collage, and the latent it was made from
(latent_parasite.NAME), which one_layer and two_layers read back so that later actions need not
project it again.

Not carried over to the server: blend modes other than normal (every layer is composited "over"),
and layer masks of groups (a group's opacity and visibility are).
"""
from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402

from core import latent_parasite  # noqa: E402
from core.errors import UserError  # noqa: E402
from core.layer_data import CanvasData, LayerData, NewLayer, ReadPlan  # noqa: E402
from server.shared.defaults import DEFAULT_MARGIN  # noqa: E402
from server.shared.region import Bounds, scaled_read  # noqa: E402

RGBA = "R'G'B'A u8"
RGB = "R'G'B' u8"
GREY = "Y u8"
PREMULTIPLIED = "RaGaBaA float"
THUMBNAIL_SIDE = 1024  # the largest sub-thumbnail GIMP makes
RESULT_MARK = "gan-collage-result"  # parasite on every layer GAN Collage adds


def _read(drawable, fmt: str, box: Bounds | None = None, step: int = 1) -> bytes:
    """Pixels of `box` (in the drawable's pixel grid at 1/step scale; the whole drawable by default),
    zeros outside it; at reduced scale as the module docstring says."""
    if box is None:
        box = Bounds(0, 0, drawable.get_width(), drawable.get_height())
    full = (box.x0 * step, box.y0 * step, box.width * step, box.height * step)
    if step > 1 and fmt == RGB and max(box.width, box.height) <= THUMBNAIL_SIDE:
        data, width, height, bpp = drawable.get_sub_thumbnail_data(*full, box.width, box.height)
        if (width, height, bpp) == (box.width, box.height, 3):
            return bytes(data.get_data())
    buffer = drawable.get_buffer()
    if step > 1 and fmt != GREY:
        full = Gegl.Rectangle.new(*full)
        copy = Gegl.Buffer.new(PREMULTIPLIED, full.x, full.y, full.width, full.height)
        buffer.copy(full, Gegl.AbyssPolicy.NONE, copy, full)
        buffer = copy
    rect = Gegl.Rectangle.new(box.x0, box.y0, box.width, box.height)
    return bytes(buffer.get(rect, 1.0 / step, fmt, Gegl.AbyssPolicy.NONE))


def read_layer(layer, opacity: float | None = None, area: Bounds | None = None, step: int = 1) -> LayerData | None:
    """A layer's pixels, offsets, opacity (0..1, or `opacity` when given) and applied layer mask; only
    inside `area` (canvas coordinates) at 1/step scale when given (None when the layer is not there)."""
    _, x, y = layer.get_offsets()
    width, height = layer.get_width(), layer.get_height()
    fmt, channels = (RGBA, 4) if layer.has_alpha() else (RGB, 3)
    placed, box, size = Bounds(x, y, x + width, y + height), None, (0, 0)
    if area is not None:
        if channels == 3 and step > 1:  # whole scaled pixels only, else as RGBA (see the module docstring)
            inner = Bounds(x, y, x + width // step * step, y + height // step * step)
            if inner.width and inner.height and inner.intersect(area) is not None:
                placed = inner
            else:
                fmt, channels = RGBA, 4
        part = placed.intersect(area)
        if part is None:
            return None
        box, placed = scaled_read(part, x, y, step)
        width, height = box.width, box.height
        if step > 1:
            size = (placed.width, placed.height)
    mask = layer.get_mask()
    return LayerData(
        name=layer.get_name(), width=width, height=height, pixels=_read(layer, fmt, box, step),
        x=placed.x0, y=placed.y0, opacity=layer.get_opacity() / 100.0 if opacity is None else opacity,
        mask=_read(mask, GREY, box, step) if mask is not None and layer.get_apply_mask() else None,
        channels=channels, canvas_width=size[0], canvas_height=size[1])


def _ids(items) -> set:
    return {item.get_id() for item in items}


def is_result(item) -> bool:
    """Whether GAN Collage made this layer."""
    return item.get_parasite(RESULT_MARK) is not None


def _leaves(items, selected: set | None, with_results: bool, opacity: float = 1.0, inside: bool = False):
    """(layer, opacity) of the layers to send under `items` (top first), top to bottom, with each
    group's opacity multiplied in.

    `selected` None: the visible layers, without GAN Collage's results unless `with_results`. Else
    (layer ids): the selected layers, visible or not, and the visible layers inside selected groups
    (`inside`); groups around them only pass their opacity on.
    """
    for item in items:
        picked = inside or (selected is not None and item.get_id() in selected)
        if (selected is None or inside) and not item.get_visible():
            continue
        alpha = opacity * item.get_opacity() / 100.0
        if item.is_group():
            yield from _leaves(item.get_children(), selected, with_results, alpha, picked)
        elif picked or (selected is None and (with_results or not is_result(item))):
            yield item, alpha


def selection_bounds(image) -> Bounds | None:
    """The bounding box of the selected pixels (any value > 0), None when nothing is selected."""
    _, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    return Bounds(x1, y1, x2, y2) if non_empty else None


def read_selection(image, box: Bounds | None = None) -> bytes | None:
    """The selection mask over `box` (canvas coordinates; the canvas by default), None when nothing is
    selected. Outside the canvas it is 0."""
    if selection_bounds(image) is None:
        return None
    return _read(image.get_selection(), GREY, box or Bounds(0, 0, image.get_width(), image.get_height()))


def read_canvas(image, resolution: int, selected_only: bool = False, with_results: bool = False,
                margin: float = DEFAULT_MARGIN) -> CanvasData:
    """The visible layers (or only the selected ones) bottom to top, groups flattened, each only inside
    the region of interest and read at the coarsest scale that keeps `resolution` pixels across it."""
    bounds, plan, leaves = _read_plan(image, resolution, selected_only, with_results, margin)
    layers = [read_layer(layer, opacity, plan.area, plan.step) for layer, opacity in reversed(leaves)]
    return CanvasData(width=image.get_width(), height=image.get_height(),
                      layers=[layer for layer in layers if layer is not None], region=plan.region,
                      has_selection=bounds is not None)


def _read_plan(image, resolution: int, selected_only: bool, with_results: bool, margin: float) -> tuple:
    """What read_canvas and probe_canvas look at: (selection bounds, ReadPlan, [(layer, opacity)] top first)."""
    bounds = selection_bounds(image)
    plan = ReadPlan.of(bounds, image.get_width(), image.get_height(), resolution, margin)
    selected = _ids(image.get_selected_layers()) if selected_only else None
    return bounds, plan, list(_leaves(image.get_layers(), selected, with_results))


def _thumbnail(drawable, rect: Bounds, step: int) -> bytes:
    """GIMP's sub-thumbnail of `rect` (the drawable's own coordinates) at about 1/step scale."""
    scale = max(step, -(-max(rect.width, rect.height) // THUMBNAIL_SIDE))
    data, *_ = drawable.get_sub_thumbnail_data(rect.x0, rect.y0, rect.width, rect.height,
                                               max(1, rect.width // scale), max(1, rect.height // scale))
    return bytes(data.get_data())


def probe_canvas(image, resolution: int, selected_only: bool = False, with_results: bool = False,
                 margin: float = DEFAULT_MARGIN) -> tuple:
    """A cheap change detector for read_canvas (Live preview polls it): the region, and for each layer
    read_canvas would read its id, offsets, size, opacity and GIMP's sub-thumbnails of its part (and its
    mask's) inside the region at the read's scale. A thumbnail is made in GIMP in a fraction of a
    millisecond, where the exact read of a large RGBA layer takes tens; it averages unpremultiplied, which
    is wrong for the request but as good for seeing a change."""
    _, plan, leaves = _read_plan(image, resolution, selected_only, with_results, margin)
    probe = [plan]
    for layer, opacity in leaves:
        _, x, y = layer.get_offsets()
        width, height = layer.get_width(), layer.get_height()
        entry = [layer.get_id(), x, y, width, height, opacity, layer.has_alpha()]
        part = Bounds(x, y, x + width, y + height).intersect(plan.area)
        if part is not None:
            rect = Bounds(part.x0 - x, part.y0 - y, part.x1 - x, part.y1 - y)
            entry.append(_thumbnail(layer, rect, plan.step))
            mask = layer.get_mask()
            if mask is not None and layer.get_apply_mask():
                entry.append(_thumbnail(mask, rect, plan.step))
        probe.append(tuple(entry))
    return tuple(probe)


def _stacking(items):
    """Every layer and group under `items`, top to bottom."""
    for item in items:
        yield item
        if item.is_group():
            yield from _stacking(item.get_children())


def chosen_layers(image, drawables) -> list:
    """The layers the procedure runs on (else the image's selected layers), bottom first."""
    chosen = _ids(drawables or image.get_selected_layers())
    in_order = [item for item in _stacking(image.get_layers()) if item.get_id() in chosen]
    return list(reversed(in_order))


def read_latent(layer, image) -> tuple:
    """(the latent the layer carries, its square in canvas coordinates, or None; whether the layer carries
    one that cannot be used: damaged, cut short, crafted, see latent_parasite.read)."""
    parasite = layer.get_parasite(latent_parasite.NAME)
    if parasite is None:
        return None, False
    if parasite.size > latent_parasite.MAX_BYTES:  # not even fetched: PyGObject makes a list of ints of it
        return None, True
    _, x, y = layer.get_offsets()
    stored = latent_parasite.read(latent_parasite.parasite_bytes(parasite.get_data()),
                                  Bounds.sized(x, y, layer.get_width(), layer.get_height()),
                                  Bounds(0, 0, image.get_width(), image.get_height()))
    return stored, stored is None


def _with_latent(layer, image) -> LayerData:
    data = read_layer(layer)
    data.latent, data.latent_unusable = read_latent(layer, image)
    return data


def one_layer(image, drawables) -> LayerData:
    """The one chosen layer, with its latent."""
    layers = chosen_layers(image, drawables)
    if len(layers) != 1:
        raise UserError(f"Select one layer (there are {len(layers)} selected).")
    return _with_latent(layers[0], image)


def two_layers(image, drawables) -> tuple[LayerData, LayerData]:
    """(lower, upper) of exactly two chosen layers, with their latents."""
    layers = chosen_layers(image, drawables)
    if len(layers) != 2:
        raise UserError(f"Select exactly two layers in the Layers dialog (Ctrl-click); there are {len(layers)}.")
    return _with_latent(layers[0], image), _with_latent(layers[1], image)


# ------------------------------------------------------------------------------------ writing


def _insertion_point(image, drawables) -> tuple:
    """(parent, position) just above the topmost of `drawables` (else of the selected layers); the top of
    the image when there is none."""
    anchors = _ids(drawables or image.get_selected_layers())
    for item in _stacking(image.get_layers()):
        if item.get_id() in anchors:
            return item.get_parent(), image.get_item_position(item)
    return None, 0


def _layer_type(image):
    return Gimp.ImageType.GRAYA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.GRAY else Gimp.ImageType.RGBA_IMAGE


def _insert(image, new: NewLayer, parent, position: int):
    width, height = new.image["width"], new.image["height"]
    layer = Gimp.Layer.new(image, new.name, width, height, _layer_type(image), 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, parent, position)
    layer.attach_parasite(Gimp.Parasite.new(RESULT_MARK, Gimp.PARASITE_PERSISTENT, list(b"1")))
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), RGBA, new.image["rgba"])
    buffer.flush()
    layer.update(0, 0, width, height)
    if (width, height) != (new.box.width, new.box.height):
        layer.scale(new.box.width, new.box.height, False)
    layer.set_offsets(new.box.x0, new.box.y0)
    if new.crop is not None:
        layer.resize(new.crop.width, new.crop.height, new.box.x0 - new.crop.x0, new.box.y0 - new.crop.y0)
    if new.masked:
        layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        if new.feather > 0:
            _feather_inward(image, layer, new.feather)
    elif new.mask is not None:
        mask = layer.create_mask(Gimp.AddMaskType.WHITE)
        layer.add_mask(mask)
        buffer = mask.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height()), GREY, new.mask)
        buffer.flush()
    if new.latent is not None:
        _, x, y = layer.get_offsets()
        square = Bounds.sized(new.box.x0 - x, new.box.y0 - y, new.box.width, new.box.height)
        data = latent_parasite.encode(new.latent, square)
        layer.attach_parasite(Gimp.Parasite.new(latent_parasite.NAME, Gimp.PARASITE_PERSISTENT,
                                                latent_parasite.parasite_data(data)))
    return layer


def _feather_inward(image, layer, radius: float) -> None:
    """Soften the layer mask over about `radius` pixels inside the selection's edge; outside it stays 0.

    Blur, then levels 0.5..1 -> 0..1 (a hard edge's blurred 50 % line becomes 0), then the minimum with
    the selection. GIMP blends filters on a drawable through the selection, so it is lifted meanwhile
    and put back exactly (saved to a channel and reloaded) within the same undo group.
    """
    mask = layer.get_mask()
    _, x, y = layer.get_offsets()
    saved = Gimp.Selection.save(image)
    Gimp.Selection.none(image)
    try:
        blur = Gimp.DrawableFilter.new(mask, "gegl:gaussian-blur", "GAN Collage feather")
        settings = blur.get_config()
        settings.set_property("std-dev-x", radius / 2.0)
        settings.set_property("std-dev-y", radius / 2.0)
        mask.merge_filter(blur)
        mask.levels(Gimp.HistogramChannel.VALUE, 0.5, 1.0, True, 1.0, 0.0, 1.0, True)
    finally:
        image.select_item(Gimp.ChannelOps.REPLACE, saved)
        image.remove_channel(saved)
    mask.combine_masks(image.get_selection(), Gimp.ChannelOps.INTERSECT, -x, -y)


def insert_layers(image, drawables, layers: list) -> list:
    """Add the NewLayers above the layers the procedure ran on (the active ones), the first lowest, as one
    undo step; the GIMP layers."""
    parent, position = _insertion_point(image, drawables)
    image.undo_group_start()
    Gimp.context_push()
    try:
        Gimp.context_set_interpolation(Gimp.InterpolationType.CUBIC)
        added = [_insert(image, new, parent, position) for new in layers]
    finally:
        Gimp.context_pop()
        image.undo_group_end()
    Gimp.displays_flush()
    return added


class Progress:
    """GIMP's progress bar as a core.session.Report."""

    def __init__(self, title: str):
        Gimp.progress_init(title)

    def __call__(self, text: str, fraction: float) -> None:
        Gimp.progress_set_text(text)
        Gimp.progress_update(min(max(fraction, 0.0), 1.0))

    def end(self) -> None:
        Gimp.progress_end()
