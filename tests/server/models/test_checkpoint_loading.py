"""Every checkpoint kind loads through `load_generator` / `load_regressor`, and hostile files are refused."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from server.models import (
    Discriminator,
    DiscriminatorConfig,
    load_discriminator,
    load_generator,
    load_model,
    load_regressor,
)
from server.models.generator import normalize_2nd_moment
from tests.support import nvidia_pickles as fx
from tests.support.paths import REPO, conformance_file


def _torch_save(path, obj):
    torch.save(obj, path)
    return path


# -- NVIDIA snapshot variants ------------------------------------------------------------------

@torch.no_grad()
def test_conditional_nvidia_generator(tmp_path):
    conformance_file("nvidia_r32.pkl")
    snap = fx.write_conditional_snapshot(tmp_path / "cond.pkl", c_dim=3)
    g = load_generator(tmp_path / "cond.pkl")
    assert g.c_dim == 3
    z = torch.randn(2, g.z_dim, generator=torch.Generator().manual_seed(0))
    c0, c1 = torch.eye(3)[[0, 0]], torch.eye(3)[[1, 2]]
    ws0, ws1 = g.mapping(z, c0), g.mapping(z, c1)
    assert not torch.allclose(ws0, ws1), "the class label must change w"
    # NVIDIA's conditional mapping: cat(norm(z), norm(embed(c))), then the fc layers.
    sd = snap["G_ema"].state_dict()
    emb = c0 @ (sd["mapping.embed.weight"] / np.sqrt(3)).t() + sd["mapping.embed.bias"]
    x = torch.cat([normalize_2nd_moment(z), normalize_2nd_moment(emb)], dim=1)
    for i in range(g.config.mapping_layers):
        w, b = sd[f"mapping.fc{i}.weight"], sd[f"mapping.fc{i}.bias"]
        x = torch.nn.functional.leaky_relu(x @ (w * 0.01 / np.sqrt(w.shape[1])).t() + b * 0.01, 0.2) * np.sqrt(2)
    assert (ws0[:, 0] - x).abs().max() < 1e-5
    with pytest.raises(ValueError, match="c must have shape"):
        g.mapping(z)
    assert torch.isfinite(g.synthesis(ws1)).all()


@pytest.mark.parametrize("variant", ["augment", "numpy.core", "numpy._core", "torch1", "torch2"])
@torch.no_grad()
def test_nvidia_variants_load_identically(variant, tmp_path):
    ref = load_generator(conformance_file("nvidia_r32.pkl"))
    path = tmp_path / f"{variant}.pkl"
    if variant == "augment":
        fx.write_augment_snapshot(path)
    elif variant.startswith("numpy"):
        fx.write_numpy_scalar_snapshot(path, variant)
    else:
        fx.write_torch_style_snapshot(path, variant)
    g = load_generator(path)
    z = torch.randn(3, g.z_dim, generator=torch.Generator().manual_seed(1))
    assert torch.equal(g.synthesis(g.mapping(z)), ref.synthesis(ref.mapping(z)))
    if variant == "augment":
        assert "augment_pipe" in g.card["source"]


@torch.no_grad()
def test_nvidia_discriminator_loads_and_matches_rosinality_naming():
    d = load_discriminator(conformance_file("nvidia_r32.pkl"))
    assert d is not None and d.config.conv_clamp == 256 and d.config.channels == {32: 16, 16: 32, 8: 64, 4: 64}
    img = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = d(img)
    assert out.shape == (4, 1) and torch.isfinite(out).all()
    feats = d.features(img)
    assert [f.shape[-1] for f in feats] == [16, 8, 4]


# -- rosinality train.py layout ----------------------------------------------------------------

def rosinality_discriminator_state(d: Discriminator) -> dict:
    """The inverse of the reader's renaming: a rosinality `d` state dict for `d`."""
    sd, res = d.state_dict(), d.config.resolution
    out = {"convs.0.0.weight": sd[f"b{res}.fromrgb.weight"], "convs.0.1.bias": sd[f"b{res}.fromrgb.bias"]}
    kernel = torch.tensor([1.0, 3, 3, 1])
    kernel = torch.outer(kernel, kernel) / 64
    for i, r in enumerate(d.config.resolutions[:-1], start=1):
        out.update({f"convs.{i}.conv1.0.weight": sd[f"b{r}.conv0.weight"],
                    f"convs.{i}.conv1.1.bias": sd[f"b{r}.conv0.bias"],
                    f"convs.{i}.conv2.0.kernel": kernel, f"convs.{i}.conv2.1.weight": sd[f"b{r}.conv1.weight"],
                    f"convs.{i}.conv2.2.bias": sd[f"b{r}.conv1.bias"], f"convs.{i}.skip.0.kernel": kernel,
                    f"convs.{i}.skip.1.weight": sd[f"b{r}.skip.weight"]})
    for dst, src in (("final_conv.0.weight", "b4.conv.weight"), ("final_conv.1.bias", "b4.conv.bias"),
                     ("final_linear.0.weight", "b4.fc.weight"), ("final_linear.0.bias", "b4.fc.bias"),
                     ("final_linear.1.weight", "b4.out.weight"), ("final_linear.1.bias", "b4.out.bias")):
        out[dst] = sd[src]
    return out


