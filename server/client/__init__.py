"""Clients of the GAN Collage server; none imports torch.

- `cli`: `python -m server.client ...`, the command-line client (exit codes in its docstring).
- `direct.DirectClient`: gRPC through grpcio, with plain-dict requests and events.
- `grpclib_client.GrpclibClient`: the same through pure-Python grpclib (the GIMP plug-in without grpcio).
- `messages`: plain dicts <-> protobuf messages; `errors.CallError`: a failed call; `address`: HOST:PORT.
"""
