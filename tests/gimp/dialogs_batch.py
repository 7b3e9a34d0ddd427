# Run by python-fu-eval inside a real GIMP 3 with an X display (tests/gimp/test_dialogs_in_gimp.py): every GAN Collage
# procedure in interactive mode (or those params.json names in "procedures", with its "model" and "token" in
# the settings file). The test confirms each dialog as it appears (Return = OK); this records what each call
# returned in $OUT_DIR/dialogs.json.
import json
import os

from gi.repository import Gimp

PARAMS = json.load(open(os.path.join(os.environ["IN_DIR"], "params.json")))
settings_file = os.path.join(str(Gimp.directory()), "gan-collage.json")
with open(settings_file, "w") as out:  # as install.py leaves it; the settings dialog must show these values
    json.dump({"server": PARAMS["server"], "token": PARAMS.get("token", "secret-token"),
               "model": PARAMS.get("model", "")}, out)

image = Gimp.Image.new(48, 32, Gimp.ImageBaseType.RGB)
layers = []
for name, fill in (("lower", Gimp.FillType.WHITE), ("upper", Gimp.FillType.FOREGROUND)):
    layer = Gimp.Layer.new(image, name, 24, 32, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    layer.fill(fill)
    layers.append(layer)
image.select_rectangle(Gimp.ChannelOps.REPLACE, 4, 4, 16, 16)

report = {}
# Edit attributes opens with these sliders moved (a fresh profile has no last values to override them)
EDITS = {"edits": PARAMS.get("edits", "pc1=2")}
CALLS = (("settings", None, {}), ("realize", layers[:1], {}), ("refine", layers[:1], {}), ("project", layers[:1], {}),
         ("interpolate", layers, {}), ("style-mix", layers, {}), ("local-blend", layers, {}),
         ("edit", layers[1:], EDITS), ("live", layers[:1], {}))
for name, drawables, values in [entry for entry in CALLS if entry[0] in PARAMS.get("procedures", [entry[0]])]:
    procedure = Gimp.get_pdb().lookup_procedure("python-fu-gan-collage-" + name)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    for key, value in values.items():
        config.set_property(key, value)
    if drawables is not None:
        config.set_property("image", image)
        config.set_core_object_array("drawables", drawables)
    result = procedure.run(config)
    status = result.index(0)
    report[name] = {"status": status.value_nick,
                    "message": result.index(1) if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1
                    else None}
report["settings_file"] = json.load(open(settings_file))
report["layers"] = [layer.get_name() for layer in image.get_layers()]
report["edited_has_latent"] = [layer.get_parasite("gan-collage-latent") is not None for layer in image.get_layers()
                              if layer.get_name().startswith("Edited")] == [True]
with open(os.path.join(os.environ["OUT_DIR"], "dialogs.json"), "w") as out:
    json.dump(report, out, indent=1)
image.delete()
