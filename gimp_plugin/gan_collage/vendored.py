"""Where the plug-in's bundled code lives, and putting it on sys.path.

`vendor/server/shared/` is the code the server and the plug-in both run (client, stubs, the region rule,
defaults); `vendor/pure-grpc/` the pinned pure-Python gRPC stack (grpclib, h2, hpack, hyperframe,
multidict, protobuf), used only when GIMP's Python has no grpcio. install.py writes both. Imported by
core/__init__.py, so before anything imports server.shared.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
VENDOR = FOLDER / "vendor"
PURE_GRPC = VENDOR / "pure-grpc"
if VENDOR.is_dir() and str(VENDOR) not in sys.path:
    sys.path.insert(0, str(VENDOR))


def use_pure_grpc() -> None:
    """Import protobuf and the stubs from the pure-Python stack from now on (forgetting any copies a failed
    grpcio attempt imported), with protobuf's pure-Python runtime."""
    os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    if str(PURE_GRPC) not in sys.path:
        sys.path.insert(0, str(PURE_GRPC))
    stale = ("google", "server.shared.api", "server.shared.messages", "server.shared.grpcio_client")
    for name in [name for name in sys.modules if name.split(".")[0] == "google" or name.startswith(stale)]:
        del sys.modules[name]
