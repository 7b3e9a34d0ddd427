#!/usr/bin/env python3
"""GAN Collage for GIMP 3: turn a rough collage into a realistic image with a local StyleGAN2 server.

Menu: Filters > Generative > GAN Collage. Each procedure is thin: gimp_io reads the image into plain
data, actions builds the requests and names the results, transport reaches the server, gimp_io adds
the new layers. Non-interactive calls (scripts, tests) take the same arguments with working defaults.

When the folder is incomplete (copied by hand from the project's source, without the vendor/ folder
that install.py writes) the procedures still register, without arguments, and running one says what
to do; a complete folder has fresh file times, so GIMP registers it again with its arguments.
"""
from __future__ import annotations

import time

STARTED = time.time()  # noqa: E402  (the benchmark's "plug-in start" ends here and at run_action)

import dataclasses  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from typing import Callable, NamedTuple  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
from gi.repository import GLib, GObject, Gimp  # noqa: E402

try:
    import paths  # noqa: F401  (vendor/ on sys.path first)
    import actions
    import attributes
    from server import defaults  # vendored
    import config as settings
    import dialogs
    import edit_dialog
    import explain
    import gimp_io
    import live_window
    import transport
    INCOMPLETE = ""
except ImportError as missing:
    FOLDER = os.path.dirname(os.path.abspath(__file__))
    INCOMPLETE = (f"The GAN Collage plug-in in {FOLDER} "
                  + (f"cannot load its modules ({missing})." if os.path.isdir(os.path.join(FOLDER, "vendor")) else
                     f"is incomplete: it lacks the files install.py puts in its vendor/ folder ({missing}).")
                  + " In the GAN Collage folder run `python3 install.py --plugin-only` (it installs into your GIMP "
                  "profiles), or run `python3 install.py --package-plugin OUT` and copy OUT/gan_collage over this "
                  "folder. Then restart GIMP.")

PREFIX = "python-fu-gan-collage-"
MENU = "<Image>/Filters/Generative/GAN Collage"
RW = GObject.ParamFlags.READWRITE
MAX_INT = 2**31 - 1
TIMINGS_ENV = "GAN_COLLAGE_TIMINGS"  # a file: each run appends a JSON line with its phases (benchmark)


def _choice(*entries):
    choice = Gimp.Choice.new()
    for index, (nick, label) in enumerate(entries):
        choice.add(nick, index, label, "")
    return choice


# ------------------------------------------------------------------------------------ arguments


def add_layers_argument(procedure):
    procedure.add_choice_argument("layers", "La_yers", "Which layers make the collage",
                                  _choice(("visible", "Visible layers"), ("selected", "Selected layers only")),
                                  "visible", RW)
    procedure.add_boolean_argument("include-results", "Include GAN Collage _results", "With \"Visible layers\": "
                                   "also send the layers GAN Collage made earlier (left out by default)", False, RW)


def add_projection_arguments(procedure, methods, default):
    labels = {"regressor": "Regressor (fast)", "hybrid": "Hybrid (regressor, then optimization)",
              "optimize": "Optimization", "scribble": "Scribble (sparse strokes)"}
    procedure.add_choice_argument("method", "_Method", "How to find the latent",
                                  _choice(*[(m, labels[m]) for m in methods]), default, RW)
    procedure.add_int_argument("steps", "S_teps", "Optimization steps (not used by the regressor)",
                               1, defaults.MAX_STEPS, defaults.DEFAULT_STEPS, RW)
    procedure.add_int_argument("seed", "S_eed", "Where the optimization starts its random search: same seed, same "
                               "result (not used by the regressor)", 0, MAX_INT, 0, RW)


def add_region_arguments(procedure):
    procedure.add_double_argument("feather", "_Feather edges (px)", "The new layer's mask fades in over this many "
                                  "pixels inside the selection's edge (0 = the selection as it is)",
                                  0.0, defaults.MAX_FEATHER, defaults.DEFAULT_FEATHER, RW)
    procedure.add_double_argument("margin", "_Margin (x selection size)", "Context around the selection the model "
                                  "sees, as a fraction of the selection's longer side", 0.0, defaults.MAX_MARGIN,
                                  defaults.DEFAULT_MARGIN, RW)


