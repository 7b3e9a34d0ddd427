"""The code both ends of a call run: the server imports it, the GIMP plug-in carries a copy of it whole.

- `api/`: the gRPC stubs generated from proto/ (`python -m server.shared.api.generate`).
- `messages`: plain dicts <-> protobuf messages; `errors.CallError`: a failed call, by gRPC status name.
- `grpcio_client.GrpcioClient`, `grpclib_client.GrpclibClient`: the same `call` over grpcio, or over the
  pure-Python grpclib stack (GIMPs whose Python has no grpcio).
- `calls`: a call's events as types (progress, result, failure) with the call's status, read the same way
  by the CLI and the plug-in.
- `address`: the default address, HOST:PORT, the token's form.
- `region`: the region-of-interest rule and rectangles; `defaults`: defaults and limits of requests.

Why here: the server owns the contract and must never import the plug-in, while the plug-in can take a
copy; install.py copies this folder (and `server/__init__.py`, which is empty) into the plug-in's
`vendor/`, so both sides import the same names, `server.shared....`, and no file list is kept by hand.
Nothing here imports torch or numpy; the standard library serves everything but the stubs, `messages`
and the two clients (protobuf, and grpcio or grpclib), which the plug-in imports only once it has
chosen its gRPC stack. Python 3.10 or newer (the oldest Python the plug-in's pinned wheels support).
"""
