"""Losses and metrics for projecting a partly known image into a generator.

Images are float32 NCHW in [-1, 1]; masks [N, 1, H, W] in [0, 1] with 1 = known (covered) pixel.
Every image loss sees covered pixels only: changing an uncovered pixel of either image does not
change the value. Feature losses get there by feeding `image * mask` to the network (so both sides
see the same blank where nothing is known) and by weighting the feature differences with the mask
area-pooled to each feature map.

Image losses share one interface (:class:`ImageLoss`): `loss(pred, target, mask) -> scalar` for a
one-off value, and `loss.bind(target, mask) -> fn(pred) -> scalar`, which computes everything that
depends on the target only (its features, the resized masks, normalisers) once, for loops that
compare many predictions against one target.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from server.models.torch_files import load_torch_file

from .errors import ModelUnavailable

EPS = 1e-8
DATA_RANGE = 2.0  # images live in [-1, 1]
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
# SSIM runs on images mapped to [0, 1] (its luminance term assumes non-negative intensities), which
# gives the same value as SSIM on uint8 images with L = 255.
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli, Bovik 2003
LPIPS_MAX_SIZE = 256  # larger images are area-downsampled first, as NVIDIA's projector does

BoundLoss = Callable[[Tensor], Tensor]


class ImageLoss:
    """A scalar loss between a prediction and a target on the covered pixels of `mask`."""

    def bind(self, target: Tensor, mask: Tensor) -> BoundLoss:
        """Precompute the target side; return `fn(pred) -> scalar`."""
        raise NotImplementedError

    def __call__(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        return self.bind(target, mask)(pred)


# ----------------------------------------------------------------------------- helpers


def _area(mask: Tensor, like: Tensor) -> Tensor:
    """`mask` area-resized to the spatial size of `like`."""
    return F.adaptive_avg_pool2d(mask, like.shape[-2:])


def _masked_mean(values: Tensor, weight: Tensor, denom: Tensor) -> Tensor:
    return (values * weight).sum() / denom


def _denom(mask: Tensor, channels: int = 1) -> Tensor:
    return (mask.sum() * channels).clamp_min(EPS)


def _unit_channels(f: Tensor, eps: float = 1e-10) -> Tensor:
    """Each spatial position's feature vector scaled to unit length (LPIPS normalisation).

    eps goes under the root: an all-zero vector (a blank masked-out area) then has a finite gradient.
    """
    return f * (f.square().sum(dim=1, keepdim=True) + eps).rsqrt()


# ----------------------------------------------------------------------------- pixels


def masked_pixel_loss(pred: Tensor, target: Tensor, mask: Tensor, kind: str = "l2") -> Tensor:
    """Mean squared (`l2`) or absolute (`l1`) error over covered pixels and channels."""
    return PixelLoss(kind)(pred, target, mask)


class PixelLoss(ImageLoss):
    def __init__(self, kind: str = "l2"):
        if kind not in ("l2", "l1"):
            raise ValueError(f"pixel loss must be 'l2' or 'l1', got {kind!r}")
        self.kind = kind

    def bind(self, target: Tensor, mask: Tensor) -> BoundLoss:
        denom = _denom(mask, target.shape[1])
        square = self.kind == "l2"

        def loss(pred: Tensor) -> Tensor:
            diff = pred - target
            err = diff.square() if square else diff.abs()
            return _masked_mean(err, mask, denom)

        return loss


# ----------------------------------------------------------------------------- discriminator features


def _gram(f: Tensor, m: Tensor) -> Tensor:
    """Mask-weighted Gram matrix [N, C, C] of unit-length features (trace 1 where m is binary)."""
    return torch.einsum("nchw,ndhw->ncd", f * m, f) / m.sum(dim=(1, 2, 3)).clamp_min(EPS).view(-1, 1, 1)


class DiscriminatorLoss(ImageLoss):
    """Distance between discriminator block activations, plus an optional Gram-matrix style term.

    Feature term: per layer, the squared distance between channel-normalised feature vectors
    (so every layer counts alike whatever its activation scale), averaged over covered positions,
    then averaged over layers. Style term: squared Frobenius distance of mask-weighted Gram
    matrices of the same normalised features, averaged over layers. One D pass serves both.
    """

    def __init__(self, discriminator: nn.Module, feature_weight: float = 1.0, style_weight: float = 0.0):
        self.d = discriminator
        self.feature_weight = float(feature_weight)
        self.style_weight = float(style_weight)

    def _features(self, img: Tensor, mask: Tensor) -> list[Tensor]:
        return [_unit_channels(f) for f in self.d.features(img * mask)]

    def bind(self, target: Tensor, mask: Tensor) -> BoundLoss:
        with torch.no_grad():
            t_feats = self._features(target, mask)
            masks = [_area(mask, f) for f in t_feats]
            denoms = [_denom(m) for m in masks]
            t_grams = [_gram(f, m) for f, m in zip(t_feats, masks)] if self.style_weight else None
        n = len(t_feats)

        def loss(pred: Tensor) -> Tensor:
            feats = self._features(pred, mask)
            terms = []
            if self.feature_weight:
                dist = sum(_masked_mean((f - t).square().sum(dim=1, keepdim=True), m, d)
                           for f, t, m, d in zip(feats, t_feats, masks, denoms))
                terms.append(self.feature_weight / n * dist)
            if self.style_weight:
                dist = sum((_gram(f, m) - tg).square().sum(dim=(1, 2)).mean()
                           for f, m, tg in zip(feats, masks, t_grams))
                terms.append(self.style_weight / n * dist)
            return sum(terms) if terms else pred.new_zeros(())

        return loss


# ----------------------------------------------------------------------------- LPIPS-VGG16

# torchvision's vgg16 `features` layout: numbers are 3x3 convs (each followed by a ReLU), "M" max-pools.
_VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)  # LPIPS' input scaling for [-1, 1] images
_LPIPS_SCALE = (0.458, 0.448, 0.450)


class VGG16Features(nn.Module):
    """VGG16's convolutional part; `state_dict()` keys are torchvision's `features.N.weight|bias`.

    `forward` returns the activations LPIPS compares: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    (VGG16 has two convs in its second stage, so relu2_2 is that stage's last ReLU).
    """

    TAPS = (3, 8, 15, 22, 29)
    CHANNELS = (64, 128, 256, 512, 512)

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor) -> list[Tensor]:
        taps = []
        for i, layer in enumerate(self.features[: self.TAPS[-1] + 1]):  # the last pool is not needed
            x = layer(x)
            if i in self.TAPS:
                taps.append(x)
        return taps


def _load_state_dict(path: str | os.PathLike, what: str) -> Mapping[str, Tensor]:
    try:
        sd = load_torch_file(path, what)
    except (FileNotFoundError, ValueError) as exc:
        raise ModelUnavailable(str(exc)) from exc
    if not isinstance(sd, Mapping):
        raise ModelUnavailable(f"{what}: {os.fspath(path)} holds a {type(sd).__name__}, not a state_dict")
    return sd


def load_vgg16(path: str | os.PathLike) -> VGG16Features:
    """VGG16 features from torchvision's ImageNet file (`vgg16-397923af.pth`); classifier keys are ignored."""
    sd = _load_state_dict(path, "VGG16 weights")
    vgg = VGG16Features()
    try:
        vgg.load_state_dict({k: v for k, v in sd.items() if k.startswith("features.")}, strict=True)
    except RuntimeError as exc:
        raise ModelUnavailable(f"VGG16 weights: {os.fspath(path)} does not match torchvision's vgg16 "
                               f"features layout: {exc}") from exc
    return vgg


def load_lpips_weights(path: str | os.PathLike) -> list[Tensor]:
    """The five learned LPIPS channel weights (`lin{k}.model.1.weight`, [1, C, 1, 1]) of LPIPS' `vgg.pth`."""
    sd = _load_state_dict(path, "LPIPS weights")
    weights = []
    for k, channels in enumerate(VGG16Features.CHANNELS):
        key = f"lin{k}.model.1.weight"
        w = sd.get(key)
        if not isinstance(w, Tensor) or tuple(w.shape) != (1, channels, 1, 1):
            got = None if not isinstance(w, Tensor) else tuple(w.shape)
            raise ModelUnavailable(f"LPIPS weights: {os.fspath(path)}: {key} must have shape "
                                   f"(1, {channels}, 1, 1), got {got}")
        weights.append(w.float())
    return weights


class LPIPS(ImageLoss):
    """LPIPS on VGG16: channel-normalised feature differences, weighted per channel, averaged over
    covered positions and summed over the five layers. Without learned weights every channel
    weighs 1 (the un-calibrated "baseline" LPIPS)."""

    def __init__(self, vgg: VGG16Features, lin_weights: Sequence[Tensor] | None = None,
                 max_size: int = LPIPS_MAX_SIZE):
        self.vgg = vgg
        if lin_weights is None:
            lin_weights = [torch.ones(1, c, 1, 1) for c in VGG16Features.CHANNELS]
        self.lin = list(lin_weights)
        self.shift = torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1)
        self.scale = torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1)
        self.max_size = max_size

    @classmethod
    def from_files(cls, vgg_path: str | os.PathLike, lpips_path: str | os.PathLike | None = None) -> "LPIPS":
        lin = load_lpips_weights(lpips_path) if lpips_path is not None else None
        return cls(load_vgg16(vgg_path), lin)

    def to(self, device: torch.device | str) -> "LPIPS":
        self.vgg.to(device)
        self.lin = [w.to(device) for w in self.lin]
        self.shift, self.scale = self.shift.to(device), self.scale.to(device)
        return self

    def _shrink(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if max(h, w) <= self.max_size:
            return x
        s = self.max_size / max(h, w)
        return F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")

    def _features(self, img: Tensor, mask: Tensor) -> list[Tensor]:
        x = (self._shrink(img * mask) - self.shift) / self.scale
        return [_unit_channels(f) for f in self.vgg(x)]

    def bind(self, target: Tensor, mask: Tensor) -> BoundLoss:
        with torch.no_grad():
            t_feats = self._features(target, mask)
            small = self._shrink(mask)
            masks = [_area(small, f) for f in t_feats]
            denoms = [_denom(m) for m in masks]

        def loss(pred: Tensor) -> Tensor:
            feats = self._features(pred, mask)
            return sum(_masked_mean(((f - t).square() * w).sum(dim=1, keepdim=True), m, d)
                       for f, t, w, m, d in zip(feats, t_feats, self.lin, masks, denoms))

        return loss


# ----------------------------------------------------------------------------- SSIM / MS-SSIM


def _gaussian_kernel(device, dtype) -> Tensor:
    r = torch.arange(SSIM_WINDOW, device=device, dtype=dtype) - (SSIM_WINDOW - 1) / 2
    k = torch.exp(-r.square() / (2 * SSIM_SIGMA ** 2))
    return k / k.sum()


def _blur(x: Tensor, k: Tensor) -> Tensor:
    """Separable Gaussian blur per channel, zero padding, same size."""
    c, p = x.shape[1], SSIM_WINDOW // 2
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(p, 0), groups=c)
    return F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, p), groups=c)


