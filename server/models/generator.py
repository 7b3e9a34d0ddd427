"""StyleGAN2 generator: mapping network and skip-architecture synthesis network.

Module and parameter names follow NVIDIA's stylegan2-ada-pytorch layout (`mapping.fc0`,
`synthesis.b8.conv0.affine`, ...), which makes those snapshots load by name; rosinality
checkpoints are renamed onto it by `rosinality.py`.

W+ indexing: the 4x4 block's conv uses ws[0] and its ToRGB ws[1]; each later block uses ws[i]
(up-sampling conv), ws[i+1] (conv) and ws[i+2] (ToRGB), and the next block starts at i+2.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .layers import EqualLinear, NetworkConfig, bias_act, fir_kernel_2d, modulated_conv2d, upsample2d

NOISE_MODES = ("const", "none", "random")


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


@dataclass
class GeneratorConfig(NetworkConfig):
    """Everything needed to rebuild a generator; stored in the model card."""

    resolution: int
    z_dim: int
    w_dim: int
    channels: dict[int, int]  # resolution -> feature maps, 4 .. resolution
    c_dim: int = 0
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    mapping_layer_features: int | None = None  # hidden width; None = w_dim
    embed_features: int | None = None  # class embedding width; None = w_dim
    conv_clamp: float | None = None
    img_channels: int = 3

    @property
    def resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        return 2 * len(self.resolutions)


class MappingNetwork(nn.Module):
    """z (and an optional class label c) -> w, broadcast to `num_ws` rows, with truncation."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int,
                 lr_mul: float = 0.01, layer_features: int | None = None,
                 embed_features: int | None = None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        layer_features = layer_features or w_dim
        embed_features = (embed_features or w_dim) if c_dim else 0
        if c_dim:
            self.embed = EqualLinear(c_dim, embed_features)
        widths = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        self.num_layers = num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", EqualLinear(widths[i], widths[i + 1], activate=True, lr_mul=lr_mul))
        if num_ws is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None) -> torch.Tensor:
        parts = []
        if self.z_dim:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must have shape [N, {self.z_dim}], got "
                                 f"{None if z is None else tuple(z.shape)}")
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"c must have shape [N, {self.c_dim}] for this conditional model, got "
                                 f"{None if c is None else tuple(c.shape)}")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = x.clone()
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally up-sampling 2x), noise input, bias, leaky ReLU, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 up: bool = False, conv_clamp: float | None = None):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        if up:
            self.register_buffer("resample_filter", fir_kernel_2d(), persistent=False)
        self.up = up
        self.resolution = resolution
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=True, up=self.up,
                             resample_filter=self.resample_filter if self.up else None)
        if noise is None:
            if noise_mode == "const":
                noise = self.noise_const
            elif noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution,
                                    device=x.device, dtype=x.dtype, generator=generator)
        if noise is not None:
            x = x + noise * self.noise_strength
        return bias_act(x, self.bias, activate=True, clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation; the equalized-lr gain is folded into the style."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return bias_act(x, self.bias, activate=False, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (const input | 2x up-sampling conv), conv, ToRGB added to the skip image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, conv_clamp: float | None):
        super().__init__()
        self.resolution = resolution
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True,
                                        conv_clamp=conv_clamp)
            self.register_buffer("resample_filter", fir_kernel_2d(), persistent=False)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)

    @property
    def layers(self) -> list[SynthesisLayer]:
        return [self.conv1] if self.resolution == 4 else [self.conv0, self.conv1]

    def forward(self, x, img, ws: torch.Tensor, noise_mode: str, noises=None, generator=None):
        """`ws` holds this block's rows: one per conv layer, then the ToRGB row."""
        if self.resolution == 4:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        layers = self.layers
        for i, layer in enumerate(layers):
            x = layer(x, ws[:, i], noise_mode, None if noises is None else noises[i], generator)
        y = self.torgb(x, ws[:, len(layers)])
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.resolution = config.resolution
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws
        self.block_resolutions = config.resolutions
        for res in self.block_resolutions:
            in_ch = config.channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_ch, config.channels[res], config.w_dim, res,
                                   config.img_channels, config.conv_clamp)
            setattr(self, f"b{res}", block)

    @property
    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    @property
    def noise_layers(self) -> list[SynthesisLayer]:
        """Every layer with a noise input, from coarse to fine."""
        return [layer for block in self.blocks for layer in block.layers]

    def block_ws(self, ws: torch.Tensor):
        """Split W+ into each block's rows (see the module docstring)."""
        i = 0
        for block in self.blocks:
            n = len(block.layers)
            yield block, ws[:, i:i + n + 1]
            i += n

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise: list | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """W+ [N, num_ws, w_dim] -> image [N, 3, R, R] (raw, about [-1, 1]).

        `noise` optionally overrides the noise inputs: one tensor per entry of `noise_layers`.
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise is not None and len(noise) != len(self.noise_layers):
            raise ValueError(f"noise must hold {len(self.noise_layers)} tensors, got {len(noise)}")
        ws = ws.float()
        x = img = None
        k = 0
        for block, rows in self.block_ws(ws):
            n = len(block.layers)
            x, img = block(x, img, rows, noise_mode, None if noise is None else noise[k:k + n], generator)
            k += n
        return img


class LatentSampling:
    """Seeded sampling of the mapping output, shared by both generator families.

    A class using it provides `z_dim`, `c_dim`, `w_avg` and `_sampled_w(z, c)`: one flat latent
    row per sample (StyleGAN2's W, StyleMapGAN's flattened stylemap).
    """

    @torch.no_grad()
    def sample_w(self, count: int, seed: int = 0, batch: int = 1000) -> Iterator[torch.Tensor]:
        """Flat latent batches `[b, row]` (no truncation) of `count` seeded samples, `batch` at a time.

        Per batch, on a CPU `torch.Generator().manual_seed(seed)`: `b` z from `randn`, then (when
        conditional) `b` uniform class labels from `randint`, one-hot; the last batch holds the
        remainder. Runs under no_grad, on the device of `w_avg`.
        """
        gen = torch.Generator().manual_seed(seed)
        device = self.w_avg.device
        for start in range(0, count, batch):
            m = min(batch, count - start)
            z = torch.randn(m, self.z_dim, generator=gen)
            c = None
            if self.c_dim:
                c = nn.functional.one_hot(torch.randint(self.c_dim, (m,), generator=gen), self.c_dim).float()
                c = c.to(device)
            yield self._sampled_w(z.to(device), c)

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 10_000, seed: int = 0, batch: int = 1000) -> torch.Tensor:
        """Mean of mapping(z) over `n` seeded z (class labels drawn uniformly when conditional),
        shaped like `w_avg`."""
        total = torch.zeros(self.w_avg.numel(), dtype=torch.float64)
        for w in self.sample_w(n, seed, batch):
            total += w.double().sum(0).cpu()
        return (total / n).float().reshape(self.w_avg.shape)


class Generator(LatentSampling, nn.Module):
    """The generator contract: `resolution, num_ws, z_dim, w_dim, c_dim, w_avg, mapping, synthesis`,
    and the family-neutral `latent_kind, latent_shape, latent_rows, num_levels` (see DESIGN.md)."""

    latent_kind = "w_plus"

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config.z_dim, config.c_dim, config.w_dim, config.num_ws,
                                      config.mapping_layers, config.mapping_lr_mul,
                                      config.mapping_layer_features, config.embed_features)
        self.synthesis = SynthesisNetwork(config)

    resolution = property(lambda self: self.config.resolution)
    num_ws = property(lambda self: self.config.num_ws)
    z_dim = property(lambda self: self.config.z_dim)
    w_dim = property(lambda self: self.config.w_dim)
    c_dim = property(lambda self: self.config.c_dim)
    latent_shape = property(lambda self: (self.num_ws, self.w_dim))
    latent_rows = property(lambda self: (self.num_ws, self.w_dim))
    num_levels = property(lambda self: self.num_ws)

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const"):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)

    def _sampled_w(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.mapping(z, c)[:, 0]


def channels_from_table(resolution: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """NVIDIA's width rule: min(channel_base // res, channel_max)."""
    return {2 ** i: min(channel_base // 2 ** i, channel_max) for i in range(2, int(math.log2(resolution)) + 1)}
