"""The procedures' dialogs: GIMP's ProcedureDialog, with only the controls that matter.

- Steps and Seed are insensitive while the method is the regressor (one deterministic pass), and
  "Include GAN Collage results" while only the selected layers are sent.
- Split and "Blend from layer" range over the chosen model's levels (the server's num_levels: W+ rows,
  or a stylemap model's resizer levels). "Mix space" matters for stylemap (StyleMapGAN) models only:
  greyed out for a W+ model; for a stylemap model "Blend from layer" is greyed out while the whole
  stylemap is blended (it covers every level).
- Server settings: the token is a password field, the model a list of the server's models (still
  editable, for a server that is not running yet), and GIMP's own "Load/Save settings" buttons, which
  have nothing to do with the settings file, are hidden. A token that could never reach the server is
  refused on OK: the dialog stays open and says why. Its report comes in an information box.

Each dialog reports its controls as they are shown (visible, sensitive, ranges, hidden text) to the
observer hook (core/observer.py), so tests can check what the artist sees.
"""
from __future__ import annotations

from typing import Callable

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import Gimp, GimpUi, GLib, GObject, Gtk  # noqa: E402

from core import observer  # noqa: E402
from core.latent_parasite import STYLEMAP  # noqa: E402
from core.models import model_kind, model_levels  # noqa: E402

ROW_PROPERTIES = ("split", "start-layer")  # ranges over the model's levels
MIX_SPACE = "mix-space"                    # Local blend's, for stylemap models
# (control, the choice it depends on, the choices for which it does nothing): greyed out then
IDLE_WHEN = (("steps", "method", "regressor"),          # one deterministic pass
             ("seed", "method", "regressor"),
             ("include-results", "layers", "selected"))  # the chosen layers are sent, results or not
GIMP_SETTINGS_BUTTONS = ("Reset", "Load Saved Settings", "Save Settings")


def _properties(config) -> set:
    return {spec.name for spec in config.list_properties()}


def _grey_out_when(dialog, name: str, choice: str, idle: str) -> None:
    """Control `name` greyed out while the choice `choice` is `idle`."""
    values = Gimp.ValueArray.new_from_values([GObject.Value(GObject.TYPE_STRING, idle)])
    dialog.set_sensitive_if_in(name, None, choice, values, False)


def _grey_out_idle_controls(dialog, names: set) -> None:
    for name, choice, idle in IDLE_WHEN:
        if name in names and choice in names:
            _grey_out_when(dialog, name, choice, idle)


def _limit_rows(dialog, names: set, rows: int) -> None:
    for name in ROW_PROPERTIES:
        if name in names:
            dialog.get_widget(name, GimpUi.LabelSpin.__gtype__).get_spin_button().set_range(0, rows)


def _fit_model(dialog, names: set, model: dict) -> None:
    """The controls as the chosen model (a ListModels entry) makes them matter."""
    levels = model_levels(model)
    if levels:
        _limit_rows(dialog, names, levels)
    if MIX_SPACE not in names:
        return
    if model_kind(model) != STYLEMAP:  # a W+ model has one kind of local blend
        dialog.get_widget(MIX_SPACE, GObject.TYPE_NONE).set_sensitive(False)
    elif "start-layer" in names:  # the whole stylemap: every level is blended
        _grey_out_when(dialog, "start-layer", MIX_SPACE, "w")


def _buttons(widget):
    """Every button under `widget`."""
    if isinstance(widget, Gtk.Button):
        yield widget
    if isinstance(widget, Gtk.Container):
        for child in widget.get_children():
            yield from _buttons(child)


def _text(widget) -> str:
    """A button's text as shown (mnemonic underscores dropped), also when its label sits in a box."""
    if isinstance(widget, Gtk.Label):
        return widget.get_text()
    if isinstance(widget, Gtk.Button) and widget.get_label():
        return widget.get_label().replace("_", "")
    if isinstance(widget, Gtk.Container):
        return " ".join(filter(None, (_text(child) for child in widget.get_children())))
    return ""


def _hide_gimp_settings_buttons(dialog) -> None:
    for button in _buttons(dialog):
        if _text(button) in GIMP_SETTINGS_BUTTONS:
            button.hide()


def _align_labels(dialog) -> None:
    """Line the model row's label up with GIMP's own labelled widgets."""
    group = Gtk.SizeGroup(mode=Gtk.SizeGroupMode.HORIZONTAL)

    def visit(widget):
        if isinstance(widget, GimpUi.Labeled):
            group.add_widget(widget.get_label())
        elif isinstance(widget, Gtk.Label) and widget.get_name() == "gan-collage-label":
            group.add_widget(widget)
        if isinstance(widget, Gtk.Container):
            for child in widget.get_children():
                visit(child)

    visit(dialog)
    dialog.gan_collage_labels = group  # the group lives as long as the dialog


def _password(dialog, name: str) -> None:
    entry = dialog.get_widget(name, GimpUi.LabelEntry.__gtype__).get_entry()
    entry.set_visibility(False)
    entry.set_input_purpose(Gtk.InputPurpose.PASSWORD)


