# Run by python-fu-eval inside a real GIMP 3 (tests/gimp/test_packaging_in_gimp.py) with the plug-in's source folder
# copied in by hand (no vendor/): every GAN Collage procedure must still be registered, in the menu, and say what to do.
import json
import os

from gi.repository import Gimp

PREFIX = "python-fu-gan-collage-"
image = Gimp.Image.new(16, 16, Gimp.ImageBaseType.RGB)
image.insert_layer(Gimp.Layer.new(image, "layer", 16, 16, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL),
                   None, 0)
report = {}
for name in ("realize", "refine", "project", "interpolate", "style-mix", "local-blend", "edit", "settings"):
    procedure = Gimp.get_pdb().lookup_procedure(PREFIX + name)
    if procedure is None:
        report[name] = None
        continue
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if name != "settings":
        config.set_property("image", image)
    result = procedure.run(config)
    report[name] = {"status": result.index(0).value_nick, "error": result.index(1) if result.length() > 1 else "",
                    "menu": procedure.get_menu_label(), "paths": list(procedure.get_menu_paths())}
report["layers"] = len(image.get_layers())
with open(os.path.join(os.environ["OUT_DIR"], "incomplete.json"), "w") as out:
    json.dump(report, out, indent=1)
image.delete()
