"""The one conversion from engine images to bytes."""
from __future__ import annotations

import numpy as np
import torch


def to_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3], clamped and rounded half up like compose/paste."""
    x = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return torch.floor(x + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
