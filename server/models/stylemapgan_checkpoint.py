"""Reader for official StyleMapGAN `train.py` checkpoints (naver-ai/StyleMapGAN, `.pt`).

A checkpoint holds `{generator, discriminator, encoder, g_ema, e_ema, train_args, *_optim}`; the EMA
networks `g_ema` / `e_ema` are the ones the official scripts use, and `discriminator` is rosinality's
StyleGAN2 D. Every width, L, C, S and the mapping depth come from tensor shapes (the official channel
tables are not assumed); the mapping's lr_mul and the normalisation, which no tensor records, come
from `train_args` (an argparse.Namespace, read weights-only with that one class allowed).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from .rosinality import W_AVG_SAMPLES, check_blur_kernels, load_checkpoint_dict, read_discriminator, rename_resblock
from .stylemapgan import StyleMapConfig, StyleMapEncoder, StyleMapEncoderConfig, StyleMapGenerator

# The official train.py defaults, used when a checkpoint has no train_args.
DEFAULT_TRAIN_ARGS = {"lr_mul": 0.01, "normalize_mode": "LayerNorm"}


def is_stylemapgan_checkpoint(ckpt: object) -> bool:
    """Whether a checkpoint dict is StyleMapGAN's: it holds both `g_ema` and `e_ema`."""
    return isinstance(ckpt, dict) and "g_ema" in ckpt and "e_ema" in ckpt


def _numbered(sd: dict, prefix: str) -> list[int]:
    """The sorted indices i of the keys `{prefix}.{i}.*`."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return sorted({int(m.group(1)) for m in map(pattern.match, sd) if m})


def generator_config(sd: dict[str, torch.Tensor], lr_mul: float, normalize_mode: str) -> StyleMapConfig:
    """The generator's config from a `g_ema` state dict (README section 5.4) and the two train_args values."""
    const = sd["decoder.input.input"]
    latent_size = const.shape[-1]
    latent_channels = sd["mapping_z.1.weight"].shape[1]
    mapping = _numbered(sd, "mapping_z")
    if mapping != list(range(1, len(mapping) + 1)):
        raise ValueError(f"mapping_z layers are not numbered 1..n: {mapping}")
    n = len(mapping)
    if sd[f"mapping_z.{n}.weight"].shape[0] != latent_channels * latent_size ** 2:
        raise ValueError(f"mapping_z.{n} gives {sd[f'mapping_z.{n}.weight'].shape[0]} values, not "
                         f"C*L*L = {latent_channels}*{latent_size}*{latent_size}")
    blocks = len(_numbered(sd, "decoder.convs"))
    sizes = [latent_size * 2 ** k for k in range(blocks + 1)]
    channels = {latent_size: const.shape[1]}
    stylecode = {latent_size: sd["decoder.convs_latent.0.0.weight"].shape[0]}
    for k, res in enumerate(sizes[1:]):
        channels[res] = sd[f"decoder.convs.{k}.conv1.conv.weight"].shape[1]
        stylecode[res] = sd[f"decoder.convs_latent.{2 * k + 2}.0.weight"].shape[0]
    gammas = [v.shape[1] for k, v in sd.items() if k.endswith("conv.gamma.weight")]
    return StyleMapConfig(resolution=sizes[-1], latent_channels=latent_channels, latent_size=latent_size,
                          channels=channels, stylecode_channels=stylecode, mapping_layers=n,
                          mapping_lr_mul=float(lr_mul), normalize_mode=normalize_mode,
                          small_generator=all(c == latent_channels for c in gammas))


