"""Building blocks shared by the StyleGAN2 generator and discriminator.

Parameters are stored the way both public codebases store them (weights drawn from N(0, 1) and
scaled at run time, "equalized learning rate"), so checkpoints load without rescaling.
"""
from __future__ import annotations

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


class NetworkConfig:
    """Shared by the generator and discriminator configs (dataclasses with a `resolution` and a
    `channels` map resolution -> width): validation and JSON, whose object keys must be strings."""

    def __post_init__(self):
        self.channels = {int(k): int(v) for k, v in self.channels.items()}
        log2 = math.log2(self.resolution)
        if self.resolution < 4 or log2 != int(log2):
            raise ValueError(f"resolution must be a power of two >= 4, got {self.resolution}")
        missing = [r for r in (2 ** i for i in range(2, int(log2) + 1)) if r not in self.channels]
        if missing:
            raise ValueError(f"channels has no width for resolutions {missing}")

    def to_json(self) -> dict:
        d = asdict(self)
        d["channels"] = {str(k): v for k, v in self.channels.items()}
        return d

    @classmethod
    def from_json(cls, d: dict):
        return cls(**d)


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, activate: bool, gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """Add a per-channel bias, apply leaky ReLU (gain sqrt 2) when asked, scale, then clamp."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if activate:
        x = F.leaky_relu(x, LRELU_SLOPE) * (LRELU_GAIN * gain)
    elif gain != 1.0:
        x = x * gain
    if clamp is not None:
        c = clamp * gain
        x = x.clamp(-c, c)
    return x


def fir_kernel_2d(taps=(1.0, 3.0, 3.0, 1.0)) -> torch.Tensor:
    """Separable FIR filter normalised to unit sum."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[:, None] * k[None, :]
    return k / k.sum()


def is_standard_fir(kernel: torch.Tensor) -> bool:
    """Whether a checkpoint's 4x4 resampling kernel is the [1,3,3,1] one the networks hard-wire (at any scale)."""
    kernel = kernel.float()
    return tuple(kernel.shape) == (4, 4) and torch.allclose(kernel / kernel.sum(), fir_kernel_2d(), atol=1e-6)


def fir_filter(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int], gain: float = 1.0) -> torch.Tensor:
    """Pad every side by (before, after), then convolve each channel with `kernel`."""
    c = x.shape[1]
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = (kernel * gain).flip([0, 1]).to(x.dtype)[None, None].expand(c, 1, -1, -1)
    return F.conv2d(x, weight, groups=c)


def upsample2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x up-sampling: zero insertion, then the FIR filter (gain 4 keeps the mean)."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, h, 2, w, 2)
    up[:, :, :, 0, :, 0] = x
    up = up.reshape(n, c, 2 * h, 2 * w)
    k = kernel.shape[0]
    return fir_filter(up, kernel, ((k + 1) // 2, (k - 2) // 2), gain=4.0)


class EqualLinear(nn.Module):
    """Fully connected layer with run-time weight scaling and a learning-rate multiplier."""

    def __init__(self, in_features: int, out_features: int, activate: bool = False,
                 lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.activate = activate
        self.lr_mul = lr_mul
        self.weight_gain = lr_mul / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain)
        return bias_act(x, self.bias * self.lr_mul, self.activate)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     up: bool = False, resample_filter: torch.Tensor | None = None) -> torch.Tensor:
    """Style-modulated convolution (StyleGAN2), optionally up-sampling 2x.

    Modulation is applied to the activations rather than the weights: scale the input channels by
    the style, convolve the whole batch once with the shared weight, then scale the output
    channels by the demodulation coefficients. This is the same function as per-sample weight
    modulation but is several times faster on CPU than a grouped convolution.
    """
    x = x * styles[:, :, None, None].to(x.dtype)
    weight = weight.to(x.dtype)
    if up:
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    else:
        x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
    if demodulate:
        wsq = weight.square().sum(dim=[2, 3])  # [out, in]
        dcoefs = (styles.square() @ wsq.t() + 1e-8).rsqrt()  # [N, out]
        x = x * dcoefs[:, :, None, None]
    if up:
        x = fir_filter(x, resample_filter, (1, 1), gain=4.0)
    return x


class EqualConv2d(nn.Module):
    """Plain convolution with equalized learning rate, optional FIR down-sampling 2x, bias+act."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activate: bool = True, down: bool = False, conv_clamp: float | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.activate = activate
        self.down = down
        self.conv_clamp = conv_clamp
        self.kernel_size = kernel_size
        if down:
            self.register_buffer("resample_filter", fir_kernel_2d(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        weight = (self.weight * self.weight_gain).to(x.dtype)
        if self.down:
            p = (self.resample_filter.shape[0] - 2) + (self.kernel_size - 1)
            x = fir_filter(x, self.resample_filter, ((p + 1) // 2, p // 2))
            x = F.conv2d(x, weight, stride=2)
        else:
            x = F.conv2d(x, weight, padding=self.kernel_size // 2)
        return bias_act(x, self.bias, self.activate, gain=gain, clamp=self.conv_clamp)