def options_of(config) -> actions.Options:
    return actions.Options(config.get_property("method"), config.get_property("steps"), config.get_property("seed"))


def realize_options(config, method: str, steps: int = 0, seed: int = 0) -> actions.Options:
    return actions.Options(method, steps, seed, config.get_property("feather"), config.get_property("margin"))


# ------------------------------------------------------------------------------------ actions


def _canvas(session, image, config, options):
    session.limits().check_canvas(image.get_width(), image.get_height())
    resolution = session.resolution()
    selected_only = config.get_property("layers") == "selected"
    with_results = config.get_property("include-results")
    return session.timings.timed("read", lambda: gimp_io.read_canvas(image, resolution, selected_only, with_results,
                                                                     options.margin))


def realize_fast(session, image, drawables, config):
    options = realize_options(config, "regressor")
    return actions.realize(session, _canvas(session, image, config, options), options)


def realize_refine(session, image, drawables, config):
    options = realize_options(config, config.get_property("method"), config.get_property("steps"),
                              config.get_property("seed"))
    return actions.realize(session, _canvas(session, image, config, options), options)


def project_layer(session, image, drawables, config):
    return actions.project(session, gimp_io.one_layer(image, drawables), options_of(config))


def interpolate_layers(session, image, drawables, config):
    lower, upper = gimp_io.two_layers(image, drawables)
    return actions.interpolate(session, lower, upper, options_of(config), config.get_property("frames"),
                               config.get_property("mode"), config.get_property("frame-ms"))


def mix_styles(session, image, drawables, config):
    content, style = gimp_io.two_layers(image, drawables)
    return actions.style_mix(session, content, style, options_of(config), config.get_property("split"))


def blend_locally(session, image, drawables, config):
    base, other = gimp_io.two_layers(image, drawables)
    return actions.local_blend(session, base, other, lambda square: gimp_io.read_selection(image, square),
                               options_of(config), config.get_property("start-layer"),
                               config.get_property("mix-space"))


def edit_attributes(session, image, drawables, config, interactive: bool, setup: settings.Config):
    """Interactive: the layer's latent (projected first when it has none), then the dialog with the last
    edits; the edits chosen are kept in the config (GIMP remembers them for the next run)."""
    layer = gimp_io.one_layer(image, drawables)
    options, text, rows = options_of(config), config.get_property("edits"), config.get_property("rows")
    if not interactive:
        return attributes.edit(session, layer, options, text, rows)
    stored = actions.latent_of(session, layer, options)
    directions = attributes.list_directions(session)
    try:
        last = attributes.parse(text, directions)
    except actions.UserError:  # written for another model
        last = []
    chosen = edit_dialog.run(session, layer.name, stored, attributes.offered(directions), last, rows,
                             lambda error: explain.one_line(error, setup))
    if chosen is None:
        raise actions.Cancelled()
    edits, rows, answer = chosen
    config.set_property("edits", attributes.written(edits))
    config.set_property("rows", rows)
    return [attributes.result_layer(layer, stored, edits, rows, answer or attributes.apply(session, stored, edits,
                                                                                           rows))]


def _realize_arguments(procedure):
    add_layers_argument(procedure)
    add_region_arguments(procedure)


def _refine_arguments(procedure):
    add_layers_argument(procedure)
    add_projection_arguments(procedure, ("hybrid", "optimize", "scribble"), "hybrid")
    add_region_arguments(procedure)


def _project_arguments(procedure):
    add_projection_arguments(procedure, ("regressor", "hybrid", "optimize"), "regressor")


def _interpolate_arguments(procedure):
    _project_arguments(procedure)
    procedure.add_int_argument("frames", "_Frames", "Frames, both ends included", 2, 256, 8, RW)
    procedure.add_choice_argument("mode", "Interpolation mo_de", "Path between the two latents",
                                  _choice(("linear", "Linear"), ("slerp", "Spherical (around the average)")),
                                  "linear", RW)
    procedure.add_int_argument("frame-ms", "Frame dela_y (ms)", "Written into the frame names for playback",
                               1, 60000, 100, RW)


