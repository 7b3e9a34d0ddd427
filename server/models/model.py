"""A loaded model: its networks and its card, as one typed object."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from .discriminator import Discriminator
from .generator import Generator
from .regressor import LatentRegressor

PARTS = ("generator", "discriminator", "regressor")


class MissingPart(LookupError):
    """The model has no network of the kind a request needs (a checkpoint without a discriminator...)."""


@dataclass
class Model:
    """Networks in eval mode (absent ones None) and the JSON model card they came with."""

    generator: Optional[Generator]  # None only when a reader was asked for other parts alone
    discriminator: Optional[Discriminator] = None
    regressor: Optional[LatentRegressor] = None
    card: dict = field(default_factory=dict)
    # LPIPS-VGG16 (server.engine.losses.LPIPS) from the server's --lpips-weights: not part of any
    # checkpoint, one instance shared by every model the server serves; None without those weights.
    lpips: Optional[object] = None
    # Its attribute directions (server.models.direction_files.DirectionLibrary), gathered on first use;
    # None when nobody attached one (the server's catalog does).
    directions: Optional[object] = None

    def require(self, part: str, why: str = "") -> torch.nn.Module:
        """The network `part` ("generator", "discriminator" or "regressor"), or MissingPart saying `why`."""
        module = getattr(self, part) if part in PARTS else None
        if module is None:
            raise MissingPart(f"this model has no {part}" + (f"; {why}" if why else ""))
        return module

    def to(self, device) -> "Model":
        """Every network moved to `device` for inference: eval mode, no parameter gradients (in place)."""
        for part in PARTS:
            module = getattr(self, part)
            if module is not None:
                setattr(self, part, module.to(device).eval().requires_grad_(False))
        return self
