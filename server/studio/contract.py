"""What Ray Serve's gRPC proxy learns of the contract: each method's name and kind, with neither
request nor response (de)serialised there.

The proxy routes a call to the front deployment's method of the same name and pickles the request
for it. Our stubs' classes name their module `gancollage.v1.gancollage_pb2` (protoc's name for the
.proto), which no process can import, so a message cannot be pickled by reference: requests travel
as the bytes the client sent (the front parses them, as the plain server does, into INVALID_ARGUMENT
when they are not the method's message) and answers as serialized bytes (`Serialized`).
"""
from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["GanCollage"]
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
REQUESTS = {method.name: getattr(pb, method.input_type.name) for method in SERVICE.methods}
RESPONSES = {method.name: getattr(pb, method.output_type.name) for method in SERVICE.methods}
SERVICER_FUNCTIONS = [f"{__name__}.add_to_proxy"]  # for gRPCOptions.grpc_servicer_functions


def add_to_proxy(servicer, server: grpc.aio.Server) -> None:
    """Register GanCollage's and grpc.health.v1's methods; the proxy replaces `servicer` (a placeholder)
    with its routing to the front deployment."""
    for service in (SERVICE, HEALTH):
        handlers = {method.name: (grpc.unary_stream_rpc_method_handler if method.server_streaming
                                  else grpc.unary_unary_rpc_method_handler)(servicer)
                    for method in service.methods}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


class Serialized(bytes):
    """An answer already serialized: Ray Serve sends `answer.SerializeToString()` to the proxy."""

    def SerializeToString(self) -> bytes:  # noqa: N802 (protobuf's name)
        return bytes(self)
