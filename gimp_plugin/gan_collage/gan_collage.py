#!/usr/bin/env python3
"""GAN Collage for GIMP 3: turn a rough collage into a realistic image with a local GAN server.

The entry GIMP runs: it only registers the procedures (names, menu paths, arguments with working
defaults for scripts). Their run functions are in procedures/, the GIMP-free work in core/, GIMP
image <-> plain data in gimp_io.py, the dialogs and windows in ui/; `Gimp.main` runs only when GIMP
starts this file, so tests import it.

When the folder is incomplete (copied by hand from the project's source, without the vendor/ folder
that install.py writes) the procedures still register, without arguments, and running one says what
to do; a complete folder has fresh file times, so GIMP registers it again with its arguments.
"""
from __future__ import annotations

import time

STARTED = time.time()  # noqa: E402  (the benchmark's "plug-in start" ends here and at run_action)

import os  # noqa: E402
import sys  # noqa: E402
from typing import Callable, NamedTuple  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GLib, GObject  # noqa: E402

try:
    from core import observer  # noqa: E402  (puts vendor/ on sys.path first)
    from core.actions import MIX_SPACES
    from core.attributes import ROWS
    from core.settings import Config
    from procedures.image_actions import PREFIX, run_action
    from procedures.live import run_live
    from procedures.returns import never_silent
    from procedures.server_settings import run_settings
    from server.shared import defaults
    from ui import live_window
    observer.current.process_started = STARTED
    INCOMPLETE = ""
except ImportError as missing:
    PREFIX = "python-fu-gan-collage-"
    FOLDER = os.path.dirname(os.path.abspath(__file__))
    INCOMPLETE = (f"The GAN Collage plug-in in {FOLDER} "
                  + (f"cannot load its modules ({missing})." if os.path.isdir(os.path.join(FOLDER, "vendor")) else
                     f"is incomplete: it lacks the files install.py puts in its vendor/ folder ({missing}).")
                  + " In the GAN Collage folder run `python3 install.py --plugin-only` (it installs into your GIMP "
                  "profiles), or run `python3 install.py --package-plugin OUT` and copy OUT/gan_collage over this "
                  "folder. Then restart GIMP.")

MENU = "<Image>/Filters/Generative/GAN Collage"
RW = GObject.ParamFlags.READWRITE
MAX_INT = 2**31 - 1


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
                                  "from layer\" on", _choice(*MIX_SPACES), "w", RW)


def _edit_arguments(procedure):
    procedure.add_string_argument("edits", "_Edits", "Attribute changes as name=strength in standard deviations, "
                                  "e.g. \"smile=2, glasses=-1\" (the names the server's directions have: pc1.., "
                                  "sefa1.., and the named ones of the model)", "", RW)
    procedure.add_choice_argument("rows", "_Rows", "Which latent rows the edits move: each direction's own, or "
                                  "the coarse / middle / fine third of them, or all", _choice(*ROWS),
                                  "default", RW)
    _project_arguments(procedure)  # for a layer without a latent of its own


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


def _settings_arguments(procedure):
    default = Config()
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


# Every action stays clickable with any layers selected: running it says what it needs instead.
ANY = (Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
       | Gimp.ProcedureSensitivityMask.NO_DRAWABLES)


class Action(NamedTuple):
    label: str
    blurb: str
    arguments: Callable  # (procedure) -> None


ACTIONS = {
    "realize": Action("Realize collage - _fast", "Realize the collage with the latent regressor (one pass) as a "
                      "new layer that fills the selection, or the canvas", _realize_arguments),
    "refine": Action("Realize collage - _refine", "Realize the collage by optimization (hybrid: starting from "
                     "the regressor): slower, closer to the collage", _refine_arguments),
    "project": Action("_Project layer", "Add a layer's GAN reconstruction as a new layer above it",
                      _project_arguments),
    "interpolate": Action("_Interpolate two layers", "Frames from the lower selected layer to the upper one, "
                          "as new layers named for animation playback",
                          _interpolate_arguments),
    "style-mix": Action("_Mix styles", "Layout of the lower selected layer with the colours and texture of "
                        "the upper one", _mix_arguments),
    "local-blend": Action("_Local blend", "Blend the upper selected layer into the lower one where the "
                          "selection is", _blend_arguments),
    "edit": Action("_Edit attributes", "Move the active layer's latent along attribute directions (a smile, "
                   "glasses, pc3...) and add the edited image as a new layer above it",
                   _edit_arguments),
}


def run_incomplete(procedure, *args):
    """Every procedure's run function while the folder is incomplete (procedures/ cannot be imported then)."""
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(INCOMPLETE))


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


if __name__ == "__main__":
    Gimp.main(GanCollage.__gtype__, sys.argv)
