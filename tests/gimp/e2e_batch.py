# Run by python-fu-eval inside a real GIMP 3 (tests/gimp/test_actions_in_gimp.py). Builds a layered image with a
# selection, calls every GAN Collage procedure non-interactively through the PDB, and writes what it saw
# to $OUT_DIR/report.json; the test asserts on it.
import hashlib
import importlib.util
import json
import os
import sys

from gi.repository import Gegl, Gimp, Gio

IN, OUT = os.environ["IN_DIR"], os.environ["OUT_DIR"]
PARAMS = json.load(open(os.path.join(IN, "params.json")))
sys.path.insert(0, IN)
from batch_tools import run_procedure  # noqa: E402

W, H = 64, 48
SELECTION = (8, 8, 32, 24)  # x, y, width, height of the selected ellipse
RGBA, GREY = "R'G'B'A u8", "Y u8"
report = {"calls": {}}
returned = {}  # label -> the layer a call returned


def pixels(drawable, fmt=RGBA):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE))


def new_layer(image, name, width, height, x, y, opacity, colour, parent=None):
    layer = Gimp.Layer.new(image, name, width, height, Gimp.ImageType.RGBA_IMAGE, opacity, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, parent, 0)
    layer.set_offsets(x, y)
    data = bytearray()
    for row in range(height):
        for col in range(width):
            data += bytes(((colour[0] + 5 * col) % 256, (colour[1] + 7 * row) % 256, colour[2], 255))
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), RGBA, bytes(data))
    buffer.flush()
    return layer


def build_image():
    image = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)
    new_layer(image, "background", W, H, 0, 0, 100.0, (10, 20, 200))
    group = Gimp.GroupLayer.new(image, "group")
    image.insert_layer(group, None, 0)
    group.set_opacity(50.0)
    new_layer(image, "child", 16, 16, 40, 4, 80.0, (200, 30, 30), group)
    new_layer(image, "hidden child", 10, 10, 2, 2, 100.0, (0, 0, 0), group).set_visible(False)
    masked = new_layer(image, "masked", 24, 20, -4, 26, 100.0, (30, 200, 60))
    mask = masked.create_mask(Gimp.AddMaskType.WHITE)
    masked.add_mask(mask)
    half = bytes(255 if col < 12 else 0 for row in range(20) for col in range(24))
    buffer = mask.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, 24, 20), GREY, half)
    buffer.flush()
    new_layer(image, "patch", 20, 12, 30, 20, 70.0, (250, 250, 0))
    new_layer(image, "hidden", 64, 48, 0, 0, 100.0, (0, 0, 0)).set_visible(False)
    image.select_ellipse(Gimp.ChannelOps.REPLACE, *SELECTION)
    return image


def walk(items):
    for item in items:
        yield item
        if item.is_group():
            yield from walk(item.get_children())


def snapshot(image):
    """Every layer's name, geometry, opacity, visibility and pixel/mask digests, top to bottom."""
    state = []
    for item in walk(image.get_layers()):
        _, x, y = item.get_offsets()
        entry = {"name": item.get_name(), "x": x, "y": y, "width": item.get_width(), "height": item.get_height(),
                 "opacity": item.get_opacity(), "visible": item.get_visible(), "group": item.is_group(),
                 "parent": item.get_parent().get_name() if item.get_parent() else None}
        if not item.is_group():
            entry["sha"] = hashlib.sha256(pixels(item)).hexdigest()
            if item.get_mask() is not None:
                entry["mask_sha"] = hashlib.sha256(pixels(item.get_mask(), GREY)).hexdigest()
        state.append(entry)
    return state


def composite(image):
    copy = image.duplicate()
    layer = copy.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
    data, (_, x, y) = pixels(layer), layer.get_offsets()
    width = layer.get_width()
    copy.delete()
    return data, x, y, width


def changed_outside_selection(before, after, selection):
    """Composite pixels where nothing is selected that differ."""
    (a, *_), (b, *_) = before, after
    return sum(a[i * 4:i * 4 + 4] != b[i * 4:i * 4 + 4] for i in range(W * H) if selection[i] == 0)


def call(label, name, image=None, drawables=None, **arguments):
    """Run a procedure non-interactively; record under `label` its status, message, return value and the
    layers it added."""
    before = {item.get_id() for item in walk(image.get_layers())} if image is not None else set()
    result, seconds = run_procedure(name, image, drawables, **arguments)
    status = result.index(0)
    entry = {"status": status.value_nick, "seconds": seconds, "new": []}
    if status != Gimp.PDBStatusType.SUCCESS:
        entry["error"] = result.index(1) if result.length() > 1 else ""
    elif result.length() > 1:
        value = result.index(1)
        entry["value"] = value if isinstance(value, str) else (value.get_name() if value else None)
        returned[label] = value
    if image is not None:
        items = list(walk(image.get_layers()))
        for index, item in enumerate(items):
            if item.get_id() not in before:
                _, x, y = item.get_offsets()
                entry["new"].append({"name": item.get_name(), "x": x, "y": y, "width": item.get_width(),
                                     "height": item.get_height(), "opacity": item.get_opacity(),
                                     "parent": item.get_parent().get_name() if item.get_parent() else None,
                                     "below": items[index + 1].get_name() if index + 1 < len(items) else None})
    report["calls"][label] = entry
    return entry