@pytest.fixture(scope="module")
def train_layout_checkpoint(tmp_path_factory):
    """A train.py-style checkpoint built from the conformance generator: g differs from g_ema."""
    src = torch.load(conformance_file("rosinality_s32.pt"), weights_only=True)
    g_ema = src["g_ema"]
    g = {k: v + 0.5 for k, v in g_ema.items()}
    torch.manual_seed(0)
    d = Discriminator(DiscriminatorConfig(resolution=32, channels={32: 16, 16: 32, 8: 32, 4: 32})).eval()
    args = argparse.Namespace(size=32, latent=64, n_mlp=2, channel_multiplier=2, r1=10.0, iter=800000)
    path = tmp_path_factory.mktemp("ros") / "train_ckpt.pt"
    _torch_save(path, {"g": g, "d": rosinality_discriminator_state(d), "g_ema": g_ema,
                       "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]},
                       "d_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]},
                       "args": args, "ada_aug_p": 0.0})
    return path, d


@torch.no_grad()
def test_rosinality_train_layout_uses_g_ema_and_computes_w_avg(train_layout_checkpoint):
    path, d_ref = train_layout_checkpoint
    model = load_model(path)
    g, ref = model.generator, load_generator(conformance_file("rosinality_s32.pt"))
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(g.synthesis(g.mapping(z)), ref.synthesis(ref.mapping(z))), "must load g_ema, not g"
    assert torch.allclose(g.w_avg, g.estimate_w_avg(10_000, seed=0))
    assert (g.w_avg - ref.w_avg).abs().max() > 0  # computed, not the stored latent_avg of the other file
    assert "10000" in model.card["source"]["w_avg"] and model.card["source"]["layout"] == "train.py"
    img = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model.discriminator(img), d_ref(img), atol=1e-6)


# -- the project's own format ------------------------------------------------------------------

def test_info_command_prints_the_card():
    path = conformance_file("nvidia_r32.pkl")
    out = subprocess.run([sys.executable, "-m", "server.models", "info", str(path)], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    card = json.loads(out)
    assert card["resolution"] == 32 and card["num_ws"] == 8 and card["source"]["format"] == "nvidia"
    assert card["discriminator"]["conv_clamp"] == 256


@torch.no_grad()
def test_export_keeps_discriminator_and_regressor(tmp_path, train_layout_checkpoint):
    from server.models.__main__ import main

    path, d_ref = train_layout_checkpoint
    assert main(["export", str(path), str(tmp_path / "own"), "--half"]) == 0
    model = load_model(tmp_path / "own")
    assert model.card["weights"]["dtype"] == "float16"
    img = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model.discriminator(img), d_ref(img), atol=1e-2)


@torch.no_grad()
def test_latentcomp_regressor_through_load_regressor():
    path = conformance_file("latentcomp_enc_small.pth")
    ref = np.load(conformance_file("latentcomp_enc_small.npz"))
    r = load_regressor(path)
    image, mask = torch.from_numpy(ref["main_image"]), torch.from_numpy(ref["main_mask"])
    assert (r(image * mask, mask) - torch.from_numpy(ref["main_wplus"])).abs().max() < 1e-4
    assert r.card["source"]["format"] == "latent-composition"


def test_unknown_file_is_refused_clearly(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a recognised checkpoint"):
        load_generator(bad)
    with pytest.raises(FileNotFoundError):
        load_generator(tmp_path / "missing.pt")


# -- hostile files -----------------------------------------------------------------------------

class _Shell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["top", "inside_g_ema", "args"])
def test_malicious_pt_is_refused_without_side_effect(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = _Shell(marker)
    ckpt = {"g_ema": {"style.1.weight": torch.zeros(2, 2)}, "latent_avg": torch.zeros(2)}
    if where == "top":
        ckpt = payload
    elif where == "inside_g_ema":
        ckpt["g_ema"]["style.1.bias"] = payload
    else:
        ckpt["args"] = payload
    path = _torch_save(tmp_path / "evil.pt", ckpt)
    with pytest.raises(ValueError, match="system"):
        load_generator(path)
    assert not marker.exists()


def test_malicious_pkl_is_refused_without_side_effect(tmp_path):
    marker = tmp_path / "pwned"
    path = fx.write_evil_pickle(tmp_path / "evil.pkl", "os.system", marker, nested=True)
    with pytest.raises(ValueError, match="refusing global"):
        load_generator(path)
    assert not marker.exists()
