# Run by python-fu-eval inside a real GIMP 3 (tests/gimp/click_bench.py): builds each benchmark document,
# clicks "Realize collage - fast" on it through the PDB a few times (after one warm-up), removes each new
# layer again (so that the next click sees the same document), and writes the timings to $OUT_DIR.
import json
import os
import time

from gi.repository import Gegl, Gimp

IN, OUT = os.environ["IN_DIR"], os.environ["OUT_DIR"]
PARAMS = json.load(open(os.path.join(IN, "params.json")))
PROCEDURE = "python-fu-gan-collage-realize"
TIMINGS = PARAMS.get("timings")  # the plug-in appends a line per run here (GAN_COLLAGE_TIMINGS)


def fill(layer, side, channels, seed):
    """Noise (RGBA layers: with noisy alpha, a third of it fully transparent), set in bands of rows."""
    buffer = layer.get_buffer()
    rows = max(1, (16 << 20) // (side * channels))
    for top in range(0, side, rows):
        height = min(rows, side - top)
        data = bytearray(os.urandom(side * height * channels))
        if channels == 4:
            data[3::12] = bytes(len(data[3::12]))
        buffer.set(Gegl.Rectangle.new(0, top, side, height), "R'G'B'A u8" if channels == 4 else "R'G'B' u8",
                   bytes(data))
    buffer.flush()


def build(case):
    side = case["side"]
    image = Gimp.Image.new(side, side, Gimp.ImageBaseType.RGB)
    for index in range(case["layers"]):
        kind = Gimp.ImageType.RGB_IMAGE if index == 0 else Gimp.ImageType.RGBA_IMAGE
        layer = Gimp.Layer.new(image, f"layer {index}", side, side, kind, 100.0 if index == 0 else 80.0,
                               Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, None, 0)
        fill(layer, side, 3 if index == 0 else 4, index)
    if case.get("selection"):
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *case["selection"])
    return image


def settings():
    procedure = Gimp.get_pdb().lookup_procedure("python-fu-gan-collage-settings")
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    for key, value in (("server", PARAMS["server"]), ("transport", "direct"), ("test-connection", False)):
        config.set_property(key, value)
    assert procedure.run(config).index(0) == Gimp.PDBStatusType.SUCCESS


def click(image):
    """One run of the procedure: (seconds, the plug-in's timing line or None)."""
    procedure = Gimp.get_pdb().lookup_procedure(PROCEDURE)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    before = len(open(TIMINGS).readlines()) if TIMINGS and os.path.exists(TIMINGS) else 0
    started = time.time()
    result = procedure.run(config)
    seconds = time.time() - started
    status = result.index(0)
    if status != Gimp.PDBStatusType.SUCCESS:
        raise RuntimeError(f"{PROCEDURE}: {status.value_nick}: {result.index(1)}")
    layer = result.index(1)
    size = (layer.get_width(), layer.get_height())
    image.remove_layer(layer)
    line = None
    if TIMINGS and os.path.exists(TIMINGS):
        lines = open(TIMINGS).readlines()
        line = json.loads(lines[-1]) if len(lines) > before else None
    return {"clicked": started, "seconds": seconds, "plugin": line, "layer": size}


settings()
report = {}
for case in PARAMS["cases"]:
    image = build(case)
    open(os.path.join(OUT, f"ready-{case['name']}"), "w").close()  # the driver resets the server's peak RSS
    click(image)  # warm-up: the server's first request for this size, GIMP's first scaled reads
    report[case["name"]] = [click(image) for _ in range(PARAMS["repeats"])]
    open(os.path.join(OUT, f"done-{case['name']}"), "w").close()
    image.delete()
with open(os.path.join(OUT, "report.json"), "w") as out:
    json.dump(report, out, indent=1)