def _mix_arguments(procedure):
    _project_arguments(procedure)
    procedure.add_int_argument("split", "S_plit", "Latent rows (a stylemap model's levels) before this come from "
                               "the lower layer (layout, pose), the rest from the upper one (colour, texture); the "
                               "dialog offers the chosen model's", 0, 64, 4, RW)


def _blend_arguments(procedure):
    _project_arguments(procedure)
    procedure.add_int_argument("start-layer", "_Blend from layer", "Blend from this generator layer on "
                               "(0 = all; higher keeps more of the lower layer's structure; the dialog offers the "
                               "chosen model's rows or levels; not used when a whole stylemap is blended)",
                               0, 64, 0, RW)
    procedure.add_choice_argument("mix-space", "Mi_x space", "StyleMapGAN models only: blend the whole stylemap "
                                  "once (the result keeps the blend as its latent), or every level from \"Blend "
                                  "from layer\" on", _choice(*actions.MIX_SPACES), "w", RW)


def _edit_arguments(procedure):
    procedure.add_string_argument("edits", "_Edits", "Attribute changes as name=strength in standard deviations, "
                                  "e.g. \"smile=2, glasses=-1\" (the names the server's directions have: pc1.., "
                                  "sefa1.., and the named ones of the model)", "", RW)
    procedure.add_choice_argument("rows", "_Rows", "Which latent rows the edits move: each direction's own, or "
                                  "the coarse / middle / fine third of them, or all", _choice(*attributes.ROWS),
                                  "default", RW)
    _project_arguments(procedure)  # for a layer without a latent of its own


# Every action stays clickable with any layers selected: running it says what it needs instead.
ANY = (Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
       | Gimp.ProcedureSensitivityMask.NO_DRAWABLES)


class Action(NamedTuple):
    label: str
    blurb: str
    run: Callable  # (session, image, drawables, config) -> [actions.NewLayer]
    arguments: Callable  # (procedure) -> None
    own_dialog: bool = False  # run shows its dialog itself (it needs the server): run(..., interactive, setup)


ACTIONS = {
    "realize": Action("Realize collage - _fast", "Realize the collage with the latent regressor (one pass) as a "
                      "new layer that fills the selection, or the canvas", realize_fast, _realize_arguments),
    "refine": Action("Realize collage - _refine", "Realize the collage by optimization (hybrid: starting from "
                     "the regressor): slower, closer to the collage", realize_refine, _refine_arguments),
    "project": Action("_Project layer", "Add a layer's GAN reconstruction as a new layer above it",
                      project_layer, _project_arguments),
    "interpolate": Action("_Interpolate two layers", "Frames from the lower selected layer to the upper one, "
                          "as new layers named for animation playback", interpolate_layers,
                          _interpolate_arguments),
    "style-mix": Action("_Mix styles", "Layout of the lower selected layer with the colours and texture of "
                        "the upper one", mix_styles, _mix_arguments),
    "local-blend": Action("_Local blend", "Blend the upper selected layer into the lower one where the "
                          "selection is", blend_locally, _blend_arguments),
    "edit": Action("_Edit attributes", "Move the active layer's latent along attribute directions (a smile, "
                   "glasses, pc3...) and add the edited image as a new layer above it", edit_attributes,
                   _edit_arguments, own_dialog=True),
}


# ------------------------------------------------------------------------------------ running


def settings_path():
    return settings.path_in(Gimp.directory())


def _failure(procedure, message, status=Gimp.PDBStatusType.EXECUTION_ERROR):
    return procedure.new_return_values(status, GLib.Error(message.strip() or explain.UNFORESEEN))


def never_silent(run):
    """`run` (a procedure's run function) answering with a message whatever happens: GIMP shows an empty
    error for an exception that leaves the plug-in, so one no handler expected is told as unforeseen
    (and its traceback goes to the terminal GIMP runs in)."""
    @functools.wraps(run)
    def guarded(procedure, *args):
        try:
            return run(procedure, *args)
        except Exception as exc:
            traceback.print_exc()
            return _failure(procedure, explain.unforeseen(exc))

    return guarded


