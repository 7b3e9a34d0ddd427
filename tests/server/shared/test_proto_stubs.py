"""The committed stubs in server/shared/api are exactly what `python -m server.shared.api.generate` makes from
proto/."""
from __future__ import annotations

import importlib.metadata

import pytest

from server.shared.api import generate


def test_committed_stubs_are_current(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) generates the stubs")
    written = generate.generate(tmp_path)
    assert {p.name for p in written} >= {"gancollage_pb2.py", "gancollage_pb2.pyi", "gancollage_pb2_grpc.py"}
    committed = generate.API_DIR
    stale = [str(p) for p in written
             if not (committed / p).is_file() or (committed / p).read_bytes() != (tmp_path / p).read_bytes()]
    version = importlib.metadata.version("grpcio-tools")
    assert not stale, (f"stale stubs {stale}: run `python -m server.shared.api.generate` and commit the result "
                       f"(generated here with grpcio-tools {version}; the committed ones must come from the "
                       f"same version)")


def test_generated_stub_imports_its_messages_relatively():
    assert generate.relative_imports("from gancollage.v1 import gancollage_pb2 as x\n", "gancollage.v1") == \
        "from . import gancollage_pb2 as x\n"
    assert generate.relative_imports("from gancollage.v2 import other_pb2 as y\n", "gancollage.v1") == \
        "from ..v2 import other_pb2 as y\n"
    assert generate.relative_imports("from google.protobuf import timestamp_pb2\n", "gancollage.v1") == \
        "from google.protobuf import timestamp_pb2\n"
    from server.shared.api.gancollage.v1 import gancollage_pb2_grpc

    assert gancollage_pb2_grpc.GanCollageStub
