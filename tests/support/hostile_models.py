"""Hostile `--models-dir` contents (issue 24, item 3), built in seconds, and the command that measures
a server started on them.

    .venv/bin/python -m tests.support.hostile_models [--checkout DIR] [--cases a,b] [--startup-seconds 60]

Each case is a models folder of its own (plus `all`, every case in one folder); for each, a fresh
`python -m server --port 0 --models-dir FOLDER` from `--checkout` (default: this one) is timed to
`listening`, its peak RSS (VmHWM) read then, and ListModels called. One markdown row per case.

Bombs are deflated zeros written as one repeated full-flush deflate block, so a 3 GiB member costs
3 MB of disk and no compression time. The helpers also serve tests/server/models/test_hostile_models.py.
"""
from __future__ import annotations

import argparse
import collections
import io
import os
import pickle
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from tests.support.models import make_tiny_model
from tests.support.paths import REPO

CHUNK = 1 << 20


def deflated_zeros(nbytes: int, head: bytes = b"") -> bytes:
    """A raw deflate stream inflating to `head` and `nbytes` zero bytes (a multiple of 1 MiB), about
    nbytes / 1000 long. A full flush empties the window, so every chunk deflates to the same bytes."""
    if nbytes % CHUNK:
        raise ValueError("a multiple of 1 MiB")
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = first.compress(head) + first.flush(zlib.Z_FULL_FLUSH) if head else b""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = block.compress(bytes(CHUNK)) + block.flush(zlib.Z_FULL_FLUSH)
    return start + chunk * (nbytes // CHUNK) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def zip_bytes(members: list[tuple[str, bytes, int]]) -> bytes:
    """A zip of (name, data, inflated size): data is stored when its size is the inflated size, else it
    is a raw deflate stream. The CRCs are zero: a reader inflates a member before it can check one."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, size in members:
        method = 0 if len(data) == size else 8
        encoded = name.encode()
        header = struct.pack("<HHHHHIII", 20, 0, method, 0, 0, 0, len(data), size)
        central.write(b"PK\x01\x02" + struct.pack("<H", 20) + header
                      + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, out.tell()) + encoded)
        out.write(b"PK\x03\x04" + header + struct.pack("<HH", len(encoded), 0) + encoded + data)
    start, directory = out.tell(), central.getvalue()
    out.write(directory + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(members), len(members),
                                                       len(directory), start, 0))
    return out.getvalue()


class _Storage:
    """Pickled as torch.save's reference to storage "0" of `numel` floats."""

    def __init__(self, numel: int):
        self.numel = numel


class _Tensor:
    def __init__(self, numel: int):
        self.storage = _Storage(numel)

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, (self.storage.numel,), (1,), False, collections.OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
        return None


def torch_bomb(inflated: int, declared: int) -> bytes:
    """A torch.save-shaped zip `{"g_ema": {"w": tensor}}` whose storage member inflates to `inflated`
    bytes of zeros while its pickle declares `declared` bytes of floats."""
    pickled = io.BytesIO()
    _TorchPickler(pickled, protocol=2).dump({"g_ema": {"w": _Tensor(declared // 4)}})
    return zip_bytes([("archive/data.pkl", pickled.getvalue(), len(pickled.getvalue())),
                      ("archive/byteorder", b"little", 6), ("archive/version", b"3\n", 2),
                      ("archive/data/0", deflated_zeros(inflated), inflated)])


def npz_bomb(inflated: int) -> bytes:
    """A GANSpace-style .npz whose `lat_comp` is one component of `inflated` bytes of float32 zeros."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (1, 1, inflated // 4)})
    head = header.getvalue()
    return zip_bytes([("lat_comp.npy", deflated_zeros(inflated, head), len(head) + inflated)])


class _EmbeddedStorage:
    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.data,))


def nvidia_bomb(inflated: int) -> bytes:
    """An NVIDIA-style pickle whose one tensor storage is a torch.save zip bomb. The padding keeps the
    bomb's end record out of the last 64 KB, where `zipfile.is_zipfile` would find it."""
    return pickle.dumps({"G_ema": _EmbeddedStorage(torch_bomb(inflated, 16)), "padding": bytes(1 << 17)},
                        protocol=4)


def save_tiny(folder: Path, name: str = "tiny") -> Path:
    """A valid tiny model folder (generator only)."""
    from server.models.own_format import save_model

    save_model(folder, make_tiny_model(16).generator, name=name, description="tiny test model")
    return folder


def weights_elsewhere(folder: Path, outside: Path, how: str) -> Path:
    """A valid tiny model folder whose card's weights lie in `outside` (a tiny model folder), reached
    by an absolute path, a `../` path or a symlink."""
    import json

    save_tiny(folder)
    card = json.loads((folder / "model.json").read_text())
    (folder / "weights.safetensors").unlink()
    target = outside / "weights.safetensors"
    if how == "absolute":
        card["weights"]["file"] = str(target)
    elif how == "dotdot":
        card["weights"]["file"] = os.path.relpath(target, folder)
    else:
        (folder / "weights.safetensors").symlink_to(target)
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def fifo_weights(folder: Path) -> Path:
    save_tiny(folder)
    (folder / "weights.safetensors").unlink()
    os.mkfifo(folder / "weights.safetensors")
    return folder


NOT_UTF8 = os.fsdecode(b"caf\xe9")  # a folder name in Latin-1, as an old archive tool may write it


def build_cases(root: Path, names: list[str] | None = None) -> dict[str, Path]:
    """One models folder per hostile case (default: all of them), and `all` with every chosen case in
    one folder. The tiny model folder the escapes reach for is `root/outside`."""
    outside = save_tiny(root / "outside")
    cases = {
        "baseline_empty": lambda d: None,
        "zip_bomb_1mb_pt": lambda d: (d / "bomb1.pt").write_bytes(torch_bomb(1 << 30, 16)),
        "zip_bomb_3mb_pt_declared": lambda d: (d / "bomb3.pt").write_bytes(torch_bomb(3 << 30, 3 << 30)),
        "nvidia_pkl_embedded_zip_bomb": lambda d: (d / "bomb.pkl").write_bytes(nvidia_bomb(1 << 30)),
        "fifo_weights": lambda d: fifo_weights(d / "fifo"),
        "weights_absolute_path": lambda d: weights_elsewhere(d / "absolute", outside, "absolute"),
        "weights_dotdot_path": lambda d: weights_elsewhere(d / "dotdot", outside, "dotdot"),
        "weights_symlink_outside": lambda d: weights_elsewhere(d / "symlink", outside, "symlink"),
        "non_utf8_folder_name": lambda d: save_tiny(d / NOT_UTF8),
    }
    every = root / "all"
    every.mkdir()
    folders = {}
    for name in names or cases:
        folders[name] = root / name
        for folder in (folders[name], every):
            folder.mkdir(exist_ok=True)
            cases[name](folder)
    return {**folders, "all": every}


def measure(models_dir: Path, checkout: Path, startup_seconds: float) -> dict:
    """Seconds to `listening`, peak RSS then, and what ListModels answers (or why there is none)."""
    import grpc

    from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
    from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc
    from server.tools.server_process import ServerProcess

    started = time.monotonic()
    try:
        running = ServerProcess("--models-dir", str(models_dir), checkout=checkout, startup_seconds=startup_seconds)
    except RuntimeError as exc:
        return {"listening_s": None, "peak_mb": None, "list_models": str(exc).splitlines()[0][:120]}
    try:
        result = {"listening_s": round(time.monotonic() - started, 1), "peak_mb": round(running.peak_mb())}
        with grpc.insecure_channel(running.address) as channel:
            try:
                models = pb_grpc.GanCollageStub(channel).ListModels(pb.ListModelsRequest(), timeout=30).models
                result["list_models"] = "OK: " + "; ".join(
                    f"{m.name} " + ("available" if m.available else f"unavailable ({m.error[:100]})")
                    for m in models if m.name != "default")
            except grpc.RpcError as exc:
                result["list_models"] = f"{exc.code().name}: {exc.details()[:100]}"
        return result
    finally:
        running.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, default=REPO, help="run the server from this checkout")
    parser.add_argument("--cases", help="comma-separated case names (default: all, then `all`)")
    parser.add_argument("--startup-seconds", type=float, default=60.0, help="give up on listening after this")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hostile-models-") as tmp:
        folders = build_cases(Path(tmp))
        chosen = args.cases.split(",") if args.cases else list(folders)
        print("| case | listening after | peak RSS | ListModels |\n|---|---|---|---|")
        for name in chosen:
            r = measure(folders[name], args.checkout, args.startup_seconds)
            listening = f"{r['listening_s']} s" if r["listening_s"] is not None else "never (killed)"
            peak = f"{r['peak_mb']} MB" if r["peak_mb"] is not None else "-"
            print(f"| {name} | {listening} | {peak} | {r['list_models']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
