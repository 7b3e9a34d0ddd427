"""Edit attributes' dialog: one slider per offered direction (attributes.offered), the rows choice and a
preview that follows them.

A change of the sliders waits DEBOUNCE_MS for the next one, then submits the values to
attributes.previews (EditLatent on the newest-wins worker, the newest values only); its answers come
back to GTK's main loop, and one for values that have changed since is not shown. OK reuses the
preview's answer when it is for the values chosen.

The edits of each preview shown go to the observer hook (core/observer.py) as it shows them, and its
sliders and the rows chosen as it closes: the dialog keeps no list that grows while it is open.
"""
from __future__ import annotations

from typing import Callable

import gi

gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import GimpUi, GLib, Gtk  # noqa: E402

from core import attributes, observer  # noqa: E402
from server.shared.calls import Failure, Result  # noqa: E402
from ui.gtk_parts import label as _label  # noqa: E402
from ui.gtk_parts import pixbuf, preview_column  # noqa: E402

DEBOUNCE_MS = 150
SLIDER = 5.0        # sigmas either way
PREVIEW_SIDE = 256  # pixels on screen
HEADINGS = {"ganspace": f"GANSpace: the {attributes.SHOWN_COMPONENTS} with the most variance",
            "sefa": f"SeFa: the first {attributes.SHOWN_COMPONENTS}"}