def by_name(image, name):
    return next(item for item in walk(image.get_layers()) if item.get_name() == name)


def settings(label, server, transport="auto", test=True):
    return call(label, "settings", server=server, transport=transport, test_connection=test)


def layer_sha(label):
    return hashlib.sha256(pixels(returned[label])).hexdigest()


report["gimp_has_grpc"] = importlib.util.find_spec("grpc") is not None
report["settings_file"] = str(Gimp.directory()) + "/gan-collage.json"
image = build_image()
report["before"] = snapshot(image)
selection = pixels(image.get_selection(), GREY)
composite_before = composite(image)
steps = PARAMS["steps"]

# the real server through Server settings (without a settings file the plug-in would try 127.0.0.1:50051,
# where an artist's own server may run: that default is checked without GIMP, in tests/plugin/test_config.py)
settings("settings", PARAMS["server"])
image.set_selected_layers([by_name(image, "patch")])
def mask_against_selection(label):
    """How the new layer's mask compares with the selection over the layer: (pixels where the mask exceeds
    the selection, pixels where it is lower, masked pixels where nothing is selected)."""
    layer = by_name(image, report["calls"][label]["value"])
    _, x, y = layer.get_offsets()
    over = image.get_selection().get_buffer().get(Gegl.Rectangle.new(x, y, layer.get_width(), layer.get_height()),
                                                  1.0, GREY, Gegl.AbyssPolicy.NONE)
    pairs = list(zip(pixels(layer.get_mask(), GREY), bytes(over)))
    return [sum(m > s for m, s in pairs), sum(m < s for m, s in pairs), sum(m > 0 and s == 0 for m, s in pairs)]


call("realize", "realize", image)  # the image and nothing else: results go above the selected layer
report["realize_mask"] = mask_against_selection("realize")  # feathered 8 px inward by default
report["composite_changed_outside_selection"] = changed_outside_selection(composite_before, composite(image),
                                                                        selection)
report["selected_pixels"] = sum(value > 0 for value in selection)
# "Visible layers" leaves the first result out (the same collage again: the same pixels), unless asked
image.set_selected_layers([by_name(image, "patch")])
if call("realize again", "realize", image)["status"] == "success":
    report["again_is_the_same"] = layer_sha("realize again") == layer_sha("realize")
    image.remove_layer(returned["realize again"])
image.set_selected_layers([by_name(image, "patch")])
if call("realize with results", "realize", image, include_results=True)["status"] == "success":
    report["with_results_differs"] = layer_sha("realize with results") != layer_sha("realize")
    image.remove_layer(returned["realize with results"])
image.set_selected_layers([by_name(image, "patch")])
image.set_selected_layers([by_name(image, "masked"), by_name(image, "child")])
call("refine", "refine", image, method="optimize", steps=steps, seed=3, layers="selected", feather=0.0)
report["refine_mask"] = mask_against_selection("refine")  # no feather: the selection itself
call("project", "project", image, drawables=[by_name(image, "child")], method="hybrid", steps=steps)
call("interpolate", "interpolate", image, drawables=[by_name(image, "patch"), by_name(image, "background")],
     frames=3, frame_ms=80)
call("style-mix", "style-mix", image, drawables=[by_name(image, "masked"), by_name(image, "child")], split=2)
call("local-blend", "local-blend", image, drawables=[by_name(image, "background"), by_name(image, "patch")],
     start_layer=1)

# errors leave the image as it was
before_errors = snapshot(image)
call("one layer", "interpolate", image, drawables=[by_name(image, "patch")])  # the artist's mistake
call("split too high", "style-mix", image, drawables=[by_name(image, "masked"), by_name(image, "child")], split=50)
indexed = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)
new_layer(indexed, "paint", W, H, 0, 0, 100.0, (10, 20, 200))
indexed.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False, "")
call("indexed", "realize", indexed)
report["indexed_layers"] = len(indexed.get_layers())
report["indexed_type"] = indexed.get_base_type().value_nick
indexed.delete()
huge = Gimp.Image.new(20000, 20000, Gimp.ImageBaseType.RGB)
new_layer(huge, "small", 8, 8, 0, 0, 100.0, (1, 2, 3))
call("huge canvas", "realize", huge)
huge.delete()
with open(report["settings_file"], "w") as damaged:
    damaged.write("{not json")
call("damaged settings", "realize", image)
settings("unreachable settings", PARAMS["unreachable"])  # also replaces the damaged file
call("unreachable", "realize", image)
report["changed_by_errors"] = [[a, b] for a, b in zip(before_errors, snapshot(image)) if a != b]
report["unchanged_after_errors"] = snapshot(image) == before_errors
# grpcio asked for: works only where GIMP's Python has it
settings("forced grpcio", PARAMS["server"], transport="grpcio")

# cancelling: GIMP kills the plug-in; the test plays GIMP's part once it sees this file and the job running
settings("restored", PARAMS["server"])
open(os.path.join(OUT, "cancel-now"), "w").close()
call("cancelled", "refine", image, method="optimize", steps=10000)
report["unchanged_after_cancel"] = snapshot(image) == before_errors

report["after"] = snapshot(image)
report["selection_unchanged"] = pixels(image.get_selection(), GREY) == selection
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(os.path.join(OUT, "result.xcf")), None)
with open(os.path.join(OUT, "report.json"), "w") as out:
    json.dump(report, out, indent=1)
image.delete()
