"""Reading `torch.save` files without executing code: the one place that calls `torch.load`.

Every reader of a torch file (rosinality checkpoints, latent-composition encoders, VGG16 / LPIPS
weights, training checkpoints) goes through :func:`load_torch_file`, which uses PyTorch's
weights-only unpickler: tensors and plain data only, any other global is refused before it runs.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch


def load_torch_file(path: str | os.PathLike, what: str, *, map_location: torch.device | str = "cpu",
                    allowed_globals: Sequence[type] = ()) -> object:
    """`torch.load(path, map_location=map_location, weights_only=True)`, with clear errors.

    `what` names the file's role in the messages (e.g. "VGG16 weights"); `allowed_globals` are
    extra classes the weights-only unpickler may rebuild (e.g. `argparse.Namespace`).

    Raises:
        FileNotFoundError: there is no file at `path` ("{what}: no file at {path}").
        ValueError: anything else keeps it from being read weights-only: a folder, a corrupt file,
            a refused global ("{what}: {path} cannot be read with torch.load(weights_only=True): ...").
    """
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{what}: no file at {os.fspath(path)}") from exc
    except Exception as exc:  # corrupt data and refused globals surface as many exception types
        raise ValueError(f"{what}: {os.fspath(path)} cannot be read with "
                         f"torch.load(weights_only=True): {exc}") from exc
