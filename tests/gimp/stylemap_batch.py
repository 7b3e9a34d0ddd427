# Run by python-fu-eval inside a real GIMP 3 (tests/gimp/test_stylemap_in_gimp.py) with the plug-in set to a StyleMapGAN
# model: Realize (fast) twice on a 2-layer collage, Local blend of the two results with a selection (the whole
# stylemap: its result keeps the blended stylemap), the every-level blend and Mix styles (no latent),
# Interpolate, Edit attributes (the thirds refused, all of it moved), Project a plain layer; then an XCF save
# and reopen, and Interpolate and Edit on the reopened layers' stylemaps. The test reads the server's log for
# which calls each step made; this records what GIMP shows in $OUT_DIR/stylemap.json.
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


call("settings", "settings", None, None, server=PARAMS["server"], model=PARAMS["model"])
image = Gimp.Image.new(64, 48, Gimp.ImageBaseType.RGB)
painted(image, "background", 64, 48, 0, 0)
painted(image, "photo", 20, 14, 40, 30)
USER = ("background", "photo")
report["before"] = [described(by_name(image, name)) for name in USER]

image.select_ellipse(Gimp.ChannelOps.REPLACE, 6, 4, 36, 30)
first = call("realize", "realize", image, [by_name(image, "background")])
Gimp.Selection.none(image)
second = call("realize canvas", "realize", image, [by_name(image, "background")])  # the whole canvas
image.select_rectangle(Gimp.ChannelOps.REPLACE, 10, 10, 24, 20)
blend = call("blend", "local-blend", image, [first, second])  # mix space "w" by default: a stylemap result
call("blend levels", "local-blend", image, [first, second], mix_space="w_plus", start_layer=2)
call("mix", "style-mix", image, [first, second], split=3)
call("interpolate", "interpolate", image, [first, blend], frames=2)
call("edit fine", "edit", image, [blend], edits="pc1=2", rows="fine")
edited = call("edit all", "edit", image, [blend], edits="pc1=2, pc2=-1", rows="all")
call("project photo", "project", image, [by_name(image, "photo")])

path = os.path.join(OUT, "stylemap.xcf")
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path), None)
names = {label: report["calls"][label]["layer"]["name"] for label in ("realize", "blend", "edit all")}
image.delete()
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
report["reopened"] = {label: described(by_name(image, name)) for label, name in names.items()}
blend = by_name(image, names["blend"])
call("interpolate reopened", "interpolate", image, [blend, by_name(image, names["edit all"])], frames=3)
call("edit reopened", "edit", image, [blend], edits="pc3=1.5")
report["after"] = [described(by_name(image, name)) for name in USER]
with open(os.path.join(OUT, "stylemap.json"), "w") as out:
    json.dump(report, out, indent=1)
image.delete()
