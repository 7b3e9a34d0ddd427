"""The generator contract reproduces the reference outputs of both public codebases."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from server.models import load_generator
from server.models.own_format import read_own
from tests.support.paths import conformance_file

TOL = 1e-4


def max_err(a: torch.Tensor, ref: np.ndarray) -> float:
    return (a.detach() - torch.from_numpy(ref)).abs().max().item()


@pytest.fixture(scope="module")
def rosinality():
    g = load_generator(conformance_file("rosinality_s32.pt"))
    return g, np.load(conformance_file("rosinality_s32.npz"))


@pytest.fixture(scope="module")
def nvidia():
    g = load_generator(conformance_file("nvidia_r32.pkl"))
    return g, np.load(conformance_file("nvidia_r32.npz"))


@torch.no_grad()
def test_rosinality_shape_facts(rosinality):
    g, ref = rosinality
    assert g.resolution == ref["size"] and g.num_ws == ref["n_latent"]
    assert g.z_dim == g.w_dim == ref["style_dim"] and g.c_dim == 0
    assert len(g.synthesis.noise_layers) == ref["num_noise_layers"]
    assert g.config.mapping_layers == ref["n_mlp"]
    assert {int(r): int(c) for r, c in ref["channels"]} == g.config.channels
    assert max_err(g.w_avg, ref["truncation_latent"]) == 0


@torch.no_grad()
def test_rosinality_mapping_and_truncation(rosinality):
    g, ref = rosinality
    z = torch.from_numpy(ref["z"])
    ws = g.mapping(z)
    assert max_err(ws[:, 0], ref["w"]) < TOL
    assert max_err(ws, ref["latent_z_psi1"]) < TOL
    assert max_err(g.mapping(z, truncation_psi=0.7)[:, 0], ref["w_psi07"]) < TOL


@torch.no_grad()
def test_rosinality_images(rosinality):
    g, ref = rosinality
    z = torch.from_numpy(ref["z"])
    assert max_err(g.synthesis(g.mapping(z)), ref["img_z_psi1"]) < TOL
    assert max_err(g.synthesis(g.mapping(z, truncation_psi=0.7)), ref["img_z_psi07"]) < TOL
    w = torch.from_numpy(ref["w"])[:, None].repeat(1, g.num_ws, 1)
    assert max_err(g.synthesis(w), ref["img_w_psi1"]) < TOL
    assert max_err(g.synthesis(w, noise_mode="none"), ref["img_w_psi1_zero_noise"]) < TOL


@torch.no_grad()
def test_rosinality_wplus_and_mixing(rosinality):
    g, ref = rosinality
    z_plus = torch.from_numpy(ref["z_plus"])
    wplus = g.mapping(z_plus.reshape(-1, g.z_dim))[:, 0].reshape(z_plus.shape[0], g.num_ws, g.w_dim)
    assert max_err(wplus, ref["wplus"]) < TOL
    assert max_err(g.synthesis(wplus), ref["img_wplus_psi1"]) < TOL
    truncated = g.w_avg.lerp(wplus, float(ref["truncation_psi"]))
    assert max_err(g.synthesis(truncated), ref["img_wplus_psi07"]) < TOL
    z = torch.from_numpy(ref["z"])
    k = int(ref["inject_index"])
    ws_a, ws_b = g.mapping(z[:2]), g.mapping(z[2:4])
    mixed = torch.cat([ws_a[:, :k], ws_b[:, k:]], dim=1)
    assert max_err(mixed, ref["latent_mix"]) < TOL
    assert max_err(g.synthesis(mixed), ref["img_mix"]) < TOL


@torch.no_grad()
def test_nvidia_mapping_and_truncation(nvidia):
    g, ref = nvidia
    assert (g.resolution, g.num_ws, g.z_dim, g.w_dim, g.c_dim) == (
        ref["img_resolution"], ref["num_ws"], ref["z_dim"], ref["w_dim"], ref["c_dim"])
    assert {int(r): int(c) for r, c in ref["channels"]} == g.config.channels
    assert g.config.conv_clamp == ref["conv_clamp"]
    assert max_err(g.w_avg, ref["w_avg"]) == 0
    z, c = torch.from_numpy(ref["z"]), torch.from_numpy(ref["c"])
    assert max_err(g.mapping(z, c), ref["ws_psi1"]) < TOL
    assert max_err(g.mapping(z, c, truncation_psi=0.7), ref["ws_psi07"]) < TOL
    cutoff = int(ref["truncation_cutoff"])
    assert max_err(g.mapping(z, c, truncation_psi=0.7, truncation_cutoff=cutoff), ref["ws_psi07_cutoff3"]) < TOL


@torch.no_grad()
def test_nvidia_images(nvidia):
    g, ref = nvidia
    z, c = torch.from_numpy(ref["z"]), torch.from_numpy(ref["c"])
    assert max_err(g.synthesis(g.mapping(z, c)), ref["img_z_psi1"]) < TOL
    assert max_err(g.synthesis(g.mapping(z, c, truncation_psi=0.7)), ref["img_z_psi07"]) < TOL
    ws = g.mapping(z, c, truncation_psi=0.7, truncation_cutoff=int(ref["truncation_cutoff"]))
    assert max_err(g.synthesis(ws), ref["img_z_psi07_cutoff3"]) < TOL
    assert max_err(g.synthesis(torch.from_numpy(ref["ws_psi1"])), ref["img_ws_psi1"]) < TOL
    assert max_err(g.synthesis(g.mapping(z, c), noise_mode="none"), ref["img_z_psi1_noise_none"]) < TOL
    wplus = torch.from_numpy(ref["wplus"])
    assert max_err(g.synthesis(wplus), ref["img_wplus_psi1"]) < TOL
    assert max_err(g.synthesis(g.w_avg.lerp(wplus, 0.7)), ref["img_wplus_psi07"]) < TOL


@torch.no_grad()
@pytest.mark.parametrize("fixture", ["rosinality", "nvidia"])
def test_export_to_own_format_is_identical(fixture, request, tmp_path):
    from server.models.__main__ import main

    g, ref = request.getfixturevalue(fixture)
    src = conformance_file("rosinality_s32.pt" if fixture == "rosinality" else "nvidia_r32.pkl")
    assert main(["export", str(src), str(tmp_path / "m")]) == 0
    own = read_own(tmp_path / "m")
    g2 = own.generator
    assert g2.config == g.config
    z = torch.from_numpy(ref["z"])
    c = torch.zeros(z.shape[0], g.c_dim)
    for mode in ("const", "none"):
        a = g.synthesis(g.mapping(z, c, truncation_psi=0.7), noise_mode=mode)
        b = g2.synthesis(g2.mapping(z, c, truncation_psi=0.7), noise_mode=mode)
        assert torch.equal(a, b)
    assert torch.equal(g.w_avg, g2.w_avg)
    assert own.card["source"]["format"] == fixture
