# Run by python-fu-eval inside a real GIMP 3 (tests/gimp/test_latents_in_gimp.py): a realized layer keeps its latent as
# a parasite through an XCF save and reopen; Edit attributes on it, on a plain layer (projected first) and an
# interpolation of two layers with latents. The test reads the server's log for which calls each made; this
# records what GIMP shows in $OUT_DIR/latents.json.
import functools
import json
import os
import sys

from gi.repository import Gimp, Gio

IN, OUT = os.environ["IN_DIR"], os.environ["OUT_DIR"]
PARAMS = json.load(open(os.path.join(IN, "params.json")))
sys.path.insert(0, IN)
from batch_tools import by_name, described, painted, recorded  # noqa: E402

report = {"calls": {}}
call = functools.partial(recorded, report["calls"])


def originals(image, names):
    return [described(by_name(image, name)) for name in names]


call("settings", "settings", None, None, server=PARAMS["server"])
image = Gimp.Image.new(64, 48, Gimp.ImageBaseType.RGB)
painted(image, "background", 64, 48, 0, 0)
painted(image, "photo", 20, 14, 40, 30)
image.select_ellipse(Gimp.ChannelOps.REPLACE, 6, 4, 36, 30)
USER = ("background", "photo")
report["before"] = originals(image, USER)
realized = call("realize", "realize", image, [by_name(image, "background")])

path = os.path.join(OUT, "latents.xcf")
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path), None)
image.delete()
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
report["reopened"] = [described(layer) for layer in image.get_layers()]

realized = by_name(image, report["calls"]["realize"]["layer"]["name"])
edited = call("edit stored", "edit", image, [realized], edits="pc1=2, sefa1=-1", rows="fine")
call("edit photo", "edit", image, [by_name(image, "photo")], edits="pc2=1.5", rows="all")
call("interpolate stored", "interpolate", image, [realized, edited], frames=2)
before_errors = [described(layer) for layer in image.get_layers()]
call("unknown direction", "edit", image, [realized], edits="no_such_direction=1")
call("no change", "edit", image, [realized], edits="pc1=0")
report["unchanged_after_errors"] = [described(layer) for layer in image.get_layers()] == before_errors
report["after"] = originals(image, USER)
report["realized_after"] = described(realized)
with open(os.path.join(OUT, "latents.json"), "w") as out:
    json.dump(report, out, indent=1)
image.delete()