class _SSIMReference:
    """Target-side statistics of masked SSIM at one scale.

    Images in [-1, 1] are mapped to [0, 1] first. Local statistics are mask-normalised Gaussian
    averages (normalised convolution): a window sees covered pixels only, and the image border acts
    like uncovered pixels. The SSIM and contrast-structure maps are then averaged over covered
    pixels. With a full mask and away from the border this is the standard Gaussian-window SSIM.
    """

    def __init__(self, target: Tensor, mask: Tensor):
        target = (target + 1) / 2
        self.mask = mask
        self.kernel = _gaussian_kernel(target.device, target.dtype)
        self.weight = _blur(mask, self.kernel).clamp_min(EPS)
        self.target = target
        my = mask * target
        stats = _blur(torch.cat([my, my * target], dim=1), self.kernel) / self.weight
        self.mu_y, ey2 = stats.chunk(2, dim=1)
        self.var_y = ey2 - self.mu_y.square()
        self.denom = _denom(mask, target.shape[1])

    def compare(self, pred: Tensor) -> tuple[Tensor, Tensor]:
        """(mean contrast-structure, mean SSIM) over covered pixels."""
        pred = (pred + 1) / 2
        mx = self.mask * pred
        stats = _blur(torch.cat([mx, mx * pred, mx * self.target], dim=1), self.kernel) / self.weight
        mu_x, ex2, exy = stats.chunk(3, dim=1)
        var_x = ex2 - mu_x.square()
        cov = exy - mu_x * self.mu_y
        cs = (2 * cov + SSIM_C2) / (var_x + self.var_y + SSIM_C2)
        lum = (2 * mu_x * self.mu_y + SSIM_C1) / (mu_x.square() + self.mu_y.square() + SSIM_C1)
        return _masked_mean(cs, self.mask, self.denom), _masked_mean(lum * cs, self.mask, self.denom)


