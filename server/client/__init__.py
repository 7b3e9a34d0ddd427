"""The command-line client, `python -m server.client ...` (exit codes in cli.py's docstring); imports no torch.

It reaches the server through `server.shared` (the grpcio client, the messages, the address), as the
GIMP plug-in does.
"""
