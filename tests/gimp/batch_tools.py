# Copied beside params.json ($IN_DIR) by tests/test_gimp_e2e.py for the batch scripts run inside GIMP.
import time

from gi.repository import Gimp

PREFIX = "python-fu-gan-collage-"


def run_procedure(name, image=None, drawables=None, **arguments):
    """Run a GAN Collage procedure non-interactively (argument names with _ for -): (its return values,
    seconds)."""
    procedure = Gimp.get_pdb().lookup_procedure(PREFIX + name)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if image is not None:
        config.set_property("image", image)
    if drawables is not None:
        config.set_core_object_array("drawables", drawables)
    for key, value in arguments.items():
        config.set_property(key.replace("_", "-"), value)
    started = time.time()
    result = procedure.run(config)
    return result, round(time.time() - started, 3)