def write_timings(name: str, entered: float, timings: actions.Timings) -> None:
    """Append this run's phases to the file $GAN_COLLAGE_TIMINGS names (the click-to-layer benchmark)."""
    path = os.environ.get(TIMINGS_ENV)
    if path:
        entry = {"procedure": name, "process_started": STARTED, "entered": entered, "finished": time.time(),
                 "seconds": timings.seconds, **timings.counts}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


INDEXED = ("GAN Collage works on RGB and grayscale images; this one is indexed (a palette of colours), and its "
           "results would be reduced to that palette. Convert it with Image > Mode > RGB, then run this again.")


def chosen_model(config):
    """The chosen model as ListModels lists it, for the dialog's ranges and the controls that depend on
    its family (split, start-layer, mix-space); None when the dialog has none of them or the server
    cannot say."""
    if not {"split", "start-layer"} & {spec.name for spec in config.list_properties()}:
        return None
    try:
        setup = dataclasses.replace(settings.load(settings_path()), timeout=10)
        with transport.connect(setup) as connection:
            session = actions.Session(connection.client, setup.model, setup.timeout, lambda text, fraction: None)
            return session.model_info()
    except (transport.CallError, transport.TransportError, settings.ConfigError, actions.UserError):
        return None  # the run itself will say what is wrong


def unusable_settings(exc: settings.ConfigError) -> str:
    return ("GAN Collage's settings file cannot be used. Open Filters > Generative > GAN Collage > Server settings "
            f"and press OK to write a new one.\n({exc})")


def refused_image(procedure, image):
    """The failure for an image GAN Collage cannot work on (none, or indexed); None when it can."""
    if image is None:
        return _failure(procedure, "GAN Collage needs an image.", Gimp.PDBStatusType.CALLING_ERROR)
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        return _failure(procedure, INDEXED)
    return None


def run_action(procedure, run_mode, image, drawables, config, data):
    """Dialog, read the image, call the server, add the layers; an error leaves the image as it was."""
    entered = time.time()
    action = ACTIONS[procedure.get_name().removeprefix(PREFIX)]
    refusal = refused_image(procedure, image)
    if refusal is not None:
        return refusal
    if (run_mode == Gimp.RunMode.INTERACTIVE and not action.own_dialog
            and not dialogs.run(procedure, config, model=chosen_model(config))):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    progress, setup = None, None
    try:
        setup = settings.load(settings_path())
        progress = gimp_io.Progress(procedure.get_menu_label().replace("_", "").rstrip("."))
        with transport.connect(setup) as connection:
            session = actions.Session(connection.client, setup.model, setup.timeout, progress)
            extra = {"interactive": run_mode == Gimp.RunMode.INTERACTIVE, "setup": setup} if action.own_dialog else {}
            layers = action.run(session, image, drawables, config, **extra)
        added = session.timings.timed("write", lambda: gimp_io.insert_layers(image, drawables, layers))
    except actions.Cancelled:
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except transport.CallError as exc:
        if exc.code == "CANCELLED":
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        return _failure(procedure, explain.explain(exc, setup or settings.Config()))
    except settings.ConfigError as exc:
        return _failure(procedure, unusable_settings(exc))
    except (actions.UserError, transport.TransportError) as exc:
        return _failure(procedure, str(exc))
    finally:
        if progress is not None:
            progress.end()
    write_timings(procedure.get_name(), entered, session.timings)
    if session.notes:
        Gimp.message("\n".join(session.notes))
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    values.remove(1)
    values.insert(1, GObject.Value(Gimp.Layer, added[-1]))
    return values


# ------------------------------------------------------------------------------------ live preview

LIVE_VALUES = ("layers", "method", "steps", "seed", "truncation", "refine-steps")


