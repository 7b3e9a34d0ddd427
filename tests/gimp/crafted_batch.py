# Run by python-fu-eval inside a real GIMP 3 (tests/gimp/test_latents_in_gimp.py): a layer carrying crafted
# latent parasites
# (as in an XCF someone sent: a square of 16384 px on the 48 px layer, of Infinity or NaN, far away; values NaN
# or past what the server takes), each under Edit attributes, Interpolate and Mix styles; then Server settings
# given a token that cannot travel in gRPC metadata. Records each call's status, message and wall-clock span
# (the test measures memory meanwhile), and the calls after which the artist's layers were not as before, in
# $OUT_DIR/crafted.json. PARAMS may name the "cases" and "actions" to run (default: all).
import functools
import json
import os
import sys
import time

from gi.repository import Gimp

IN, OUT = os.environ["IN_DIR"], os.environ["OUT_DIR"]
PARAMS = json.load(open(os.path.join(IN, "params.json")))
sys.path.insert(0, IN)
from batch_tools import LATENT, by_name, described, latent_bytes, painted, recorded  # noqa: E402

report = {"calls": {}}
call = functools.partial(recorded, report["calls"])


def timed(label, *args, **arguments):
    """`call`, with the call's wall-clock span (time.time()) recorded for the memory figures."""
    started = time.time()
    call(label, *args, **arguments)
    report["calls"][label].update(started=started, ended=time.time())


def crafted(genuine, square=None, values=None):
    """The genuine parasite's bytes with the header's square replaced by this JSON text, or every value
    replaced by this float32 (4 bytes)."""
    length = int.from_bytes(genuine[4:8], "little")
    header, data = genuine[8:8 + length].decode(), genuine[8 + length:]
    if square is not None:
        start = header.index('"square":') + len('"square":')
        header = header[:start] + square + header[header.index("]", start) + 1:]
    if values is not None:
        data = values * (len(data) // 4)
    return genuine[:4] + len(header.encode()).to_bytes(4, "little") + header.encode() + data


call("settings", "settings", None, None, server=PARAMS["server"])
image = Gimp.Image.new(64, 48, Gimp.ImageBaseType.RGB)
photo = painted(image, "photo", 48, 48, 8, 0)  # the lower layer: the two-layer actions place their results over it
painted(image, "other", 32, 32, 16, 8)
ARTISTS = ("photo", "other")
realized = call("realize", "realize", image, [photo])  # a genuine latent of the server's model to start from
genuine = latent_bytes(realized)
image.remove_layer(realized)

CASES = {"square 16384": {"square": "[0,0,16384]"}, "square Infinity": {"square": "[0,0,Infinity]"},
         "square NaN": {"square": "[NaN,0,48]"}, "square far away": {"square": f"[{10 ** 12},0,48]"},
         "values NaN": {"values": b"\x00\x00\xc0\x7f"}, "values 1e30": {"values": b"\xca\xf2\x49\x71"}}
report["changed"] = []  # calls after which the artist's layers (pixels, place, parasites) were not as before
for case in PARAMS.get("cases") or CASES:
    photo.attach_parasite(Gimp.Parasite.new(LATENT, Gimp.PARASITE_PERSISTENT, [
        value - 256 if value > 127 else value for value in crafted(genuine, **CASES[case])]))
    for action, arguments in (("edit", {"edits": "pc1=2"}), ("interpolate", {}), ("style-mix", {"split": 2})):
        if action not in PARAMS.get("actions", [action]):
            continue
        before = [described(layer) for layer in image.get_layers()]
        timed(f"{case}: {action}", action, image, [photo] if action == "edit" else [photo, by_name(image, "other")],
              **arguments)
        for added in image.get_layers():
            if added.get_name() not in ARTISTS:
                image.remove_layer(added)
        if [described(layer) for layer in image.get_layers()] != before:
            report["changed"].append(f"{case}: {action}")

settings_file = os.path.join(Gimp.directory(), "gan-collage.json")
saved = open(settings_file).read()
call("bad token", "settings", None, None, server=PARAMS["server"], token="clé")
report["settings_unchanged"] = open(settings_file).read() == saved
with open(os.path.join(OUT, "crafted.json"), "w") as out:
    json.dump(report, out, indent=1)
image.delete()
