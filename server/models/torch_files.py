"""Reading `torch.save` files without executing code: the one place that calls `torch.load`.

Every reader of a torch file (rosinality checkpoints, latent-composition encoders, VGG16 / LPIPS
weights, training checkpoints, direction files) goes through :func:`load_torch_file`, which opens
regular files only (:mod:`.untrusted_files`), refuses zip bombs before torch inflates a byte
(:mod:`.archive_bounds`), and uses PyTorch's weights-only unpickler: tensors and plain data only, any
other global is refused before it runs.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from .archive_bounds import check_torch_archive
from .untrusted_files import open_regular


def load_torch_file(path: str | os.PathLike, what: str, *, map_location: torch.device | str = "cpu",
                    allowed_globals: Sequence[type] = ()) -> object:
    """`torch.load(path, map_location=map_location, weights_only=True)`, within bounds, with clear errors.

    `what` names the file's role in the messages (e.g. "VGG16 weights"); `allowed_globals` are
    extra classes the weights-only unpickler may rebuild (e.g. `argparse.Namespace`).

    Raises:
        FileNotFoundError: there is no file at `path` ("{what}: no file at {path}").
        ValueError: anything else keeps it from being read: not a regular file (a folder, a FIFO),
            members that would inflate beyond bounds ("{what}: {path}: ..."), a corrupt file, a refused
            global ("{what}: {path} cannot be read with torch.load(weights_only=True): ...").
    """
    shown = os.fspath(path)
    try:
        f = open_regular(path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{what}: no file at {shown}") from exc
    except (OSError, ValueError) as exc:
        raise ValueError(f"{what}: {exc}") from exc
    with f:
        check_torch_archive(f, f"{what}: {shown}")
        f.seek(0)
        try:
            with torch.serialization.safe_globals(list(allowed_globals)):
                return torch.load(f, map_location=map_location, weights_only=True)
        except Exception as exc:  # corrupt data and refused globals surface as many exception types
            raise ValueError(f"{what}: {shown} cannot be read with "
                             f"torch.load(weights_only=True): {exc}") from exc
