"""StyleGAN2 residual discriminator with minibatch standard deviation.

Names follow NVIDIA's layout (`b32.fromrgb`, `b32.conv0`, `b32.conv1`, `b32.skip`, `b4.conv`,
`b4.fc`, `b4.out`); `features()` returns each block's activations for perceptual losses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .generator import MappingNetwork
from .layers import EqualConv2d, EqualLinear, NetworkConfig


@dataclass
class DiscriminatorConfig(NetworkConfig):
    resolution: int
    channels: dict[int, int]  # resolution -> feature maps, 4 .. resolution
    c_dim: int = 0
    cmap_dim: int = 0  # width of the class projection when conditional
    mapping_layers: int = 0  # the class-embedding mapping network's depth when conditional
    mapping_lr_mul: float = 0.01
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    conv_clamp: float | None = None
    img_channels: int = 3

    @property
    def resolutions(self) -> list[int]:
        """From the image resolution down to 4."""
        return [2 ** i for i in range(int(math.log2(self.resolution)), 1, -1)]


class DiscriminatorBlock(nn.Module):
    def __init__(self, channels: int, out_channels: int, img_channels: int, first: bool,
                 conv_clamp: float | None):
        super().__init__()
        if first:
            self.fromrgb = EqualConv2d(img_channels, channels, 1, conv_clamp=conv_clamp)
        self.conv0 = EqualConv2d(channels, channels, 3, conv_clamp=conv_clamp)
        self.conv1 = EqualConv2d(channels, out_channels, 3, down=True, conv_clamp=conv_clamp)
        self.skip = EqualConv2d(channels, out_channels, 1, bias=False, activate=False, down=True)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None) -> torch.Tensor:
        if img is not None:
            x = self.fromrgb(img)
        gain = math.sqrt(0.5)
        y = self.skip(x, gain=gain)
        x = self.conv1(self.conv0(x), gain=gain)
        return y + x


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int) -> torch.Tensor:
    """Append the standard deviation across groups of samples as extra feature maps."""
    n, c, h, w = x.shape
    g = min(group_size, n) if group_size else n
    if n % g:
        raise ValueError(f"batch size {n} must be divisible by the minibatch-stddev group size {g}")
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, channels: int, cmap_dim: int, mbstd_group_size: int, mbstd_num_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.mbstd_group_size = mbstd_group_size
        self.mbstd_num_channels = mbstd_num_channels
        self.conv = EqualConv2d(channels + mbstd_num_channels, channels, 3, conv_clamp=conv_clamp)
        self.fc = EqualLinear(channels * 16, channels, activate=True)
        self.out = EqualLinear(channels, cmap_dim or 1)
        self.cmap_dim = cmap_dim

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        if self.mbstd_num_channels:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if cmap is not None:
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class Discriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        res = config.resolutions
        for i, r in enumerate(res[:-1]):
            block = DiscriminatorBlock(config.channels[r], config.channels[r // 2], config.img_channels,
                                       first=i == 0, conv_clamp=config.conv_clamp)
            setattr(self, f"b{r}", block)
        if config.c_dim:
            self.mapping = MappingNetwork(0, config.c_dim, config.cmap_dim, None, config.mapping_layers,
                                          lr_mul=config.mapping_lr_mul)
        self.b4 = DiscriminatorEpilogue(config.channels[4], config.cmap_dim if config.c_dim else 0,
                                        config.mbstd_group_size, config.mbstd_num_channels, config.conv_clamp)

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def _blocks(self):
        return [getattr(self, f"b{r}") for r in self.config.resolutions[:-1]]

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Activations after each residual block, from fine to coarse (for perceptual losses)."""
        feats, x = [], None
        for i, block in enumerate(self._blocks()):
            x = block(x, img if i == 0 else None)
            feats.append(x)
        return feats

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = self.features(img)[-1] if self.config.resolution > 4 else None
        cmap = self.mapping(None, c) if self.config.c_dim else None
        return self.b4(x, cmap)
