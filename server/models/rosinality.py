"""Reader for rosinality/stylegan2-pytorch checkpoints (`.pt`).

Two layouts exist: convert_weight.py writes `{g_ema, latent_avg}`; train.py writes `{g, d, g_ema,
g_optim, d_optim, args, ada_aug_p}` (an argparse.Namespace inside, no `latent_avg`). Only
`g_ema` (and `d` when present) are used. Every width comes from tensor shapes.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from .discriminator import Discriminator, DiscriminatorConfig
from .generator import Generator, GeneratorConfig
from .layers import is_standard_fir
from .torch_files import load_torch_file

DEFAULT_LR_MLP = 0.01  # rosinality's Generator default; not stored in the state dict
W_AVG_SAMPLES = 10_000


def load_checkpoint_dict(path: Path) -> dict:
    """A training checkpoint's dict (rosinality or StyleMapGAN), read weights-only, plus
    argparse.Namespace for their `args` / `train_args`.

    Raises FileNotFoundError / ValueError as :func:`load_torch_file` does, and ValueError when the
    file holds something other than a dict."""
    ckpt = load_torch_file(path, "torch checkpoint", allowed_globals=[argparse.Namespace])
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path.name}: expected a dict checkpoint, got {type(ckpt).__name__}")
    return ckpt


def _rename_generator(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map rosinality generator names onto the NVIDIA-style names of `Generator`."""
    out: dict[str, torch.Tensor] = {}

    def layer(src: str, dst: str, noise_key: str):
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"].reshape([])
        out[f"{dst}.bias"] = sd[f"{src}.activate.bias"]
        out[f"{dst}.noise_const"] = sd[noise_key][0, 0]

    def torgb(src: str, dst: str):
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(-1)

    for key, value in sd.items():
        m = re.fullmatch(r"style\.(\d+)\.(weight|bias)", key)
        if m:
            out[f"mapping.fc{int(m.group(1)) - 1}.{m.group(2)}"] = value
    out["mapping.w_avg"] = torch.zeros(sd[f"style.{_count(sd, 'style')}.weight"].shape[0])  # set by the caller
    out["synthesis.b4.const"] = sd["input.input"][0]
    layer("conv1", "synthesis.b4.conv1", "noises.noise_0")
    torgb("to_rgb1", "synthesis.b4.torgb")
    for k in range(_count(sd, "to_rgbs")):
        res = 8 * 2 ** k
        layer(f"convs.{2 * k}", f"synthesis.b{res}.conv0", f"noises.noise_{2 * k + 1}")
        layer(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", f"noises.noise_{2 * k + 2}")
        torgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
    return out


def _count(sd: dict, prefix: str) -> int:
    return len({k.split(".")[1] for k in sd if k.startswith(prefix + ".")})


def check_blur_kernels(sd: dict[str, torch.Tensor], name: str):
    """The networks hard-wire the [1,3,3,1] filter; refuse checkpoints built with another one."""
    for key, value in sd.items():
        if key.endswith(("blur.kernel", "upsample.kernel")) or re.search(r"\.\d+\.kernel$", key):
            if not is_standard_fir(value):
                raise ValueError(f"{name}: {key} is not the standard [1,3,3,1] blur kernel")


def generator_config(sd: dict[str, torch.Tensor], lr_mlp: float) -> GeneratorConfig:
    n_mlp = _count(sd, "style")
    style_dim = sd["style.1.weight"].shape[1]
    size = 4 * 2 ** _count(sd, "to_rgbs")
    channels = {4: sd["conv1.conv.weight"].shape[1]}
    for k in range(_count(sd, "to_rgbs")):
        channels[8 * 2 ** k] = sd[f"convs.{2 * k}.conv.weight"].shape[1]
    return GeneratorConfig(resolution=size, z_dim=style_dim, w_dim=sd[f"style.{n_mlp}.weight"].shape[0],
                           channels=channels, mapping_layers=n_mlp, mapping_lr_mul=lr_mlp,
                           mapping_layer_features=sd["style.1.weight"].shape[0])


def rename_resblock(sd: dict[str, torch.Tensor], src: str, dst: str) -> dict[str, torch.Tensor]:
    """One rosinality `ResBlock` (conv, down-sampling conv, skip) as a `DiscriminatorBlock`'s tensors."""
    return {f"{dst}.conv0.weight": sd[f"{src}.conv1.0.weight"], f"{dst}.conv0.bias": sd[f"{src}.conv1.1.bias"],
            f"{dst}.conv1.weight": sd[f"{src}.conv2.1.weight"], f"{dst}.conv1.bias": sd[f"{src}.conv2.2.bias"],
            f"{dst}.skip.weight": sd[f"{src}.skip.1.weight"]}


def rename_discriminator(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], DiscriminatorConfig]:
    """A rosinality StyleGAN2 discriminator state dict (also StyleMapGAN's) as `Discriminator`'s, with its config."""
    n_blocks = _count(sd, "convs") - 1
    size = 4 * 2 ** n_blocks
    out = {f"b{size}.fromrgb.weight": sd["convs.0.0.weight"], f"b{size}.fromrgb.bias": sd["convs.0.1.bias"]}
    channels = {}
    for i in range(1, n_blocks + 1):
        res = size // 2 ** (i - 1)
        out.update(rename_resblock(sd, f"convs.{i}", f"b{res}"))
        channels[res] = sd[f"convs.{i}.conv1.0.weight"].shape[0]
    channels[4] = sd["final_conv.0.weight"].shape[0]
    for src, dst in (("final_conv.0.weight", "b4.conv.weight"), ("final_conv.1.bias", "b4.conv.bias"),
                     ("final_linear.0.weight", "b4.fc.weight"), ("final_linear.0.bias", "b4.fc.bias"),
                     ("final_linear.1.weight", "b4.out.weight"), ("final_linear.1.bias", "b4.out.bias")):
        out[dst] = sd[src]
    mbstd_channels = sd["final_conv.0.weight"].shape[1] - channels[4]
    config = DiscriminatorConfig(resolution=size, channels=channels, mbstd_group_size=4,
                                 mbstd_num_channels=mbstd_channels)
    return out, config