def run_live(procedure, run_mode, image, drawables, config, data):
    """The live window, until the artist closes it; its settings are remembered for the next time."""
    if run_mode != Gimp.RunMode.INTERACTIVE:
        return _failure(procedure, "Live preview is a window that follows the image: open it from the menu. Scripts "
                        "use \"Realize collage - fast\" (python-fu-gan-collage-realize).",
                        Gimp.PDBStatusType.CALLING_ERROR)
    refusal = refused_image(procedure, image)
    if refusal is not None:
        return refusal
    try:
        setup = settings.load(settings_path())
    except settings.ConfigError as exc:
        return _failure(procedure, unusable_settings(exc))
    values = {name: config.get_property(name) for name in LIVE_VALUES}
    for name, value in live_window.run(image, setup, values, lambda error: explain.one_line(error, setup)).items():
        config.set_property(name, value)
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def _live_arguments(procedure):
    procedure.add_choice_argument("layers", "La_yers", "Which layers make the collage",
                                  _choice(*live_window.LAYERS), "visible", RW)
    procedure.add_choice_argument("method", "_Method", "How previews find the latent",
                                  _choice(*live_window.METHODS), "regressor", RW)
    procedure.add_int_argument("steps", "S_teps", "Hybrid previews' optimization steps", 1,
                               live_window.MAX_PREVIEW_STEPS, live_window.DEFAULTS["steps"], RW)
    procedure.add_int_argument("seed", "S_eed", "Where Hybrid and Refine start their random search", 0, MAX_INT, 0, RW)
    procedure.add_double_argument("truncation", "_Truncation", "Pull the result toward the model's average: 1 = "
                                  "as found", 0.0, 1.0, 1.0, RW)
    procedure.add_int_argument("refine-steps", "Re_fine steps", "Optimization steps Refine runs from the preview",
                               1, defaults.MAX_STEPS, defaults.DEFAULT_STEPS, RW)


def run_incomplete(procedure, *args):
    return _failure(procedure, INCOMPLETE)


# ------------------------------------------------------------------------------------ settings

SETTINGS_FIELDS = {"server": "server", "token": "token", "model": "model", "transport": "transport"}


def server_models(setup) -> tuple[dict, list]:
    """(GetServerInfo, ListModels' models); CallError/TransportError when the server cannot be reached."""
    with transport.connect(setup) as connection:
        (info,) = [e["result"] for e in connection.client.call("GetServerInfo", {}, 30)]
        (listing,) = [e["result"] for e in connection.client.call("ListModels", {}, 30)]
        info["via"] = connection.description
    return info, listing["models"]


def model_label(model: dict) -> str:
    """"faces (256 px, 14 latent rows, regressor)", "cars (256 px, 8x8x64 stylemap, regressor)"."""
    details = [f"{model['resolution']} px", actions.latent_words(model)]
    if model["has_regressor"]:
        details.append("regressor")
    if not model["available"]:
        details.append("unavailable")
    return f"{model['name']} ({', '.join(details)})"


def check_connection(setup) -> str:
    """One paragraph about the server and its models; CallError/TransportError when it cannot be reached."""
    info, models = server_models(setup)
    text = (f"Connected to GAN Collage server {info['version']} at {setup.server} (on {info['device']}), through "
            f"{info['via']}. Models: {', '.join(model_label(m) for m in models)}.")
    if setup.model and setup.model not in {m["name"] for m in models}:
        raise actions.UserError(f"{text}\nThe model {setup.model!r} is not on this server: pick one of its models.")
    return text


def dialog_models(setup) -> list:
    """The server's models for the settings dialog's list; empty when it cannot be reached now."""
    try:
        quick = dataclasses.replace(setup, timeout=5)
        return [{"name": m["name"], "label": model_label(m)} for m in server_models(quick)[1]]
    except (transport.CallError, transport.TransportError, settings.ConfigError):
        return []


def token_refused(config) -> str:
    """Why the settings dialog's token cannot be saved ("" when it can), as it will be saved (trimmed)."""
    return settings.token_refusal(config.get_property("token").strip())