class EditDialog:
    def __init__(self, session, layer_name: str, stored, directions: list, edits: list, rows: str,
                 explain: Callable):
        self.dialog = GimpUi.Dialog(title="Edit attributes...", role="gan-collage-edit", modal=True)
        self.dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
        self.ok = self.dialog.add_button("_OK", Gtk.ResponseType.OK)
        self.dialog.set_default_response(Gtk.ResponseType.OK)
        self.explain = explain
        self.answers: dict = {}  # the newest answer, by its (edits, rows)
        self.pending = None
        self.sliders = {}
        start = dict(edits)
        body = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12, border_width=12)
        self.dialog.get_content_area().pack_start(body, True, True, 0)

        left, self.picture = preview_column(body, PREVIEW_SIDE)
        self.layer_name = layer_name
        self.status = _label(f"Preview of {layer_name}")
        self.status.set_line_wrap(True)
        self.status.set_max_width_chars(36)
        left.pack_start(self.status, False, False, 0)
        left.pack_start(_label("Strengths are in standard deviations\nof the model's latents; 0 = unchanged."),
                        False, False, 0)
        self.rows = Gtk.ComboBoxText()
        for nick, text in attributes.row_choices(stored.latent):
            self.rows.append(nick, text)
        if not self.rows.set_active_id(rows):  # a choice that does not apply to this latent (a stylemap)
            self.rows.set_active_id("default")
        self.rows.connect("changed", self._changed)
        line = Gtk.Box(spacing=6)
        rows_label = Gtk.Label.new_with_mnemonic("_Rows")
        rows_label.set_mnemonic_widget(self.rows)
        line.pack_start(rows_label, False, False, 0)
        line.pack_start(self.rows, True, True, 0)
        left.pack_start(line, False, False, 0)

        grid = Gtk.Grid(column_spacing=8, row_spacing=2)
        row, kind = 0, None
        for direction in directions:
            heading = HEADINGS.get(direction["kind"], "Named attributes")
            if heading != kind:
                grid.attach(_label(f"<b>{GLib.markup_escape_text(heading)}</b>", True), 0, row, 2, 1)
                row, kind = row + 1, heading
            label, scale = self._slider(direction, start.get(direction["name"], 0.0))
            grid.attach(label, 0, row, 1, 1)
            grid.attach(scale, 1, row, 1, 1)
            row += 1
        scrolled = Gtk.ScrolledWindow(hscrollbar_policy=Gtk.PolicyType.NEVER)
        scrolled.set_size_request(380, 520)
        scrolled.set_overlay_scrolling(False)  # a scrollbar always shown: there are more sliders below
        scrolled.add(grid)
        body.pack_start(scrolled, True, True, 0)
        self.previews = attributes.previews(session, stored, directions[0]["name"],
                                            lambda delivery: GLib.idle_add(self._shown, delivery))
        self._update_ok()
        self.previews.submit(self.key())
        body.show_all()
        self.ok.grab_focus()  # Return = OK, as in GIMP's own dialogs

    def _slider(self, direction: dict, value: float) -> tuple:
        """(label, slider) of one direction; the description (and accuracy) as their tooltip."""
        name = direction["name"]
        scale = Gtk.Scale.new_with_range(Gtk.Orientation.HORIZONTAL, -SLIDER, SLIDER, 0.1)
        scale.set_digits(1)
        scale.set_value_pos(Gtk.PositionType.RIGHT)
        scale.set_value(max(-SLIDER, min(SLIDER, value)))
        scale.set_has_origin(False)  # no fill from -5: the knob's place from the middle says it
        scale.set_hexpand(True)
        scale.connect("value-changed", self._changed)
        tip = direction.get("description") or name
        if direction.get("accuracy"):
            tip += f" (classifier accuracy {direction['accuracy']:.0%})"
        label = _label(name)
        label.set_mnemonic_widget(scale)
        for widget in (label, scale):
            widget.set_tooltip_text(tip)
        self.sliders[name] = scale
        return label, scale

    def key(self) -> tuple:
        """(edits, rows) as the controls are: edits as ((name, strength), ...), zeros left out."""
        edits = tuple((name, round(scale.get_value(), 1)) for name, scale in self.sliders.items()
                      if round(scale.get_value(), 1) != 0)
        return edits, self.rows.get_active_id()

    def _update_ok(self) -> None:
        self.ok.set_sensitive(bool(self.key()[0]))  # nothing moved: nothing to add

    def _changed(self, widget) -> None:
        self._update_ok()
        if self.pending is not None:
            GLib.source_remove(self.pending)
        self.pending = GLib.timeout_add(DEBOUNCE_MS, self._ask)

    def _ask(self) -> bool:
        self.pending = None
        self.status.set_text("Updating the preview...")
        self.previews.submit(self.key())
        return False  # once

    def _shown(self, delivery) -> bool:
        key, event = delivery.job, delivery.event
        if isinstance(event, Result):
            self.answers = {key: event.payload}
        if key == self.key():
            if isinstance(event, Result):
                self.picture.set_from_pixbuf(pixbuf(event.payload["image"], PREVIEW_SIDE))
                self.status.set_text(f"Preview of {self.layer_name}{'' if key[0] else ' (unchanged)'}")
                observer.current.record("edit-preview", [list(edit) for edit in key[0]])
            elif isinstance(event, Failure):
                self.status.set_text(f"No preview: {self.explain(event.error)}")
        return False  # once

    def run(self):
        """(edits, rows, the answer for them or None) when confirmed; None when cancelled."""
        try:
            confirmed = self.dialog.run() == Gtk.ResponseType.OK
        finally:
            self.dialog.hide()  # at once: the preview in progress may take a moment to finish
            if self.pending is not None:
                GLib.source_remove(self.pending)
            self.previews.close()
            while Gtk.events_pending():  # the last answer, if it arrived meanwhile
                Gtk.main_iteration()
            key = self.key()
            self.dialog.destroy()
        observer.current.record("edit-closed", {"procedure": "python-fu-gan-collage-edit",
                                                "sliders": list(self.sliders), "rows": key[1]})
        return (list(key[0]), key[1], self.answers.get(key)) if confirmed else None


def run(session, layer_name: str, stored, directions: list, edits: list, rows: str, explain: Callable):
    """Show the dialog; (edits, rows, EditLatent's answer for them or None), or None when cancelled.
    `explain(error)`: a failed preview's CallError or UserError in the artist's words."""
    GimpUi.init("gan-collage-edit")
    return EditDialog(session, layer_name, stored, directions, edits, rows, explain).run()
