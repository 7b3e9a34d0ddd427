"""StyleMapGAN (Kim et al., CVPR 2021): a generator whose latent is a spatial *stylemap*, and its encoder.

The latent is a stylemap `[N, C, L, L]` (the mapping output, reshaped channel-major). A small
convolutional pyramid, the *resizer*, turns it into one stylemap per modulated layer ("levels":
sizes L, L, 2L, 2L, ..., S, S). Each modulated layer normalises its input (LayerNorm over C, H, W by
default) and modulates it per pixel, `x * gamma(s) + beta(s)`, with 3x3 convolutions of its level `s`,
then applies a plain convolution (no StyleGAN2 weight demodulation, no noise inputs).

Editing on "w" edits the single L x L stylemap before the resizer; editing on "w+" edits the levels:
:func:`pool_mask` and :func:`blend_levels` are the local-editing blends of the official
`generate.py`. Checkpoints are read by `stylemapgan_checkpoint.py`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .discriminator import DiscriminatorBlock
from .generator import NOISE_MODES, LatentSampling, MappingNetwork
from .layers import EqualConv2d, NetworkConfig, bias_act, fir_filter, fir_kernel_2d

NORMALIZE_MODES = ("LayerNorm", "InstanceNorm2d", "BatchNorm2d")
STYLEMAP = "stylemap"


def _int_keys(d: dict) -> dict[int, int]:
    return {int(k): int(v) for k, v in d.items()}


@dataclass
class StyleMapEncoderConfig(NetworkConfig):
    """Image side S, stylemap channels C and side L, feature widths per resolution L..S."""

    resolution: int  # S
    latent_channels: int  # C
    latent_size: int  # L
    channels: dict[int, int]  # resolution -> feature maps, L .. S

    def __post_init__(self):
        self.channels = _int_keys(self.channels)
        for name in ("resolution", "latent_size"):
            side = getattr(self, name)
            if side < 1 or side & (side - 1):
                raise ValueError(f"{name} must be a power of two, got {side}")
        if self.resolution < 2 * self.latent_size:
            raise ValueError(f"resolution {self.resolution} must be at least twice latent_size {self.latent_size}")
        if self.latent_channels < 1:
            raise ValueError(f"latent_channels must be positive, got {self.latent_channels}")
        missing = [r for r in self.resolutions if r not in self.channels]
        if missing:
            raise ValueError(f"channels has no width for resolutions {missing}")

    @property
    def resolutions(self) -> list[int]:
        """L, 2L, ..., S."""
        return [self.latent_size * 2 ** i for i in range(int(math.log2(self.resolution // self.latent_size)) + 1)]

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.latent_channels, self.latent_size, self.latent_size)


@dataclass
class StyleMapConfig(StyleMapEncoderConfig):
    """Everything needed to rebuild a StyleMapGAN generator; stored in the model card."""

    stylecode_channels: dict[int, int]  # resolution -> width of the levels at that size, L .. S
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    normalize_mode: str = "LayerNorm"
    small_generator: bool = False  # informative: every stylecode width is C

    def __post_init__(self):
        super().__post_init__()
        self.stylecode_channels = _int_keys(self.stylecode_channels)
        missing = [r for r in self.resolutions if r not in self.stylecode_channels]
        if missing:
            raise ValueError(f"stylecode_channels has no width for resolutions {missing}")
        if self.normalize_mode not in NORMALIZE_MODES:
            raise ValueError(f"normalize_mode must be one of {NORMALIZE_MODES}, got {self.normalize_mode!r}")
        if self.mapping_layers < 1:
            raise ValueError(f"mapping_layers must be positive, got {self.mapping_layers}")

    def to_json(self) -> dict:
        d = super().to_json()
        d["stylecode_channels"] = {str(k): v for k, v in self.stylecode_channels.items()}
        return d

    @property
    def level_sizes(self) -> list[int]:
        """The side of each resizer output: L, L, 2L, 2L, ..., S, S."""
        return [r for r in self.resolutions for _ in range(2)]


class UpConv2d(nn.Module):
    """2x up-sampling convolution: stride-2 transposed conv with the [1,3,3,1] blur (gain 4),
    then optional bias + leaky ReLU (the official `ConvLayer(..., upsample=True)`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.activate = activate
        self.register_buffer("resample_filter", fir_kernel_2d(), persistent=False)
        p = (self.resample_filter.shape[0] - 2) - (kernel_size - 1)
        self.pad = ((p + 1) // 2 + 1, p // 2 + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = (self.weight * self.weight_gain).to(x.dtype)
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        x = fir_filter(x, self.resample_filter, self.pad, gain=4.0)
        return bias_act(x, self.bias, self.activate)


def _conv(in_channels: int, out_channels: int, kernel_size: int, up: bool) -> nn.Module:
    """A convolution with bias and leaky ReLU, at the same size or 2x up-sampling."""
    if up:
        return UpConv2d(in_channels, out_channels, kernel_size)
    return EqualConv2d(in_channels, out_channels, kernel_size)


class StyleMapLayer(nn.Module):
    """Spatially modulated convolution (the official `StyledConv`).

    normalise x (`normalize_mode`, no affine) -> `x * gamma(s) + beta(s)` with 3x3 convs of the
    level `s` (same H x W as x) -> conv (optionally 2x up-sampling) -> bias + leaky ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_channels: int,
                 normalize_mode: str, up: bool = False):
        super().__init__()
        self.normalize_mode = normalize_mode
        if normalize_mode == "BatchNorm2d":
            self.norm = nn.BatchNorm2d(in_channels, affine=False)
        self.gamma = EqualConv2d(style_channels, in_channels, 3, activate=False)
        self.beta = EqualConv2d(style_channels, in_channels, 3, activate=False)
        with torch.no_grad():
            self.gamma.bias.fill_(1.0)
        self.conv = _conv(in_channels, out_channels, kernel_size, up)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize_mode == "LayerNorm":
            return F.layer_norm(x, x.shape[1:], eps=1e-5)
        if self.normalize_mode == "InstanceNorm2d":
            return F.instance_norm(x, eps=1e-5)
        return self.norm(x)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.conv(self.normalize(x) * self.gamma(style) + self.beta(style))


class StyleMapResBlock(nn.Module):
    """2x up-sampling residual block: modulated conv (up) and conv, plus a 1x1 up-sampled skip."""

    def __init__(self, in_channels: int, out_channels: int, style_in: int, style_out: int, normalize_mode: str):
        super().__init__()
        self.conv0 = StyleMapLayer(in_channels, out_channels, 3, style_in, normalize_mode, up=True)
        self.conv1 = StyleMapLayer(out_channels, out_channels, 3, style_out, normalize_mode)
        self.skip = UpConv2d(in_channels, out_channels, 1, bias=False, activate=False)

    def forward(self, x: torch.Tensor, style_in: torch.Tensor, style_out: torch.Tensor) -> torch.Tensor:
        """`style_in` has x's size, `style_out` the doubled size."""
        y = self.conv1(self.conv0(x, style_in), style_out)
        return (y + self.skip(x)) / math.sqrt(2)


class StyleMapMapping(MappingNetwork):
    """z -> stylemap `[N, C, L, L]`: pixel norm, then fully connected layers (the last to C*L*L), with
    truncation toward `w_avg`, the mean stylemap (a persistent buffer)."""

    def __init__(self, config: StyleMapConfig):
        c, side = config.latent_channels, config.latent_size
        super().__init__(c, 0, c * side * side, None, config.mapping_layers, config.mapping_lr_mul,
                         layer_features=c)
        self.register_buffer("w_avg", torch.zeros(c, side, side))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """`truncation_cutoff`: the stylemap is one latent row, so 0 turns truncation off and any
        other value (or None) truncates it all."""
        x = super().forward(z, c).reshape(-1, *self.w_avg.shape)
        if truncation_psi != 1 and truncation_cutoff != 0:
            x = self.w_avg + truncation_psi * (x - self.w_avg)
        return x


class StyleMapSynthesis(nn.Module):
    """Stylemap -> image: the resizer (`resize`) and the modulated decoder (`render`)."""

    def __init__(self, config: StyleMapConfig):
        super().__init__()
        self.config = config
        res, ch, sd, mode = config.resolutions, config.channels, config.stylecode_channels, config.normalize_mode
        levels = [EqualConv2d(config.latent_channels, sd[res[0]], 3), EqualConv2d(sd[res[0]], sd[res[0]], 3)]
        for prev, r in zip(res, res[1:]):
            levels += [UpConv2d(sd[prev], sd[r], 3), EqualConv2d(sd[r], sd[r], 3)]
        self.resizer = nn.ModuleList(levels)
        self.const = nn.Parameter(torch.randn(ch[res[0]], res[0], res[0]))
        self.conv = StyleMapLayer(ch[res[0]], ch[res[0]], 3, sd[res[0]], mode)
        for prev, r in zip(res, res[1:]):
            setattr(self, f"b{r}", StyleMapResBlock(ch[prev], ch[r], sd[prev], sd[r], mode))
        self.torgb = StyleMapLayer(ch[res[-1]], 3, 1, sd[res[-1]], mode)

    @property
    def noise_layers(self) -> list:
        """No layer has a noise input (the contract's list is empty)."""
        return []

    @property
    def blocks(self) -> list[StyleMapResBlock]:
        return [getattr(self, f"b{r}") for r in self.config.resolutions[1:]]

    def check_latent(self, latent: torch.Tensor):
        shape = self.config.latent_shape
        if not isinstance(latent, torch.Tensor) or latent.ndim != 4 or tuple(latent.shape[1:]) != shape:
            got = tuple(latent.shape) if isinstance(latent, torch.Tensor) else type(latent).__name__
            raise ValueError(f"the stylemap must have shape [N, {', '.join(map(str, shape))}], got {got}")

    def resize(self, latent: torch.Tensor) -> list[torch.Tensor]:
        """The resizer outputs (levels), coarse to fine: sizes L, L, 2L, 2L, ..., S, S."""
        self.check_latent(latent)
        levels, x = [], latent.float()
        for layer in self.resizer:
            x = layer(x)
            levels.append(x)
        return levels

    def render(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Image `[N, 3, S, S]` from given levels (e.g. mixed or blended ones)."""
        sizes, sd = self.config.level_sizes, self.config.stylecode_channels
        if len(levels) != len(sizes):
            raise ValueError(f"expected {len(sizes)} levels, got {len(levels)}")
        n = levels[0].shape[0]
        for i, (level, size) in enumerate(zip(levels, sizes)):
            if level.ndim != 4 or tuple(level.shape) != (n, sd[size], size, size):
                raise ValueError(f"level {i} must have shape [{n}, {sd[size]}, {size}, {size}], "
                                 f"got {tuple(level.shape)}")
        x = self.conv(self.const.unsqueeze(0).repeat(n, 1, 1, 1), levels[0])
        for k, block in enumerate(self.blocks):
            x = block(x, levels[2 * k + 1], levels[2 * k + 2])
        return self.torgb(x, levels[-1])

    def forward(self, latent: torch.Tensor, noise_mode: str = "const", noise: list | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Stylemap `[N, C, L, L]` -> image `[N, 3, S, S]` (raw, about [-1, 1]).

        The noise arguments exist for the shared generator contract; this network has no noise
        inputs, so they change nothing (a non-empty `noise` list is refused).
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise:
            raise ValueError(f"this model has no noise inputs, got {len(noise)} noise tensors")
        return self.render(self.resize(latent))


class StyleMapGenerator(LatentSampling, nn.Module):
    """The generator contract for a stylemap latent (see DESIGN.md): `mapping` gives and `synthesis`
    takes `[N, C, L, L]`; `resize` / `synthesize_levels` expose the levels for mixing and blending."""

    latent_kind = STYLEMAP
    c_dim = 0

    def __init__(self, config: StyleMapConfig):
        super().__init__()
        self.config = config
        self.mapping = StyleMapMapping(config)
        self.synthesis = StyleMapSynthesis(config)

    resolution = property(lambda self: self.config.resolution)
    z_dim = property(lambda self: self.config.latent_channels)
    latent_shape = property(lambda self: self.config.latent_shape)
    latent_rows = property(lambda self: (1, math.prod(self.config.latent_shape)))
    num_levels = property(lambda self: len(self.config.level_sizes))
    level_sizes = property(lambda self: self.config.level_sizes)

    @property
    def w_avg(self) -> torch.Tensor:
        """The mean stylemap `[C, L, L]`."""
        return self.mapping.w_avg

    def resize(self, latent: torch.Tensor) -> list[torch.Tensor]:
        return self.synthesis.resize(latent)

    def synthesize_levels(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.synthesis.render(levels)

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const"):
        latent = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(latent, noise_mode=noise_mode)

    def _sampled_w(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.mapping(z, c).flatten(1)


class StyleMapEncoder(nn.Module):
    """The model's regressor (official `e_ema`): image -> stylemap `[N, C, L, L]`.

    from-RGB 1x1, then residual 2x down-sampling blocks (the StyleGAN2 discriminator's) from S to L,
    then a 3x3 conv to C channels. No mask input: uncovered pixels arrive as 0 (mid-grey) and are
    encoded as they are. An input whose size is not S x S is area-resized to S first.
    """

    latent_kind = STYLEMAP

    def __init__(self, config: StyleMapEncoderConfig):
        super().__init__()
        self.config = config
        ch = config.channels
        down = config.resolutions[::-1]  # S .. L
        for i, (r, nxt) in enumerate(zip(down, down[1:])):
            setattr(self, f"b{r}", DiscriminatorBlock(ch[r], ch[nxt], 3, first=i == 0, conv_clamp=None))
        self.final = EqualConv2d(ch[config.latent_size], config.latent_channels, 3)

    input_size = property(lambda self: self.config.resolution)
    latent_shape = property(lambda self: self.config.latent_shape)

    @property
    def blocks(self) -> list[DiscriminatorBlock]:
        return [getattr(self, f"b{r}") for r in self.config.resolutions[:0:-1]]

    def forward(self, masked_image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Stylemap of `masked_image` `[N, 3, H, W]` in [-1, 1]; `mask` `[N, 1, H, W]` is only checked."""
        if not isinstance(masked_image, torch.Tensor) or masked_image.ndim != 4 or masked_image.shape[1] != 3:
            got = tuple(masked_image.shape) if isinstance(masked_image, torch.Tensor) else type(masked_image).__name__
            raise ValueError(f"masked_image must have shape [N, 3, H, W], got {got}")
        n, _, h, w = masked_image.shape
        if mask is not None and tuple(mask.shape) != (n, 1, h, w):
            raise ValueError(f"mask must have shape [{n}, 1, {h}, {w}] to match masked_image, got {tuple(mask.shape)}")
        x = masked_image.float()
        side = self.input_size
        if (h, w) != (side, side):
            x = F.interpolate(x, size=(side, side), mode="area")
        img = x
        for i, block in enumerate(self.blocks):
            x = block(x, img if i == 0 else None)
        return self.final(x)


# -- editing on the stylemap and its levels (official generate.py / demo.py) ------------------------

def pool_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Bool `[N, 1, size, size]`: a cell is selected when any pixel in it is (pixel >= 0.5).

    `mask` is `[N, 1, H, W]` in [0, 1], any H, W (adaptive max pooling: where `size` divides them,
    exactly the official local editing's MaxPool2d(H / size)).
    """
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be [N, 1, H, W], got {tuple(mask.shape)}")
    return F.adaptive_max_pool2d((mask >= 0.5).float(), size) > 0


def blend_levels(levels_a: Sequence[torch.Tensor], levels_b: Sequence[torch.Tensor],
                 mask: torch.Tensor, start: int = 0) -> list[torch.Tensor]:
    """Local editing on w+: each level from `start` on from b where :func:`pool_mask` selects its cell,
    else from a (levels before `start` from a: 0 is the official rule)."""
    return [a if index < start else torch.where(pool_mask(mask, a.shape[-1]), b, a)
            for index, (a, b) in enumerate(zip(levels_a, levels_b))]
