# Run by python-fu-eval inside a real GIMP 3 with an X display (tests/gimp/test_live_preview_in_gimp.py,
# tests/gimp/live_bench.py).
# It opens the Live preview window in this process with the code its procedure runs (live_window.open_window:
# a procedure called through the PDB would hold this batch until the window closed), then plays the artist
# from GTK's main loop: it changes the image through the PDB, as GIMP's tools do, and waits for the
# window to notice. PARAMS["mode"]:
#   "test":  first preview; a layer moved -> a new preview (and a photograph of the window); Apply; a
#            change then Apply at once (it waits for the new state's preview); Refine. Layers before and
#            after each Apply are recorded.
#   "bench": a side x side document with 3 layers; `changes` moves of a layer, each after a random pause,
#            each timed from the change to the preview on screen, with the window's phases.
import json
import os
import random
import sys
import time
import traceback

import gi

gi.require_version("Gdk", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import Gdk, Gegl, Gimp, GLib, Gtk  # noqa: E402

IN, OUT = os.environ["IN_DIR"], os.environ["OUT_DIR"]
PARAMS = json.load(open(os.path.join(IN, "params.json")))
sys.path.insert(0, IN)
from batch_tools import RGBA, by_name, described, digest, painted  # noqa: E402

sys.path.insert(0, os.path.join(Gimp.directory(), "plug-ins", "gan_collage"))
from core import messages, observer  # noqa: E402  (core first: the plug-in's vendor/ on sys.path)
from core.settings import Config  # noqa: E402
from ui import live_window  # noqa: E402

USER = ("background", "photo", "patch")
setup = Config(server=PARAMS["server"], model=PARAMS.get("model", ""))
report = {"mode": PARAMS["mode"]}


class Seen:
    """The observer hook for this batch: every preview's timings and every status text, in order (the window
    itself keeps neither)."""

    def __init__(self):
        self.history, self.statuses = [], []

    def watching(self, kind):
        return kind in ("live-preview", "live-status")

    def record(self, kind, entry):
        (self.history if kind == "live-preview" else self.statuses).append(entry)


seen = Seen()
observer.current = seen


def build(side):
    image = Gimp.Image.new(side, side, Gimp.ImageBaseType.RGB)
    painted(image, "background", side, side, 0, 0)
    painted(image, "photo", side // 2, side // 3, side // 8, side // 4)
    painted(image, "patch", side // 4, side // 4, side // 2, side // 2)
    return image


def originals(image):
    return [described(by_name(image, name)) for name in USER]


def photograph(window, path):
    """The window as X shows it (what the artist sees), saved as PNG."""
    surface = window.window.get_window()
    Gdk.pixbuf_get_from_window(surface, 0, 0, surface.get_width(), surface.get_height()).savev(path, "png", [], [])


def test_script(window, image):
    yield (lambda: seen.history), "the first preview"
    report["first_status"] = window.status.get_text()
    first = digest(window.controller.shown_result["generated"]["rgba"])
    patch = by_name(image, "patch")
    _, x, y = patch.get_offsets()
    moved = time.monotonic()
    patch.set_offsets(x + 6, y + 3)
    yield (lambda: seen.history[-1]["detected"] >= moved), "the preview of the moved layer"
    report["moved_preview"] = {"differs": digest(window.controller.shown_result["generated"]["rgba"]) != first,
                               "latency": seen.history[-1]["shown"] - moved, "status": window.status.get_text()}
    yield from pause(0.3)
    rechecks = window.controller.rechecks
    painted_at = time.monotonic()  # paint on the patch: no layer moves, only pixels change
    width, height = patch.get_width() // 2, patch.get_height() // 2
    buffer = patch.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), RGBA, b"\xf0\x20\x20\xff" * (width * height))
    buffer.flush()
    patch.update(0, 0, width, height)
    yield (lambda: seen.history[-1]["detected"] >= painted_at), "the preview of the painted layer"
    report["painted_preview"] = {"latency": seen.history[-1]["shown"] - painted_at,
                                 "by_recheck": window.controller.rechecks > rechecks}
    yield from pause(0.3)
    photograph(window, os.path.join(OUT, "live-window.png"))

    selected = [layer.get_name() for layer in image.get_selected_layers()]
    report["apply"] = {"before": originals(image), "count": len(image.get_layers())}
    window.apply_button.clicked()
    yield (lambda: len(window.added) == 1), "Apply"
    report["apply"].update(after=originals(image), count_after=len(image.get_layers()),
                           new=described(window.added[0]),
                           selected_after=[layer.get_name() for layer in image.get_selected_layers()],
                           selected_before=selected, position=[layer.get_name() for layer in image.get_layers()])

    patch.set_offsets(x, y)  # a change, and Apply before its preview is there
    changed = time.monotonic()
    window.apply_button.clicked()
    report["pending"] = {"waited": window.apply_pending, "before": originals(image)}
    yield (lambda: len(window.added) == 2), "Apply after a change"
    report["pending"].update(after=originals(image), new=described(window.added[1]),
                             for_the_change=seen.history[-1]["detected"] >= changed)

    report["refine"] = {"before": originals(image)}
    window.refine_button.clicked()
    report["refine"]["label_while"] = window.refine_button.get_label()
    yield (lambda: len(window.added) == 3 or window.controller.refining is None and seen.statuses[-1].startswith(
        "Refin")), "Refine"
    report["refine"].update(after=originals(image), applied=[layer.get_name() for layer in window.added],
                            status=window.status.get_text(), new=described(window.added[-1]),
                            label_after=window.refine_button.get_label())
    report["layers"] = [layer.get_name() for layer in image.get_layers()]

    image.delete()  # the artist closes the image under the window
    yield (lambda: seen.statuses[-1].startswith("The image was closed")), "the window to notice the image closed"
    report["closed"] = {"status": seen.statuses[-1], "apply": window.apply_button.get_sensitive(),
                        "refine": window.refine_button.get_sensitive()}


def bench_script(window, image):
    yield (lambda: seen.history), "the first preview"
    patch = by_name(image, "patch")
    _, x, y = patch.get_offsets()
    rng = random.Random(0)
    runs = []
    for change in range(PARAMS["changes"]):
        yield from pause(rng.uniform(0.0, 0.3))  # anywhere in the poll's cycle
        changed = time.monotonic()
        patch.set_offsets(x + (change + 1) % 2 * 4, y)  # moved there and back: a new state every time
        yield (lambda: seen.history[-1]["detected"] >= changed), f"the preview of change {change}"
        entry = seen.history[-1]
        runs.append({"total": entry["shown"] - changed, "wait": entry["detected"] - changed, "read": entry["read"],
                     "dispatch": entry["dispatch"], "call": entry["call"], "server": entry["server"],
                     "queue": entry["queue"], "show": entry["shown"] - entry["answered"]})
    report["runs"] = runs
    report["dropped"] = window.controller.dropped


def pause(seconds):
    until = time.monotonic() + seconds
    yield (lambda: time.monotonic() >= until), f"a pause of {seconds:.2f} s"


class Driver:
    """Runs a script's steps on GTK's main loop: each step yields (condition, what) and the next one starts
    once the condition holds (within LIMIT seconds)."""
    LIMIT = 90.0

    def __init__(self, window, steps):
        self.window, self.steps, self.waiting = window, steps, None
        GLib.timeout_add(10, self.tick)

    def tick(self):
        try:
            while self.waiting is None or self.waiting[0]():
                condition, what = next(self.steps)
                self.waiting = (condition, what, time.monotonic() + self.LIMIT)
            if time.monotonic() > self.waiting[2]:
                raise TimeoutError(f"waited {self.LIMIT} s for {self.waiting[1]}; the window said "
                                   f"{seen.statuses[-3:]}")
            return True
        except StopIteration:
            pass
        except Exception:
            report["error"] = traceback.format_exc()
        self.window.close()
        return False


if PARAMS["mode"] == "test":  # from a script the procedure says it is a window
    from batch_tools import run_procedure

    result, _ = run_procedure("live", build(8))
    report["non_interactive"] = {"status": result.index(0).value_nick, "message": result.index(1)}
image = build(PARAMS["side"])
if PARAMS.get("selection"):
    image.select_rectangle(Gimp.ChannelOps.REPLACE, *PARAMS["selection"])
image.set_selected_layers([by_name(image, "photo")])
window = live_window.open_window(image, setup, PARAMS.get("values", {}), lambda error: messages.one_line(error, setup),
                                 Gtk.main_quit)
Driver(window, (test_script if PARAMS["mode"] == "test" else bench_script)(window, image))
Gtk.main()
report["statuses"] = seen.statuses
report["history"] = seen.history
with open(os.path.join(OUT, "live.json"), "w") as out:
    json.dump(report, out, indent=1)
if image.is_valid():
    image.delete()