def read_discriminator(sd: dict[str, torch.Tensor], name: str, key: str) -> Discriminator:
    """The discriminator of a checkpoint's `key` entry (a rosinality-layout state dict), strictly loaded."""
    sd = {k: v.float() for k, v in sd.items()}
    check_blur_kernels(sd, name)
    try:
        renamed, config = rename_discriminator(sd)
        d = Discriminator(config)
        d.load_state_dict(renamed, strict=True)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{name}: {key!r} does not look like a rosinality discriminator ({exc})") from exc
    return d.eval()


def read_rosinality(path: Path, ckpt: dict | None = None) -> dict:
    """Return `{generator, discriminator, source}` built from a rosinality checkpoint (`ckpt`: its dict,
    when already read by :func:`load_checkpoint_dict`)."""
    if ckpt is None:
        ckpt = load_checkpoint_dict(path)
    if "g_ema" not in ckpt:
        raise ValueError(f"{path.name}: no 'g_ema' in this checkpoint (keys: {sorted(ckpt)[:8]})")
    sd = {k: v.float() for k, v in ckpt["g_ema"].items()}
    check_blur_kernels(sd, path.name)
    try:
        config = generator_config(sd, DEFAULT_LR_MLP)
        g = Generator(config)
        g.load_state_dict(_rename_generator(sd), strict=True)
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"{path.name}: g_ema does not look like a rosinality StyleGAN2 generator ({exc})") from exc
    notes = []
    if "latent_avg" in ckpt:
        g.mapping.w_avg.copy_(ckpt["latent_avg"].reshape(-1).float())
        w_avg_source = "latent_avg stored in the checkpoint"
    else:
        g.mapping.w_avg.copy_(g.estimate_w_avg(W_AVG_SAMPLES, seed=0))
        w_avg_source = f"mean of mapping(z) over {W_AVG_SAMPLES} z drawn with torch seed 0"
        notes.append(f"w_avg computed: {w_avg_source}")
    d = read_discriminator(ckpt["d"], path.name, "d") if isinstance(ckpt.get("d"), dict) else None
    layout = "train.py" if "g" in ckpt else "convert_weight.py"
    return {"generator": g.eval(), "discriminator": d,
            "source": {"format": "rosinality", "layout": layout, "w_avg": w_avg_source,
                       "lr_mlp": f"{DEFAULT_LR_MLP} (rosinality default, not stored in the file)"},
            "notes": notes}
