"""What the plug-in's latent tests share (tests/plugin/test_latent_parasite.py, test_latent_layers.py,
test_edit_attributes.py): latents as the server answers them, parasite bytes (packed and crafted), a
layer carrying a stored latent, and a fake server's directions and edits."""
from __future__ import annotations

import json
import random
import struct
from dataclasses import replace

from core import latent_parasite
from core.layer_data import LayerData
from server.shared.region import Bounds
from tests.support.plugin_fakes import image, latent


def exact_values(count, seed):
    """Values that are exact float32 numbers, as gRPC delivers them."""
    generator = random.Random(seed)
    return [struct.unpack("<f", struct.pack("<f", generator.gauss(0, 2)))[0] for _ in range(count)]


def w_plus(rows=18, width=512, model="ffhq", seed=0):
    """A W+ latent as the server answers it (kind and shape included)."""
    return {"num_ws": rows, "w_dim": width, "values": exact_values(rows * width, seed), "model": model,
            "kind": "w_plus", "shape": [rows, width]}


def packed(header, values=b"", version=2):
    """Parasite bytes with this header (a dict, or raw bytes) and value bytes."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return b"GCL" + bytes([version]) + struct.pack("<I", len(raw)) + raw + values


def crafted(square="[0,0,48]", values=(0.5, -0.5, 1.0, 2.0)) -> bytes:
    """A 2 x 2 W+ parasite of the fake server's model with this square (JSON text: Infinity, NaN, any
    number) and values; square [0, 0, 48] and these values make a usable one for PHOTO."""
    header = f'{{"model":"default","kind":"w_plus","shape":[2,2],"square":{square}}}'.encode()
    return packed(header, struct.pack("<4f", *values))


def carrying(layer: LayerData, stored_latent: dict, square: Bounds) -> LayerData:
    return replace(layer, latent=latent_parasite.Stored(stored_latent, square))


LOWER = LayerData("lower", 6, 4, b"\x00" * 96, x=10, y=20, mask=b"\xff" * 24)
OWN = latent("default", 0.25)  # 2 x 2, as the fake server's model has
SQUARE = Bounds.sized(8, 16, 12, 12)


def direction(name, kind, first=0, last=2):
    return {"name": name, "kind": kind, "first_layer": first, "last_layer": last, "description": "", "sigma": 1.0,
            "accuracy": 0.0}


DIRECTIONS = ([direction(f"pc{i}", "ganspace") for i in range(1, 21)] + [direction(f"sefa{i}", "sefa")
              for i in range(1, 21)] + [direction("smile", "supervised", 1, 2), direction("glasses", "supervised")])


def listed(request):
    yield {"event": "result", "result": {"directions": DIRECTIONS}}


def edited(request):
    yield {"event": "result", "result": {"image": image(8, 8), "latent": latent("default", 0.125)}}
