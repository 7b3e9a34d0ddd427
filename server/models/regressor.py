"""Latent regressor: a ResNet (BasicBlock) encoder from a masked RGB image to W+.

The architecture follows the encoders published with latent-composition
(Chai et al., ICLR 2021, files ``sgan_encoders_{domain}_RGBM_model_final.pth``)
closely enough that their state_dicts load with ``strict=True``:

1. input ``[R, G, B, M]``: the image in [-1, 1], already multiplied by the mask
   (unknown pixels = 0), and the mask in [0, 1] (1 = visible); no mask means a
   mask of ones;
2. ``F.interpolate(x, size=(input_size, input_size), mode='area')``, always;
3. ``conv1`` 7x7 stride 2 pad 3 (no bias), ``bn1`` (eps 1e-5), ReLU,
   max-pool 3x3 stride 2 pad 1;
4. ``layer1..layer4``: BasicBlocks; the first block of layers 2-4 has stride 2
   and a ``downsample`` shortcut (1x1 conv, no bias, + BN);
5. ``layer5.conv5``: 1x1 conv with bias to ``w_dim * num_ws`` channels, the
   spatial mean, reshape to ``[N, num_ws, w_dim]``;
6. optionally (the project's own regressors) a ``w_avg`` buffer added to the
   output, so that the network predicts offsets from the average latent.

Published encoders are depth 34 (block counts [3, 4, 6, 3]), widths
64/128/256/512, input size 256, w_dim 512, no ``w_avg``.

:func:`regressor_config` / :func:`build_regressor` convert a model to and from
a JSON-serialisable dict of constructor arguments, for the project's own
safetensors + JSON card format (the file I/O lives elsewhere). Published
``.pth`` files are read by :mod:`server.models.latentcomp`.

Every model returned by this module (including a freshly constructed one) is
in eval mode; call ``.train()`` explicitly to train it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LatentRegressor",
    "regressor_config",
    "build_regressor",
    "CONFIG_KEYS",
    "DEPTH_BLOCK_COUNTS",
]

#: Block counts of the standard BasicBlock ResNet depths.
DEPTH_BLOCK_COUNTS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
}

#: Keys of the dict produced by :func:`regressor_config`.
CONFIG_KEYS = (
    "block_counts",
    "widths",
    "in_channels",
    "num_ws",
    "w_dim",
    "input_size",
    "has_w_avg",
)

NUM_STAGES = 4
_BN_EPS = 1e-5


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv(in_ch, out_ch, 3, stride)
        self.bn1 = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.conv2 = _conv(out_ch, out_ch, 3)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                _conv(in_ch, out_ch, 1, stride), nn.BatchNorm2d(out_ch, eps=_BN_EPS)
            )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + shortcut)


class _WPlusHead(nn.Module):
    """``conv5`` (1x1, with bias), spatial mean, reshape to ``[N, num_ws, w_dim]``."""

    def __init__(self, in_ch: int, num_ws: int, w_dim: int) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.w_dim = w_dim
        self.conv5 = nn.Conv2d(in_ch, num_ws * w_dim, kernel_size=1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv5(x).mean(dim=(2, 3))
        return y.view(y.shape[0], self.num_ws, self.w_dim)


def positive_int(name: str, value: Any) -> int:
    """`value` if it is a positive int, else ValueError naming `name` (also the .pth reader's check)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _int_tuple(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a sequence of {NUM_STAGES} positive integers, got {value!r}")
    out = tuple(positive_int(f"{name}[{i}]", v) for i, v in enumerate(value))
    if len(out) != NUM_STAGES:
        raise ValueError(f"{name} must have {NUM_STAGES} entries (one per ResNet stage), got {list(out)}")
    return out


class LatentRegressor(nn.Module):
    """ResNet encoder from ``(masked_image, mask)`` to W+ ``[N, num_ws, w_dim]``.

    Args:
        num_ws: number of W+ entries produced (e.g. 18 for a 1024 px generator).
        block_counts: BasicBlocks per stage; ``(2, 2, 2, 2)`` is depth 18,
            ``(3, 4, 6, 3)`` depth 34.
        widths: channels of the four stages; the stem (``conv1``) has
            ``widths[0]`` channels.
        in_channels: network input channels: the image channels plus one mask
            channel (4 for RGBM).
        w_dim: width of one W vector.
        input_size: side of the square the input is area-resized to (always
            applied; identity when the input already has that size).
        has_w_avg: register a ``w_avg`` buffer ``[w_dim]`` (zeros until set
            with :meth:`set_w_avg` or loaded) that is added to the output.

    The module is created in eval mode.
    """

    latent_kind = "w_plus"

    def __init__(
        self,
        *,
        num_ws: int,
        block_counts: Sequence[int] = DEPTH_BLOCK_COUNTS[18],
        widths: Sequence[int] = (64, 128, 256, 512),
        in_channels: int = 4,
        w_dim: int = 512,
        input_size: int = 256,
        has_w_avg: bool = False,
    ) -> None:
        super().__init__()
        self.num_ws = positive_int("num_ws", num_ws)
        self.block_counts = _int_tuple("block_counts", block_counts)
        self.widths = _int_tuple("widths", widths)
        self.in_channels = positive_int("in_channels", in_channels)
        if self.in_channels < 2:
            raise ValueError(f"in_channels must be at least 2 (image channels + 1 mask channel), got {in_channels}")
        self.w_dim = positive_int("w_dim", w_dim)
        self.input_size = positive_int("input_size", input_size)
        if not isinstance(has_w_avg, bool):
            raise ValueError(f"has_w_avg must be a bool, got {has_w_avg!r}")

        stem = self.widths[0]
        self.conv1 = _conv(self.in_channels, stem, 7, stride=2)
        self.bn1 = nn.BatchNorm2d(stem, eps=_BN_EPS)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_ch = stem
        for stage, (count, width) in enumerate(zip(self.block_counts, self.widths)):
            stride = 1 if stage == 0 else 2
            blocks = [BasicBlock(in_ch, width, stride)]
            blocks += [BasicBlock(width, width) for _ in range(count - 1)]
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
            in_ch = width
        self.layer5 = _WPlusHead(in_ch, self.num_ws, self.w_dim)

        if has_w_avg:
            self.register_buffer("w_avg", torch.zeros(self.w_dim))
        else:
            self.register_buffer("w_avg", None)

        self._init_weights()
        self.eval()

    # ------------------------------------------------------------------ setup

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.layer5.conv5:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def latent_shape(self) -> tuple[int, int]:
        """The shape of one output latent, ``(num_ws, w_dim)``."""
        return (self.num_ws, self.w_dim)

    @property
    def has_w_avg(self) -> bool:
        return self.w_avg is not None

    @property
    def image_channels(self) -> int:
        return self.in_channels - 1

    def set_w_avg(self, w_avg: Tensor) -> None:
        """Set the ``w_avg`` buffer from a ``[w_dim]`` (or ``[1, w_dim]``) tensor."""
        if self.w_avg is None:
            raise ValueError("this regressor has no w_avg buffer (built with has_w_avg=False)")
        w = torch.as_tensor(w_avg)
        if w.dim() == 2 and w.shape[0] == 1:
            w = w[0]
        if tuple(w.shape) != (self.w_dim,):
            raise ValueError(f"w_avg must have shape [{self.w_dim}] (or [1, {self.w_dim}]), got {list(w.shape)}")
        with torch.no_grad():
            self.w_avg.copy_(w.to(self.w_avg))

    # ---------------------------------------------------------------- forward

    def build_input(self, masked_image: Tensor, mask: Tensor | None = None) -> Tensor:
        """Validate the arguments and return the network input ``cat([masked_image, mask], 1)``."""
        if not isinstance(masked_image, Tensor):
            raise ValueError(f"masked_image must be a torch.Tensor, got {type(masked_image).__name__}")
        c = self.image_channels
        if masked_image.dim() != 4 or masked_image.shape[1] != c:
            raise ValueError(
                f"masked_image must have shape [N, {c}, H, W], got {list(masked_image.shape)}"
            )
        if not masked_image.is_floating_point():
            raise ValueError(f"masked_image must be a floating-point tensor, got {masked_image.dtype}")
        n, _, h, w = masked_image.shape
        if n == 0 or h == 0 or w == 0:
            raise ValueError(f"masked_image must be non-empty, got shape {list(masked_image.shape)}")
        if mask is None:
            mask = torch.ones((n, 1, h, w), dtype=masked_image.dtype, device=masked_image.device)
        else:
            if not isinstance(mask, Tensor):
                raise ValueError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
            if tuple(mask.shape) != (n, 1, h, w):
                raise ValueError(
                    f"mask must have shape [N, 1, H, W] = {[n, 1, h, w]} to match masked_image, "
                    f"got {list(mask.shape)}"
                )
            mask = mask.to(dtype=masked_image.dtype, device=masked_image.device)
        return torch.cat([masked_image, mask], dim=1)

    def resize_input(self, x: Tensor) -> Tensor:
        """Area-resize the 4-channel input to ``input_size`` (always applied)."""
        return F.interpolate(x, size=(self.input_size, self.input_size), mode="area")

    def _trunk(self, x: Tensor) -> Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def features(self, masked_image: Tensor, mask: Tensor | None = None) -> Tensor:
        """The ``layer4`` feature map ``[N, widths[-1], h, w]`` (8x8 at input_size 256)."""
        return self._trunk(self.resize_input(self.build_input(masked_image, mask)))

    def forward(self, masked_image: Tensor, mask: Tensor | None = None) -> Tensor:
        """W+ ``[N, num_ws, w_dim]`` for an image in [-1, 1] already multiplied by ``mask``.

        Args:
            masked_image: ``[N, in_channels - 1, H, W]``, any H and W.
            mask: ``[N, 1, H, W]`` in [0, 1] (1 = visible), or None for all ones.
        """
        w = self.layer5(self.features(masked_image, mask))
        if self.w_avg is not None:
            w = w + self.w_avg
        return w


# --------------------------------------------------------------------- config


def regressor_config(model: LatentRegressor) -> dict[str, Any]:
    """JSON-serialisable constructor arguments of ``model`` (keys :data:`CONFIG_KEYS`)."""
    if not isinstance(model, LatentRegressor):
        raise ValueError(f"model must be a LatentRegressor, got {type(model).__name__}")
    return {
        "block_counts": list(model.block_counts),
        "widths": list(model.widths),
        "in_channels": model.in_channels,
        "num_ws": model.num_ws,
        "w_dim": model.w_dim,
        "input_size": model.input_size,
        "has_w_avg": model.has_w_avg,
    }


def build_regressor(config: Mapping[str, Any]) -> LatentRegressor:
    """Build an (untrained, eval-mode) :class:`LatentRegressor` from :func:`regressor_config` output.

    Load the weights afterwards with ``model.load_state_dict(state_dict, strict=True)``
    (the ``w_avg`` buffer, when present, is part of the state_dict).
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"regressor config must be a dict, got {type(config).__name__}")
    missing = [k for k in CONFIG_KEYS if k not in config]
    unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
    if missing or unknown:
        raise ValueError(
            f"regressor config: missing keys {missing}, unknown keys {unknown} "
            f"(expected exactly {list(CONFIG_KEYS)})"
        )
    return LatentRegressor(**{k: config[k] for k in CONFIG_KEYS})