def run_settings(procedure, config, data):
    """Show (interactive) and save the settings file's values, then test the connection. A damaged file
    is replaced; the settings are saved even when the test fails."""
    run_mode = config.get_property("run-mode")
    path = settings_path()
    try:
        setup, note = settings.load(path), ""
    except settings.ConfigError as exc:
        setup, note = settings.Config(), f" (the old file was unreadable and was replaced: {exc})"
    if run_mode != Gimp.RunMode.NONINTERACTIVE:
        for prop, field in SETTINGS_FIELDS.items():
            config.set_property(prop, getattr(setup, field))
    shown = [*SETTINGS_FIELDS, "test-connection"]
    if run_mode == Gimp.RunMode.INTERACTIVE and not dialogs.run(procedure, config, shown, models=dialog_models(setup),
                                                                refuse=token_refused):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    refusal = token_refused(config)
    if refusal:
        return _failure(procedure, f"GAN Collage settings were not saved. {refusal}")
    for prop, field in SETTINGS_FIELDS.items():
        setattr(setup, field, config.get_property(prop).strip())
    try:
        settings.save(path, setup)
    except (settings.ConfigError, OSError) as exc:
        return _failure(procedure, f"GAN Collage settings were not saved: {exc}")
    report = f"Settings saved in {path}{note}."
    if config.get_property("test-connection"):
        try:
            report += "\n" + check_connection(setup)
        except transport.CallError as exc:
            return _failure(procedure, f"{explain.explain(exc, setup)}\n({report})")
        except (actions.UserError, transport.TransportError) as exc:
            return _failure(procedure, f"{exc}\n({report})")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        dialogs.inform("GAN Collage settings saved", report)
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    values.remove(1)
    values.insert(1, GObject.Value(GObject.TYPE_STRING, report))
    return values


def _settings_arguments(procedure):
    default = settings.Config()
    procedure.add_string_argument("server", "Server _address", "HOST:PORT of `python -m server`",
                                  default.server, RW)
    procedure.add_string_argument("token", "_Token", "The server's --token, if it has one", "", RW)
    procedure.add_string_argument("model", "_Model", "A model name the server lists; empty = its default", "", RW)
    procedure.add_choice_argument("transport", "Trans_port", "How GIMP reaches the server",
                                  _choice(("auto", "Automatic (grpcio if GIMP's Python has it)"),
                                          ("grpcio", "grpcio only"),
                                          ("pure-python", "Pure-Python gRPC (bundled)")),
                                  default.transport, RW)
    procedure.add_boolean_argument("test-connection", "Test the co_nnection", "Ask the server for its models "
                                   "after saving", True, RW)
    procedure.add_string_return_value("report", "Report", "What was saved and what the server said", "", RW)


# ------------------------------------------------------------------------------------ plug-in


class GanCollage(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PREFIX + name for name in ACTIONS] + [PREFIX + "live", PREFIX + "settings"]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        short = name.removeprefix(PREFIX)
        if short == "settings":
            procedure = Gimp.Procedure.new(self, name, Gimp.PDBProcType.PLUGIN,
                                           run_incomplete if INCOMPLETE else never_silent(run_settings), None)
            procedure.set_menu_label("Server _settings...")
            procedure.set_documentation("GAN Collage server settings", "Server address, token, model and transport, "
                                        "saved in the GIMP profile's gan-collage.json; then a connection test.", name)
            procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                        Gimp.RunMode.NONINTERACTIVE, RW)
            if not INCOMPLETE:
                _settings_arguments(procedure)
        elif short == "live":
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN,
                                                run_incomplete if INCOMPLETE else never_silent(run_live), None)
            procedure.set_image_types("*")
            procedure.set_sensitivity_mask(ANY)
            procedure.set_menu_label("Li_ve preview...")
            procedure.set_documentation("A window that shows the realized collage and follows the image as you work",
                                        "Keeps a preview of \"Realize collage - fast\" up to date while you paint, "
                                        "move layers or change the selection; Apply adds it as a layer, Refine "
                                        "optimizes it first. Needs a running GAN Collage server.", name)
            if not INCOMPLETE:
                _live_arguments(procedure)
        else:
            action = ACTIONS[short]
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN,
                                                run_incomplete if INCOMPLETE else never_silent(run_action), None)
            procedure.set_image_types("*")  # an indexed image gets a reason, not a greyed-out menu
            procedure.set_sensitivity_mask(ANY)
            procedure.set_menu_label(action.label + "...")
            procedure.set_documentation(action.blurb, action.blurb + ". Needs a running GAN Collage server "
                                        "(see Server settings).", name)
            if not INCOMPLETE:
                action.arguments(procedure)
                procedure.add_layer_return_value("layer", "Layer", "The new layer (the top one when there are "
                                                 "several)", True, RW)
        procedure.add_menu_path(MENU)
        procedure.set_attribution("GAN Collage", "GAN Collage", "2025")
        return procedure


Gimp.main(GanCollage.__gtype__, sys.argv)