def _masked_downsample(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """2x average pooling of covered pixels only, and of the mask."""
    m = F.avg_pool2d(mask, 2)
    return F.avg_pool2d(x * mask, 2) / m.clamp_min(EPS), m


def ms_ssim_scales(size: int) -> int:
    """Scales used for an image of side `size`: up to 5, while the coarsest is at least the
    11-pixel window (5 from 176 px; 2 at 32 px; 1 below 22 px, i.e. plain SSIM)."""
    n = 1
    while n < len(MS_SSIM_WEIGHTS) and size // 2 ** n >= SSIM_WINDOW:
        n += 1
    return n


class MSSSIMLoss(ImageLoss):
    """1 - masked MS-SSIM.

    Small images use fewer scales (:func:`ms_ssim_scales`) with the first weights renormalised to
    sum 1. Each per-scale term is mapped from [-1, 1] to [0, 1] by (1 + x) / 2 before the weighted
    geometric mean, so a negative correlation at some scale keeps a gradient instead of being
    clamped to zero; identical images still give 0.
    """

    def bind(self, target: Tensor, mask: Tensor) -> BoundLoss:
        n = ms_ssim_scales(min(target.shape[-2:]))
        weights = torch.tensor(MS_SSIM_WEIGHTS[:n])
        weights = (weights / weights.sum()).tolist()
        with torch.no_grad():
            refs = [_SSIMReference(target, mask)]
            for _ in range(n - 1):
                target, mask = _masked_downsample(target, mask)
                refs.append(_SSIMReference(target, mask))

        def loss(pred: Tensor) -> Tensor:
            value = 1.0
            for k, (ref, w) in enumerate(zip(refs, weights)):
                if k:
                    pred, _ = _masked_downsample(pred, refs[k - 1].mask)
                cs, ssim = ref.compare(pred)
                term = (1 + (ssim if k == n - 1 else cs)) / 2
                value = value * term.clamp_min(EPS) ** w  # the clamp only guards rounding below 0
            return 1 - value

        return loss


# ----------------------------------------------------------------------------- latent and noise priors


def noise_regularization(noises: Sequence[Tensor]) -> Tensor:
    """NVIDIA's projector penalty: squared autocorrelation at shift 1 (both axes) of each noise map,
    repeated on 2x average-pooled copies down to 8x8, summed (and summed over a batch of [N, 1, r, r]
    maps, one per image). Pushes noise maps towards white noise."""
    total = []
    for noise in noises:
        x = noise.reshape(-1, 1, *noise.shape[-2:])
        while True:
            total.append((x * x.roll(1, dims=3)).mean(dim=[1, 2, 3]).square().sum()
                         + (x * x.roll(1, dims=2)).mean(dim=[1, 2, 3]).square().sum())
            if x.shape[-1] <= 8 or x.shape[-2] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return sum(total)


@torch.no_grad()
def normalize_noise_(noises: Sequence[Tensor]) -> None:
    """In place: zero mean, unit variance per noise map of each image (run after each optimizer step)."""
    for noise in noises:
        dims = list(range(1, noise.ndim))
        noise.sub_(noise.mean(dim=dims, keepdim=True))
        noise.mul_(noise.square().mean(dim=dims, keepdim=True).rsqrt())


def wplus_prior(ws: Tensor) -> Tensor:
    """Mean over layers and dimensions of (w_i - mean_j w_j)^2: zero for a plain W latent."""
    return (ws - ws.mean(dim=1, keepdim=True)).square().mean()


# ----------------------------------------------------------------------------- metrics


@torch.no_grad()
def masked_psnr(pred: Tensor, target: Tensor, mask: Tensor) -> float:
    """PSNR in dB over covered pixels (all images of the batch pooled), peak 2 for [-1, 1] images
    (the same value as peak 255 on uint8). inf when equal, nan when nothing is covered."""
    if float(mask.sum()) <= 0:
        return math.nan
    mse = float(masked_pixel_loss(pred.float(), target.float(), mask.float(), "l2"))
    return math.inf if mse == 0 else 10 * math.log10(DATA_RANGE ** 2 / mse)


@torch.no_grad()
def masked_ssim(pred: Tensor, target: Tensor, mask: Tensor) -> float:
    """SSIM (11x11 Gaussian window, sigma 1.5) averaged over covered pixels; windows see covered
    pixels only (see :class:`_SSIMReference`). nan when nothing is covered."""
    if float(mask.sum()) <= 0:
        return math.nan
    return float(_SSIMReference(target.float(), mask.float()).compare(pred.float())[1])