def encoder_config(sd: dict[str, torch.Tensor], latent_size: int) -> StyleMapEncoderConfig:
    """The encoder's config from an `e_ema` state dict; L (not in its tensors) is the generator's."""
    blocks = _numbered(sd, "convs")
    resolution = latent_size * 2 ** len(blocks)
    channels = {resolution: sd["from_rgb.0.weight"].shape[0]}
    for j in blocks:
        channels[resolution // 2 ** (j + 1)] = sd[f"convs.{j}.conv2.1.weight"].shape[0]
    return StyleMapEncoderConfig(resolution=resolution, latent_channels=sd["final_conv.1.bias"].numel(),
                                 latent_size=latent_size, channels=channels)


def _generator_state(sd: dict[str, torch.Tensor], config: StyleMapConfig) -> dict[str, torch.Tensor]:
    """`g_ema` keys onto `StyleMapGenerator` names (blur kernels are checked, not stored)."""
    out = {"mapping.w_avg": torch.zeros(config.latent_shape)}
    for i in range(1, config.mapping_layers + 1):
        for p in ("weight", "bias"):
            out[f"mapping.fc{i - 1}.{p}"] = sd[f"mapping_z.{i}.{p}"]
    for i in range(len(config.level_sizes)):
        src = f"decoder.convs_latent.{i}"
        out[f"synthesis.resizer.{i}.weight"] = sd[f"{src}.0.weight"]
        out[f"synthesis.resizer.{i}.bias"] = sd[f"{src}.2.bias" if f"{src}.2.bias" in sd else f"{src}.1.bias"]
    out["synthesis.const"] = sd["decoder.input.input"][0]

    def layer(src: str, dst: str):
        out[f"{dst}.conv.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.conv.bias"] = sd[f"{src}.activate.bias"]
        for key, value in sd.items():
            if key.startswith(f"{src}.conv.") and not key.endswith((".conv.weight", ".blur.kernel")):
                out[dst + "." + key[len(src) + len(".conv."):]] = value  # gamma, beta, norm buffers

    layer("decoder.conv1", "synthesis.conv")
    for k, res in enumerate(config.resolutions[1:]):
        layer(f"decoder.convs.{k}.conv1", f"synthesis.b{res}.conv0")
        layer(f"decoder.convs.{k}.conv2", f"synthesis.b{res}.conv1")
        out[f"synthesis.b{res}.skip.weight"] = sd[f"decoder.convs.{k}.skip.0.weight"]
    layer("decoder.to_rgb", "synthesis.torgb")
    return out


def _encoder_state(sd: dict[str, torch.Tensor], config: StyleMapEncoderConfig) -> dict[str, torch.Tensor]:
    """`e_ema` keys onto `StyleMapEncoder` names (its residual blocks are the discriminator's)."""
    top = config.resolution
    out = {f"b{top}.fromrgb.weight": sd["from_rgb.0.weight"], f"b{top}.fromrgb.bias": sd["from_rgb.1.bias"],
           "final.weight": sd["final_conv.0.weight"], "final.bias": sd["final_conv.1.bias"]}
    for j, res in enumerate(config.resolutions[:0:-1]):
        out.update(rename_resblock(sd, f"convs.{j}", f"b{res}"))
    return out


def _train_args(ckpt: dict) -> tuple[dict, list[str]]:
    """`train_args` as a plain JSON dict, or the official defaults with a note when it is missing."""
    args = ckpt.get("train_args")
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    if not isinstance(args, dict):
        return dict(DEFAULT_TRAIN_ARGS), [f"no train_args in the checkpoint: assumed the official defaults "
                                          f"{DEFAULT_TRAIN_ARGS}"]
    plain = {str(k): v if isinstance(v, (str, int, float, bool, type(None))) else repr(v) for k, v in args.items()}
    missing = {k: v for k, v in DEFAULT_TRAIN_ARGS.items() if k not in plain}
    return {**missing, **plain}, ([f"train_args lacks {sorted(missing)}: assumed the official defaults {missing}"]
                                  if missing else [])


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor], key: str):
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{key!r} does not match the StyleMapGAN layout read from its shapes ({exc})") from exc


def read_stylemapgan(path: Path, ckpt: dict | None = None) -> dict:
    """`{generator, discriminator, regressor, source, notes}` from a StyleMapGAN train.py checkpoint.

    `ckpt` is its dict when already read by :func:`load_checkpoint_dict`. The generator's `w_avg`
    (the truncation centre, which the file does not store) is the mean of mapping(z) over
    `W_AVG_SAMPLES` z drawn with torch seed 0. Raises ValueError naming the file on any mismatch.
    """
    path = Path(path)
    name = path.name
    if ckpt is None:
        ckpt = load_checkpoint_dict(path)
    if not is_stylemapgan_checkpoint(ckpt):
        raise ValueError(f"{name}: not a StyleMapGAN checkpoint (no 'g_ema' and 'e_ema'; keys: {sorted(ckpt)[:8]})")
    train_args, notes = _train_args(ckpt)
    parts = {}
    for key in ("g_ema", "e_ema"):
        sd = ckpt[key]
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise ValueError(f"{name}: {key!r} is not a state dict of tensors")
        parts[key] = {k: v.float() for k, v in sd.items()}
        check_blur_kernels(parts[key], name)
    try:
        config = generator_config(parts["g_ema"], train_args["lr_mul"], train_args["normalize_mode"])
        g = StyleMapGenerator(config)
        _load(g, _generator_state(parts["g_ema"], config), "g_ema")
        e_config = encoder_config(parts["e_ema"], config.latent_size)
        encoder = StyleMapEncoder(e_config)
        _load(encoder, _encoder_state(parts["e_ema"], e_config), "e_ema")
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{name}: g_ema / e_ema do not have the StyleMapGAN layout (missing or odd {exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    if (e_config.resolution, e_config.latent_channels) != (config.resolution, config.latent_channels):
        raise ValueError(f"{name}: e_ema encodes {e_config.resolution} px images to {e_config.latent_channels} "
                         f"channels but g_ema makes {config.resolution} px from {config.latent_channels}")
    with torch.no_grad():
        g.mapping.w_avg.copy_(g.estimate_w_avg(W_AVG_SAMPLES, seed=0))
    w_avg_source = f"mean of mapping(z) over {W_AVG_SAMPLES} z drawn with torch seed 0"
    notes.append(f"w_avg computed: {w_avg_source}")
    d = read_discriminator(ckpt["discriminator"], name, "discriminator") \
        if isinstance(ckpt.get("discriminator"), dict) else None
    return {"generator": g.eval(), "discriminator": d, "regressor": encoder.eval(),
            "source": {"format": "stylemapgan", "networks": "g_ema, e_ema, discriminator", "w_avg": w_avg_source,
                       "train_args": train_args},
            "notes": notes}
