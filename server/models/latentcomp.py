"""Reader for latent-composition encoder checkpoints (`.pth`, Chai et al., ICLR 2021).

The published files ``sgan_encoders_{domain}_RGBM_model_final.pth`` hold
``{'state_dict', 'optimizer', 'epoch', 'val_loss'}``; :func:`read_latentcomp_checkpoint`
reads one weights-only, infers the :class:`~server.models.regressor.LatentRegressor`
configuration from the tensor shapes and returns the loaded network (the network itself
lives in :mod:`server.models.regressor`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from .regressor import NUM_STAGES, LatentRegressor, build_regressor, positive_int
from .torch_files import load_torch_file

__all__ = ["read_latentcomp_checkpoint"]


def _layout_error(path: Any, what: str) -> ValueError:
    return ValueError(f"{os.fspath(path)}: not a latent-composition encoder checkpoint: {what}")


def _extract_state_dict(path: Any, ckpt: Any) -> dict[str, Tensor]:
    if not isinstance(ckpt, Mapping):
        raise _layout_error(path, f"top level is a {type(ckpt).__name__}, expected a dict with a 'state_dict' entry")
    if "state_dict" in ckpt:
        sd = ckpt["state_dict"]
        if not isinstance(sd, Mapping):
            raise _layout_error(path, f"'state_dict' is a {type(sd).__name__}, expected a dict of tensors")
    elif any(isinstance(k, str) and k.endswith("conv1.weight") for k in ckpt):
        sd = ckpt  # a bare state_dict
    else:
        keys = sorted(str(k) for k in ckpt)[:8]
        raise _layout_error(path, f"no 'state_dict' entry (top-level keys: {keys})")
    bad = [str(k) for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise _layout_error(path, f"state_dict entries that are not named tensors: {bad[:5]}")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def _infer_config(path: Any, sd: Mapping[str, Tensor], w_dim: int, input_size: int) -> dict[str, Any]:
    def need(key: str, ndim: int) -> Tensor:
        if key not in sd:
            raise _layout_error(path, f"missing '{key}'")
        t = sd[key]
        if t.dim() != ndim:
            raise _layout_error(path, f"'{key}' has shape {list(t.shape)}, expected {ndim} dimensions")
        return t

    conv1 = need("conv1.weight", 4)
    widths, block_counts = [], []
    for stage in range(1, NUM_STAGES + 1):
        widths.append(int(need(f"layer{stage}.0.conv1.weight", 4).shape[0]))
        prefix = f"layer{stage}."
        indices = {int(k.split(".")[1]) for k in sd if k.startswith(prefix) and k.split(".")[1].isdigit()}
        if indices != set(range(len(indices))):
            raise _layout_error(path, f"layer{stage} block indices are not contiguous: {sorted(indices)}")
        block_counts.append(len(indices))
    conv5 = need("layer5.conv5.weight", 4)
    need("layer5.conv5.bias", 1)
    if conv1.shape[0] != widths[0]:
        raise _layout_error(path, f"conv1 has {conv1.shape[0]} output channels but layer1 has width {widths[0]}")
    if conv5.shape[1] != widths[-1]:
        raise _layout_error(path, f"layer5.conv5 has {conv5.shape[1]} input channels but layer4 has width {widths[-1]}")
    if conv5.shape[0] % w_dim != 0:
        raise _layout_error(path, f"layer5.conv5 has {conv5.shape[0]} output channels, not a multiple of w_dim={w_dim}")
    return {
        "block_counts": block_counts,
        "widths": widths,
        "in_channels": int(conv1.shape[1]),
        "num_ws": int(conv5.shape[0]) // w_dim,
        "w_dim": w_dim,
        "input_size": input_size,
        "has_w_avg": "w_avg" in sd,
    }


def read_latentcomp_checkpoint(
    path: str | os.PathLike[str], *, w_dim: int = 512, input_size: int = 256, ckpt: Any = None
) -> LatentRegressor:
    """Load a published latent-composition encoder (``sgan_encoders_*_RGBM_model_final.pth``).

    The file is read weights-only (:func:`~server.models.torch_files.load_torch_file`);
    depth, widths, input channels and ``num_ws`` (``conv5`` output channels //
    ``w_dim``) are inferred from the tensor shapes; a ``module.`` prefix is
    stripped; a bare state_dict (without the training wrapper) is accepted too.
    The returned model is in eval mode, on the CPU, float32. `ckpt`: the file's contents when the
    caller has already read them (weights-only), so the file is not read twice.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be read safely (a folder, corrupt, a refused global) or its
            layout is not recognised.
    """
    positive_int("w_dim", w_dim)
    positive_int("input_size", input_size)
    if ckpt is None:
        ckpt = load_torch_file(path, "latent-composition encoder checkpoint")
    sd = _extract_state_dict(path, ckpt)
    config = _infer_config(path, sd, w_dim, input_size)
    try:
        model = build_regressor(config)
    except ValueError as exc:
        raise _layout_error(path, f"inferred an invalid configuration {config}: {exc}") from exc
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise _layout_error(path, f"state_dict does not match the inferred configuration {config}: {exc}") from exc
    return model.eval()
