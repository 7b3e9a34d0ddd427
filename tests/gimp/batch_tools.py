# Copied beside params.json ($IN_DIR) by tests/gimp/gimp_run.py (run_gimp) for the batch scripts run inside GIMP.
import hashlib
import json
import time

from gi.repository import Gegl, Gimp

PREFIX = "python-fu-gan-collage-"
RGBA, GREY = "R'G'B'A u8", "Y u8"
LATENT = "gan-collage-latent"


def pixels(drawable, fmt=RGBA):
    """A drawable's pixels (RGBA bytes, or `fmt`)."""
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE))


def painted(image, name, width, height, x, y):
    """A new top layer with a smooth made-up picture (different along rows and columns)."""
    layer = Gimp.Layer.new(image, name, width, height, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    layer.set_offsets(x, y)
    row_values = [bytes(v for col in range(width) for v in ((7 * col) % 256, (11 * row) % 256,
                                                             (3 * (row + col)) % 256, 255)) for row in range(height)]
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), RGBA, b"".join(row_values))
    buffer.flush()
    return layer


def latent_bytes(layer):
    parasite = layer.get_parasite(LATENT)
    return None if parasite is None else bytes(v & 0xFF for v in parasite.get_data())


def digest(data):
    return None if data is None else hashlib.sha256(data).hexdigest()


def by_name(image, name):
    return next(layer for layer in image.get_layers() if layer.get_name() == name)


def run_procedure(name, image=None, drawables=None, **arguments):
    """Run a GAN Collage procedure non-interactively (argument names with _ for -): (its return values,
    seconds)."""
    procedure = Gimp.get_pdb().lookup_procedure(PREFIX + name)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if image is not None:
        config.set_property("image", image)
    if drawables is not None:
        config.set_core_object_array("drawables", drawables)
    for key, value in arguments.items():
        config.set_property(key.replace("_", "-"), value)
    started = time.time()
    result = procedure.run(config)
    return result, round(time.time() - started, 3)


def recorded(calls, label, name, image=None, drawables=None, **arguments):
    """Run a GAN Collage procedure (run_procedure) and record under calls[label] its status and seconds, then
    its error, its value (no image) or the layer it returned (described) and the image's layer count; the
    layer, or None."""
    result, seconds = run_procedure(name, image, drawables, **arguments)
    status = result.index(0)
    entry = {"status": status.value_nick, "seconds": seconds}
    if status != Gimp.PDBStatusType.SUCCESS:
        entry["error"] = result.index(1) if result.length() > 1 else ""
    elif image is None:
        entry["value"] = result.index(1)
    else:
        entry["layer"] = described(result.index(1))
        entry["count"] = len(image.get_layers())
    calls[label] = entry
    return result.index(1) if status == Gimp.PDBStatusType.SUCCESS and image is not None else None


def described(layer):
    """Name, placement, digests of pixels, mask and latent parasite."""
    _, x, y = layer.get_offsets()
    data = latent_bytes(layer)
    mask = layer.get_mask()
    entry = {"name": layer.get_name(), "box": [x, y, layer.get_width(), layer.get_height()],
             "sha": digest(pixels(layer)),
             "mask_sha": digest(pixels(mask, GREY)) if mask is not None else None,
             "latent_bytes": None if data is None else len(data),
             "latent_sha": digest(data)}
    if data is not None:
        length = int.from_bytes(data[4:8], "little")
        entry["latent_magic"], entry["latent_header"] = list(data[:4]), json.loads(data[8:8 + length])
    return entry
