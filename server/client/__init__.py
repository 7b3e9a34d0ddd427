"""Clients of the GAN Collage server; none imports torch.

- `cli`: `python -m server.client ...`, the command-line client (exit codes in its docstring).
- `direct.DirectClient`: gRPC with plain-dict requests and events.
- `bridge`: `python -m server.client bridge`, the same calls over stdin/stdout for the GIMP plug-in.
- `bridge_protocol`: the bridge's framing and `BridgeClient` (standard library only).
- `messages`: plain dicts <-> protobuf messages.
"""
