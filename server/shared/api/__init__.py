"""Generated gRPC stubs of `proto/gancollage/v1/gancollage.proto` (regenerate: `python -m server.shared.api.generate`).

Import them as `from server.shared.api.gancollage.v1 import gancollage_pb2, gancollage_pb2_grpc`. This
package imports nothing itself, so the generator runs even when the committed stubs are stale.
"""