def _model_chooser(config, models: list) -> Gtk.Widget:
    """A row "Model: [combo]" listing the server's models, its entry bound to the config's "model"."""
    combo = Gtk.ComboBoxText.new_with_entry()
    combo.append("", "(the server's default)")
    for model in models:
        combo.append(model["name"], model["label"])
    entry = combo.get_child()
    entry.set_placeholder_text("the server's default")
    config.bind_property("model", entry, "text",
                         GObject.BindingFlags.BIDIRECTIONAL | GObject.BindingFlags.SYNC_CREATE)
    combo.connect("changed", lambda box: box.get_active_id() is not None and entry.set_text(box.get_active_id()))
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    label = Gtk.Label.new_with_mnemonic("_Model")
    label.set_name("gan-collage-label")
    label.set_mnemonic_widget(combo)
    label.set_xalign(0.0)
    row.pack_start(label, False, False, 0)
    row.pack_start(combo, True, True, 0)
    row.show_all()
    return row


def _describe(dialog, procedure, names: set, models: list | None) -> dict:
    """What the dialog shows, control by control (for $GAN_COLLAGE_DIALOG_REPORT)."""
    controls = {}
    for name in sorted(names):
        widget = dialog.get_widget(name, GObject.TYPE_NONE)
        if widget is None:
            continue
        entry = {"visible": widget.is_visible(), "sensitive": widget.is_sensitive()}
        if isinstance(widget, GimpUi.LabelSpin):
            entry["range"] = list(widget.get_spin_button().get_range())
        if isinstance(widget, GimpUi.LabelEntry):
            entry["hidden_text"] = not widget.get_entry().get_visibility()
        controls[name] = entry
    buttons = sorted(_text(button) for button in _buttons(dialog) if button.is_visible())
    return {"procedure": procedure.get_name(), "controls": controls, "buttons": buttons,
            "models": None if models is None else [model["name"] for model in models]}


def _refusal_line(dialog) -> Gtk.Label:
    """A line at the bottom of the dialog, hidden until a refusal is shown in it."""
    line = Gtk.Label(wrap=True, max_width_chars=60, xalign=0.0, selectable=True)
    line.set_name("gan-collage-refusal")
    dialog.get_content_area().pack_end(line, False, False, 6)
    return line


def _confirmed(dialog, procedure, config, refuse: Callable | None) -> bool:
    """Run the dialog until it is cancelled, or confirmed with values `refuse(config)` has no reason
    ("") to refuse; each refusal is shown in the dialog, which stays open."""
    line = _refusal_line(dialog) if refuse is not None else None
    while dialog.run():
        reason = refuse(config) if refuse is not None else ""
        if not reason:
            return True
        line.set_markup(f"<b>{GLib.markup_escape_text(reason)}</b>")
        line.show()
        observer.current.record("dialog", {"procedure": procedure.get_name(), "refused": reason})
    return False


def run(procedure, config, names: list | None = None, model: dict | None = None, models: list | None = None,
        refuse: Callable | None = None) -> bool:
    """Show the procedure's dialog; True when confirmed. `model`: the chosen model as ListModels lists it
    (None = unknown); `models`: the server's models as {"name", "label"} for the settings' model list
    (None = not shown); `refuse(config)`: on OK, why the values cannot be taken ("" when they can)."""
    GimpUi.init(procedure.get_name())
    dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config)
    present = _properties(config)
    if models is not None:
        box = dialog.fill_box("gan-collage-model", ["transport"])
        row = _model_chooser(config, models)
        box.pack_start(row, False, False, 0)
        box.reorder_child(row, 0)
        names = [name if name != "model" else "gan-collage-model" for name in names if name != "transport"]
    if "token" in present:
        _password(dialog, "token")
    dialog.fill(names)
    _grey_out_idle_controls(dialog, present)
    if model is not None:
        _fit_model(dialog, present, model)
    if "margin" in present:
        margin = dialog.get_widget("margin", GimpUi.LabelSpin.__gtype__).get_spin_button()
        margin.set_digits(3)
        margin.set_width_chars(6)

    def shown(widget):
        if models is not None:
            _hide_gimp_settings_buttons(dialog)  # GIMP shows them as the dialog maps
            _align_labels(dialog)
        if observer.current.watching("dialog"):
            shown_names = present & set(names) if names else present - {"run-mode", "image", "drawables"}
            observer.current.record("dialog", _describe(dialog, procedure, shown_names, models))

    dialog.connect_after("map", shown)
    confirmed = _confirmed(dialog, procedure, config, refuse)
    dialog.destroy()
    return confirmed


def inform(title: str, text: str) -> None:
    """An information box with GIMP's information icon (Gimp.message would show a warning icon)."""
    box = Gtk.Dialog(title=title, modal=True)
    box.add_button("_OK", Gtk.ResponseType.OK)
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12, border_width=12)
    row.pack_start(Gtk.Image.new_from_icon_name("dialog-information", Gtk.IconSize.DIALOG), False, False, 0)
    label = Gtk.Label(label=f"<b>{GLib.markup_escape_text(title)}</b>\n\n{GLib.markup_escape_text(text)}",
                      use_markup=True, wrap=True, max_width_chars=60, xalign=0.0, selectable=True)
    label.set_size_request(420, -1)  # a wrapped label otherwise asks for the height of its narrowest layout
    row.pack_start(label, True, True, 0)
    box.get_content_area().pack_start(row, True, True, 0)
    box.show_all()
    box.run()
    box.destroy()
