"""What makes training fast on an NVIDIA GPU, kept in one place: TF32 matrix maths and cuDNN autotuning,
bfloat16 autocast, channels-last convolutions, and the largest batch that fits the card.

bfloat16 has float32's exponent range, so unlike float16 it needs no loss scaling; losses are still
computed in float32 from the networks' outputs. Elsewhere (a CPU) everything here is a no-op.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

BATCH_CANDIDATES = (32, 16, 8, 4, 2)
MEMORY_HEADROOM = 0.85  # a batch fits when its probe's peak stays under this share of the card


def configure(device: torch.device) -> None:
    """TF32 for float32 matmuls and convolutions, cuDNN picking the fastest kernels (fixed shapes)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on `device` when `enabled`, else nothing."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def channels_last(module: nn.Module | None, device: torch.device) -> nn.Module | None:
    """`module` with channels-last weights on a GPU (tensor cores want NHWC convolutions)."""
    if module is not None and device.type == "cuda":
        module.to(memory_format=torch.channels_last)
    return module


def fit_batch(probe: Callable[[int], None], device: torch.device,
              candidates: tuple[int, ...] = BATCH_CANDIDATES) -> int:
    """The largest of `candidates` for which `probe(batch)` (one forward and backward pass) runs
    without running out of memory and peaks under `MEMORY_HEADROOM` of the card; the smallest
    candidate when none does."""
    total = torch.cuda.get_device_properties(device).total_memory
    for batch in candidates:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        try:
            probe(batch)
        except torch.cuda.OutOfMemoryError:
            continue
        finally:
            torch.cuda.synchronize(device)
        if torch.cuda.max_memory_allocated(device) < MEMORY_HEADROOM * total:
            return batch
    return candidates[-1]
