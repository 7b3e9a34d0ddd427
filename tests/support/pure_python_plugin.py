"""Run by tests/plugin/test_transport.py in a Python without grpcio or protobuf (python -S): the packaged plug-in's
actions over its own pure-Python gRPC stack, against a real server; a layer with a crafted latent, a token
that cannot travel.

    python -S pure_python_plugin.py PLUGIN_FOLDER SERVER CLOSED_SERVER [TOKEN_SERVER TOKEN]   (prints JSON)
"""
import json
import sys

plugin, server, closed, *guarded = sys.argv[1:]
sys.path.insert(0, plugin)
from core import (  # noqa: E402  # noqa: E402
    actions,
    attributes,  # noqa: E402
    connection,
    latent_parasite,
    layer_data,
    requests,
)
from core.connection import TransportError, connect  # noqa: E402
from core.latent_parasite import Stored  # noqa: E402
from core.layer_data import CanvasData, LayerData, Options  # noqa: E402
from core.session import Session  # noqa: E402
from core.settings import Config  # noqa: E402
from server.shared.region import Bounds  # noqa: E402

LAYER = LayerData("patch", 12, 8, bytes(range(192)) * 2, x=3, y=2)
OTHER = LayerData("other", 8, 8, b"\x80\x40\x20\xff" * 64, x=10, y=10)
report = {"grpc_importable": True}
try:
    import grpc  # noqa: F401
except ImportError:
    report["grpc_importable"] = False

with connect(Config(server=server)) as opened:
    session = Session(opened, model="", timeout=60, report=lambda text, fraction: None)
    plan = layer_data.ReadPlan.of(Bounds(4, 5, 12, 6), 20, 16, session.resolution())
    canvas = CanvasData(20, 16, [OTHER, LAYER], region=plan.region, has_selection=True)
    projected = actions.project(session, LAYER, Options())
    carrying = LayerData(**{**vars(LAYER), "latent": Stored(projected[0].latent, projected[0].box)})
    results = [*actions.realize(session, canvas, Options("optimize", 2, 1)), *projected,
               *actions.interpolate(session, LAYER, OTHER, Options(), 3, "linear", 100),
               *actions.style_mix(session, LAYER, OTHER, Options(), 2),
               *actions.local_blend(session, LAYER, OTHER, lambda square: b"\xff" * 144, Options(), 1),
               *attributes.edit(session, carrying, Options(), "pc1=2, sefa2=-1", "fine")]
    report["counts"] = dict(session.timings.counts)
    # a latent claiming a 16384 px square (as from a crafted XCF): unusable, so the layer is projected again
    crafted = latent_parasite.encode(projected[0].latent, Bounds.sized(0, 0, 16384, 16384))
    stored = latent_parasite.read(crafted, LAYER.box, Bounds(0, 0, 20, 16))
    claiming = LayerData(**{**vars(LAYER), "latent": stored, "latent_unusable": stored is None})
    frames = actions.interpolate(session, claiming, OTHER, Options(), 2, "linear", 100)
    report["crafted"] = {"notes": session.notes, "boxes": [list(frame.box) for frame in frames]}
    report["description"] = opened.description
    report["layers"] = [(layer.name, layer.image["width"], len(layer.image["rgba"])) for layer in results]

from google.protobuf.internal import api_implementation  # noqa: E402

report["protobuf"] = api_implementation.Type()


def code_of(config, name, request, timeout=60):
    try:
        with connection.connect(config) as opened:
            list(opened.client.call(name, request, timeout))
    except connection.CallError as exc:
        return exc.code
    return "OK"


try:
    connect(Config(server=server, token="clé"))
except TransportError as exc:
    report["token refused"] = str(exc)
from server.shared.grpclib_client import GrpclibClient  # noqa: E402  (vendor/pure-grpc is on the path now)

try:
    GrpclibClient(server, "clé")
except ValueError as exc:
    report["token refused by grpclib"] = str(exc)

report["codes"] = {
    "unknown model": code_of(Config(server=server), "Project", {"model": "nope", "image": requests.image_dict(LAYER)}),
    "closed port": code_of(Config(server=closed), "GetServerInfo", {}),
    "deadline": code_of(Config(server=server), "Project", {"image": requests.image_dict(LAYER),
                                                           "options": {"method": "optimize", "steps": 10000}}, 0.3),
}
if guarded:
    address, token = guarded
    report["codes"].update({"no token": code_of(Config(server=address), "GetServerInfo", {}),
                            "wrong token": code_of(Config(server=address, token="guess"), "GetServerInfo", {}),
                            "right token": code_of(Config(server=address, token=token), "GetServerInfo", {})})
print(json.dumps(report))
