"""Filters > Generative > GAN Collage > Live preview: a window that stays open while the artist works.

It shows the region Realize would make (the selection and its margin, or the canvas) at the model's
resolution, scaled up, and follows the image: live_controller polls it (a cheap probe every POLL_MS,
the full read when the probe changed; never more than READ_SHARE of the time goes to polling, so a big
document stays responsive), asks for a new preview when it changed and drops answers the image has
outrun. A spinner turns while a request is
out; the status line says how long the last update took, or why there is none (in the artist's words,
with the retry when the server is away).

Apply adds the preview as a new layer exactly as "Realize collage - fast" would (same placement, mask
from the selection, name, latent; one undo step); when the image changed since, it waits for the
preview of the image as it is. Refine optimizes from the preview's latent (progress bar, cancel with
the same button), then adds that. The layers the artist had selected stay selected.

Each status text and each preview's timings go to the observer hook (core/observer.py) as they happen,
and on closing the models offered, the controls' values, the previews shown and the layers added: the
window keeps no list that grows while it is open.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import Gimp, GimpUi, GLib, Gtk  # noqa: E402

import gimp_io  # noqa: E402
from core import observer  # noqa: E402
from core.actions import realized_layer  # noqa: E402
from core.connection import connect  # noqa: E402
from core.errors import UserError  # noqa: E402
from core.layer_data import Options  # noqa: E402
from core.limits import Limits  # noqa: E402
from core.live_controller import LiveController  # noqa: E402
from core.models import model_label  # noqa: E402
from core.requests import realize_request  # noqa: E402
from server.shared.calls import Progress, Status, status_of  # noqa: E402
from server.shared.defaults import DEFAULT_STEPS, MAX_STEPS  # noqa: E402
from ui.gtk_parts import label, pixbuf, preview_column  # noqa: E402

POLL_MS = 100       # the shortest time between two looks at the image
READ_SHARE = 0.25   # the longest share of the time spent reading it
PREVIEW_SIDE = 320  # pixels on screen
MAX_PREVIEW_STEPS = 100
DEFAULTS = {"layers": "visible", "method": "regressor", "steps": 8, "seed": 0, "truncation": 1.0,
            "refine-steps": DEFAULT_STEPS}
METHODS = (("regressor", "Regressor (fastest)"), ("hybrid", "Hybrid: regressor + steps (closer)"))
LAYERS = (("visible", "Visible layers"), ("selected", "Selected layers only"))


def _combo(entries, active: str) -> Gtk.ComboBoxText:
    combo = Gtk.ComboBoxText()
    for nick, text in entries:
        combo.append(nick, text)
    combo.set_active_id(active)
    return combo


def _spin(low: int, high: int, value: int) -> Gtk.SpinButton:
    spin = Gtk.SpinButton.new_with_range(low, high, 1)
    spin.set_value(max(low, min(high, value)))
    return spin


def options_of(request_options: dict) -> Options:
    """The Options a request's options dict was made from (for the new layer's name)."""
    return Options(request_options["method"], request_options.get("steps", 0),
                           request_options.get("seed", 0), truncation=request_options.get("truncation", 1.0))


class LiveWindow:
    """The window and its controls; `controller` does the polling and the calls."""

    def __init__(self, image, setup, values: dict, explain: Callable[[Exception], str],
                 on_closed: Callable[[], None] = lambda: None):
        self.image, self.setup, self.explain, self.on_closed = image, setup, explain, on_closed
        self.values = {**DEFAULTS, **values}
        self.models: list = []
        self.limits = Limits()
        self.previews = 0          # previews shown (each one's timings go to the observer hook)
        self.added: list = []      # the layers added (GIMP's), as many as the artist asked for
        self.apply_pending = False
        self.closed = False
        self._timer: Optional[int] = None

        self.window = GimpUi.Dialog(title="GAN Collage live preview", role="gan-collage-live", modal=False)
        self.window.set_default_response(Gtk.ResponseType.CLOSE)
        self.refine_button = self.window.add_button("_Refine", 1)
        self.apply_button = self.window.add_button("_Apply", Gtk.ResponseType.APPLY)
        self.close_button = self.window.add_button("_Close", Gtk.ResponseType.CLOSE)
        self.window.connect("response", self._response)
        self.window.connect("delete-event", lambda *args: self.close() or True)
        self._build()
        # its outcomes arrive through GTK's main loop, so none before this constructor has returned
        self.controller = LiveController(self.read, self, lambda: connect(setup), GLib.idle_add,
                                         probe=self.probe)
        self._sensitivity()
        self.window.show_all()
        self.progress_bar.hide()
        self.close_button.grab_focus()  # Return closes, as in GIMP's dialogs; the controls take no keys unasked
        GimpUi.window_set_transient(self.window)
        self._status("Connecting to the GAN Collage server...", busy=True)

    # ------------------------------------------------------------------------------ building

    def _build(self) -> None:
        body = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12, border_width=12)
        self.window.get_content_area().pack_start(body, True, True, 0)

        left, self.picture = preview_column(body, PREVIEW_SIDE)
        line = Gtk.Box(spacing=6)
        self.spinner = Gtk.Spinner()
        line.pack_start(self.spinner, False, False, 0)
        self.status = label("")
        self.status.set_line_wrap(True)
        self.status.set_max_width_chars(44)
        self.status.set_size_request(PREVIEW_SIDE - 24, -1)
        line.pack_start(self.status, True, True, 0)
        left.pack_start(line, False, False, 0)
        self.progress_bar = Gtk.ProgressBar(show_text=True)
        left.pack_start(self.progress_bar, False, False, 0)

        grid = Gtk.Grid(column_spacing=8, row_spacing=6)
        self.model = Gtk.ComboBoxText()
        self.method = _combo(METHODS, self.values["method"])
        self.steps = _spin(1, MAX_PREVIEW_STEPS, self.values["steps"])
        self.seed = _spin(0, 2**31 - 1, self.values["seed"])
        self.truncation = Gtk.Scale.new_with_range(Gtk.Orientation.HORIZONTAL, 0.0, 1.0, 0.05)
        self.truncation.set_value(self.values["truncation"])
        self.truncation.set_digits(2)
        self.truncation.set_hexpand(True)
        self.layers = _combo(LAYERS, self.values["layers"])
        self.refine_steps = _spin(1, MAX_STEPS, self.values["refine-steps"])
        rows = (("_Model", self.model, "The server's models (resolution, latent); Live preview needs one "
                 "with a regressor"),
                ("M_ethod", self.method, "Regressor: one pass. Hybrid: the regressor, then a few optimization "
                 "steps (slower, closer to the collage)"),
                ("S_teps", self.steps, "Hybrid's optimization steps per preview"),
                ("S_eed", self.seed, "Where Hybrid's optimization starts its random search"),
                ("_Truncation", self.truncation, "Pull the result toward the model's average face: 1 = as "
                 "found, lower = more typical, less like the collage"),
                ("_Layers", self.layers, "Which layers make the collage (GAN Collage's own results are left "
                 "out of the visible ones)"),
                ("Re_fine steps", self.refine_steps, "Optimization steps Refine runs from the preview"))
        for row, (text, widget, tip) in enumerate(rows):
            caption = Gtk.Label.new_with_mnemonic(text)
            caption.set_xalign(0.0)
            caption.set_mnemonic_widget(widget)
            for part in (caption, widget):
                part.set_tooltip_text(tip)
            grid.attach(caption, 0, row, 1, 1)
            grid.attach(widget, 1, row, 1, 1)
        for widget in (self.model, self.method, self.layers):
            widget.connect("changed", self._changed)
        for widget in (self.steps, self.seed, self.truncation):
            widget.connect("value-changed", self._changed)
        body.pack_start(grid, True, True, 0)

    def _sensitivity(self) -> None:
        hybrid = self.method.get_active_id() == "hybrid"
        refining = self.controller.refining is not None
        for widget in (self.steps, self.seed):
            widget.set_sensitive(hybrid and not refining)
        for widget in (self.model, self.method, self.truncation, self.layers, self.refine_steps):
            widget.set_sensitive(not refining)
        usable = self.controller.shown_result is not None and not self.closed and self.image.is_valid()
        self.apply_button.set_sensitive(usable and not refining)
        self.refine_button.set_sensitive(usable)
        self.refine_button.set_label("_Stop refining" if refining else "_Refine")

    def _changed(self, widget) -> None:
        self._sensitivity()
        self.poll_soon()

    # ------------------------------------------------------------------------------ reading

    def chosen_model(self) -> dict:
        name = self.model.get_active_id()
        for model in self.models:
            if model["name"] == name:
                return model
        raise UserError("The GAN Collage server offers no model to use.")

    def options(self) -> Options:
        hybrid = self.method.get_active_id() == "hybrid"
        return Options("hybrid" if hybrid else "regressor", self.steps.get_value_as_int() if hybrid else 0,
                               self.seed.get_value_as_int() if hybrid else 0,
                               truncation=round(self.truncation.get_value(), 2))

    def _open_image_model(self) -> dict:
        """The chosen model; UserError when the image was closed or there is no model."""
        if not self.image.is_valid():
            raise UserError("The image was closed. Close this window, or open it again on another image.")
        return self.chosen_model()

    def read(self) -> dict:
        """The Realize request for the image as it is (UserError: nothing to realize, or no image)."""
        model = self._open_image_model()
        if not model["has_regressor"]:
            raise UserError(f"The model {model['name']!r} has no regressor, which Live preview needs. "
                                    "Pick another model.")
        self.limits.check_canvas(self.image.get_width(), self.image.get_height())
        canvas = gimp_io.read_canvas(self.image, model["resolution"], self.layers.get_active_id() == "selected")
        request = realize_request(canvas, self.options(), model["name"])
        self.limits.check_request(request)
        return request

    def probe(self) -> tuple:
        """A cheap stand-in for `read` that changes with it (see gimp_io.probe_canvas)."""
        model = self._open_image_model()
        return (model["name"], self.options(), gimp_io.probe_canvas(self.image, model["resolution"],
                                                                     self.layers.get_active_id() == "selected"))

    def poll_soon(self, delay_ms: float = 0) -> None:
        if self._timer is not None:
            GLib.source_remove(self._timer)
        self._timer = None if self.closed else GLib.timeout_add(int(delay_ms), self._tick)

    def _tick(self) -> bool:
        self._timer = None
        seconds = self.controller.poll()
        self.poll_soon(max(POLL_MS, 1000 * seconds / READ_SHARE))
        return False  # once: poll_soon arms the next

    # ------------------------------------------------------------------------------ the controller's View

    def _status(self, text: str, busy: bool = False) -> None:
        self.status.set_text(text)
        observer.current.record("live-status", text)
        if busy:
            self.spinner.start()
        else:
            self.spinner.stop()

    def connected(self, info: dict, models: list) -> None:
        """The server's info and models: when the window connects, and again after each reconnection."""
        self.limits = Limits.of(info)
        self.models = [model for model in models if model["available"]]
        wanted = (self.model.get_active_id() or self.setup.model
                  or next((m["name"] for m in self.models if m["is_default"]), ""))
        self.model.remove_all()
        for model in self.models:
            self.model.append(model["name"], model_label(model, say_no_regressor=True))
        self.model.set_active_id(wanted)  # fires "changed": the first poll
        if self.model.get_active_id() is None:
            self.model.set_active(0)
        self.poll_soon()

    def updating(self) -> None:
        self._status("Updating the preview...", busy=True)

    def preview(self, result: dict, timings: dict) -> None:
        self.picture.set_from_pixbuf(pixbuf(result["generated"], PREVIEW_SIDE))
        shown = time.monotonic()
        self.previews += 1
        observer.current.record("live-preview", dict(timings, shown=shown))
        total = shown - timings["detected"]
        self._status(f"Updated in {1000 * total:.0f} ms (reading the image {1000 * timings['read']:.0f} ms, "
                     f"the server {1000 * (timings['server'] + timings['queue']):.0f} ms).")
        self._sensitivity()
        if self.apply_pending:
            self.apply_pending = False
            self._insert(result, options_of(self.controller.shown_request["options"]))

    def progress(self, progress: Progress) -> None:
        if progress.status is Status.QUEUED:
            self.progress_bar.set_text("Waiting for the server...")
            return
        self.progress_bar.set_fraction(progress.fraction)
        self.progress_bar.set_text(f"Refining: {progress.stage} {progress.step}/{progress.total}")

    def failed(self, error: Exception, retry_in: float) -> None:
        if status_of(error) is Status.CANCELLED:
            text = "Refining stopped; the preview follows the image again."
        else:
            text = self.explain(error) + (f" Trying again in {retry_in:g} s." if retry_in else "")
        if self.apply_pending:  # nothing to add: Apply again once there is a preview
            self.apply_pending = False
            text = f"Nothing was added. {text}"
        self._status(text, busy=retry_in > 0)
        self._refine_done()

    def refined(self, result: dict) -> None:
        steps = self.refine_steps.get_value_as_int()
        self._insert(result, Options("optimize", steps, self.seed.get_value_as_int()))
        self._status(f"Refined in {steps} steps and added as a new layer.")
        self._refine_done()

    # ------------------------------------------------------------------------------ buttons

    def _response(self, window, response: int) -> None:
        if response == Gtk.ResponseType.APPLY:
            self.apply()
        elif response == 1:
            self.refine()
        else:
            self.close()

    def apply(self) -> None:
        """Add the preview as a layer; when the image changed since, the next preview, once it is there."""
        self.controller.poll()  # the image as it is now: a change not polled yet asks for its preview
        if self.controller.current:
            self._insert(self.controller.shown_result, options_of(self.controller.shown_request["options"]))
        else:
            self.apply_pending = True
            self._status("The image changed: adding the preview of it as it is now, once it is ready...", busy=True)
            self.poll_soon()

    def refine(self) -> None:
        controller = self.controller
        if controller.refining is not None:
            controller.cancel_refine()
            return
        try:
            request = self.read()
        except UserError as problem:
            self._status(str(problem))
            return
        steps, seed = self.refine_steps.get_value_as_int(), self.seed.get_value_as_int()
        request["options"] = {"method": "optimize", "space": "w+", "steps": steps, "seed": seed, "init": "latent",
                              "init_latent": controller.shown_result["latent"]}
        controller.refine(request, self.setup.timeout)
        self.progress_bar.set_fraction(0.0)
        self.progress_bar.set_text(f"Refining: 0/{steps}")
        self.progress_bar.show()
        self._status(f"Refining the preview with {steps} optimization steps...", busy=True)
        self._sensitivity()

    def _refine_done(self) -> None:
        self.progress_bar.hide()
        self._sensitivity()
        self.poll_soon()

    def _insert(self, result: dict, options: Options) -> None:
        if not self.image.is_valid():
            return
        selected = self.image.get_selected_layers()
        layer = realized_layer(result, self.image.get_width(), self.image.get_height(),
                                       gimp_io.selection_bounds(self.image) is not None, options,
                                       self.chosen_model()["name"])
        self.added += gimp_io.insert_layers(self.image, selected, [layer])
        self.image.set_selected_layers(selected)  # the artist goes on with the layers they were on
        Gimp.displays_flush()
        self._status(f"Added the layer \"{layer.name}\".")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            GLib.source_remove(self._timer)
            self._timer = None
        try:
            self.controller.close()
        finally:
            self._closed()

    def _closed(self) -> None:
        self.values = {"layers": self.layers.get_active_id(), "method": self.method.get_active_id(),
                       "steps": self.steps.get_value_as_int(), "seed": self.seed.get_value_as_int(),
                       "truncation": round(self.truncation.get_value(), 2),
                       "refine-steps": self.refine_steps.get_value_as_int()}
        observer.current.record("live-closed", {
            "procedure": "python-fu-gan-collage-live", "values": self.values,
            "models": [m["name"] for m in self.models],
            "previews": self.previews, "dropped": self.controller.dropped,
            "applied": [layer.get_name() for layer in self.added]})
        self.window.destroy()
        self.on_closed()


def open_window(image, setup, values: dict, explain: Callable[[Exception], str],
                on_closed: Callable[[], None] = lambda: None) -> LiveWindow:
    """Show the window (it lives while GTK's main loop runs); `on_closed` runs when it closes."""
    GimpUi.init("gan-collage-live")
    return LiveWindow(image, setup, values, explain, on_closed)


def run(image, setup, values: dict, explain: Callable[[Exception], str]) -> dict:
    """Show the window until the artist closes it; the controls' values then."""
    window = open_window(image, setup, values, explain, Gtk.main_quit)
    Gtk.main()
    return window.values
