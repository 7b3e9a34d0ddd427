"""Build generator and discriminator from an NVIDIA stylegan2-ada-pytorch snapshot.

The snapshot is read by `nvidia_pickle` (never running the code it embeds); the architecture comes
from the stored constructor arguments and tensor shapes, and the state dicts load by name because
`Generator` and `Discriminator` use NVIDIA's module names.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from .discriminator import Discriminator, DiscriminatorConfig
from .generator import Generator, GeneratorConfig
from .layers import is_standard_fir
from .nvidia_pickle import PersistentRecord, network_spec, read_nvidia_snapshot


def _drop_resample_filters(sd: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The [1,3,3,1] filter is hard-wired; refuse snapshots that were trained with another one."""
    out = {}
    for key, value in sd.items():
        if key.endswith("resample_filter"):
            if not is_standard_fir(value):
                raise ValueError(f"{name}: {key} is not the standard [1,3,3,1] filter")
            continue
        out[key] = value.float()
    return out


def _count_fc(sd: dict, prefix: str) -> int:
    return sum(1 for k in sd if re.fullmatch(rf"{re.escape(prefix)}fc\d+\.weight", k))


def _with_weights(module: torch.nn.Module, sd: dict, name: str, class_name: str) -> torch.nn.Module:
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{name}: {class_name} weights do not match its constructor arguments ({exc})") from exc
    return module.eval()


def _generator(record: PersistentRecord, name: str) -> Generator:
    class_name, kw, sd = network_spec(record)
    sd = _drop_resample_filters(sd, name)
    syn_kw, map_kw = dict(kw.get("synthesis_kwargs", {})), dict(kw.get("mapping_kwargs", {}))
    if syn_kw.get("architecture", "skip") != "skip":
        raise ValueError(f"{name}: G_ema uses the '{syn_kw['architecture']}' synthesis architecture; "
                         "only 'skip' (the StyleGAN2 default) is supported")
    res = int(kw["img_resolution"])
    channels = {4: sd["synthesis.b4.const"].shape[0]}
    r = 8
    while f"synthesis.b{r}.conv0.weight" in sd:
        channels[r] = sd[f"synthesis.b{r}.conv0.weight"].shape[0]
        r *= 2
    c_dim = int(kw.get("c_dim", 0))
    config = GeneratorConfig(
        resolution=res, z_dim=int(kw["z_dim"]), w_dim=int(kw["w_dim"]), channels=channels, c_dim=c_dim,
        mapping_layers=_count_fc(sd, "mapping."),
        mapping_lr_mul=float(map_kw.get("lr_multiplier", 0.01)),
        mapping_layer_features=sd["mapping.fc0.weight"].shape[0],
        embed_features=sd["mapping.embed.weight"].shape[0] if c_dim else None,
        conv_clamp=None if syn_kw.get("conv_clamp") is None else float(syn_kw["conv_clamp"]),
        img_channels=int(kw.get("img_channels", 3)),
    )
    return _with_weights(Generator(config), sd, name, class_name)


def _discriminator(record: PersistentRecord, name: str) -> Discriminator:
    class_name, kw, sd = network_spec(record)
    sd = _drop_resample_filters(sd, name)
    if kw.get("architecture", "resnet") != "resnet":
        raise ValueError(f"{name}: D uses the '{kw['architecture']}' architecture; only 'resnet' is supported")
    res = int(kw["img_resolution"])
    channels = {4: sd["b4.conv.weight"].shape[0]}
    for r in [2 ** i for i in range(3, res.bit_length())]:
        channels[r] = sd[f"b{r}.conv0.weight"].shape[0]
    c_dim = int(kw.get("c_dim", 0))
    epi = dict(kw.get("epilogue_kwargs", {}))
    config = DiscriminatorConfig(
        resolution=res, channels=channels, c_dim=c_dim,
        cmap_dim=sd["b4.out.weight"].shape[0] if c_dim else 0,
        mapping_layers=_count_fc(sd, "mapping.") if c_dim else 0,
        mapping_lr_mul=float(dict(kw.get("mapping_kwargs", {})).get("lr_multiplier", 0.01)),
        mbstd_group_size=int(epi.get("mbstd_group_size", 4) or 0),
        mbstd_num_channels=int(epi.get("mbstd_num_channels", 1)),
        conv_clamp=None if kw.get("conv_clamp") is None else float(kw["conv_clamp"]),
        img_channels=int(kw.get("img_channels", 3)),
    )
    return _with_weights(Discriminator(config), sd, name, class_name)


def read_nvidia(path: Path) -> dict:
    """Return `{generator, discriminator, source}` from a network snapshot (always `G_ema`)."""
    snapshot = read_nvidia_snapshot(path)
    g = _generator(snapshot["G_ema"], path.name)
    d = _discriminator(snapshot["D"], path.name) if isinstance(snapshot.get("D"), PersistentRecord) else None
    source = {"format": "nvidia", "network": "G_ema", "w_avg": "mapping.w_avg stored in the snapshot"}
    if isinstance(snapshot.get("augment_pipe"), PersistentRecord):
        source["augment_pipe"] = "present (ignored: only used in training)"
    return {"generator": g, "discriminator": d, "source": source, "notes": []}
