"""Live preview's run function: the window until the artist closes it; its settings kept for the next time."""
from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402

from core import settings as settings_file  # noqa: E402
from core.messages import one_line  # noqa: E402
from core.outcome import Outcome, unusable_settings  # noqa: E402
from procedures.image_actions import refused_image, settings_path  # noqa: E402
from procedures.returns import answer  # noqa: E402
from ui import live_window  # noqa: E402

VALUES = ("layers", "method", "steps", "seed", "truncation", "refine-steps")  # the window's remembered controls
SCRIPTS_REFUSED = ("Live preview is a window that follows the image: open it from the menu. Scripts use \"Realize "
                   "collage - fast\" (python-fu-gan-collage-realize).")


def run_live(procedure, run_mode, image, drawables, config, data):
    if run_mode != Gimp.RunMode.INTERACTIVE:
        return answer(procedure, Outcome.WRONG_CALL, SCRIPTS_REFUSED)
    refusal = refused_image(procedure, image)
    if refusal is not None:
        return refusal
    try:
        setup = settings_file.load(settings_path())
    except settings_file.ConfigError as exc:
        return answer(procedure, Outcome.FAILED, unusable_settings(exc))
    values = {name: config.get_property(name) for name in VALUES}
    for name, value in live_window.run(image, setup, values, lambda error: one_line(error, setup)).items():
        config.set_property(name, value)
    return answer(procedure, Outcome.DONE)
