"""Attribute directions: GANSpace and SeFa against reference computations written here, the direction
library (cache, shipped and user files, hostile files), the edits' rules, and ListDirections /
EditLatent over real loopback gRPC (tiny model, the embedded model, a conformance checkpoint)."""
from __future__ import annotations

import pickle
import re
import shutil

import grpc
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from server.engine.attribute_edits import AttributeEdit, edited_latent
from server.engine.calls import edit_latent_job
from server.engine.edits import render
from server.engine.errors import InvalidInput
from server.engine.progress import CancelToken
from server.models import direction_files, directions, load_model
from server.models.direction_files import DirectionLibrary, library_for
from server.models.loading import EMBEDDED_DIR
from server.rpc.catalog import Catalog
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from tests.support.models import make_tiny_model
from tests.support.paths import conformance_file
from tests.support.servers import serving


@pytest.fixture(scope="module")
def g():
    return make_tiny_model(seed=3).generator


@pytest.fixture(scope="module")
def embedded():
    model = load_model("default")
    model.directions = library_for(model.generator, EMBEDDED_DIR)
    return model


def test_ganspace_matches_an_eigendecomposition_of_the_covariance(g):
    with torch.no_grad():
        samples = g.mapping(torch.randn(4000, g.z_dim, generator=torch.Generator().manual_seed(5)))[:, 0]
    components, deviations = directions.principal_components(samples, 6)
    x = samples.double().numpy()
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(values)[::-1][:6]
    for k, column in enumerate(order):
        cosine = abs(float(np.dot(components[k].double().numpy(), vectors[:, column])))
        assert cosine == pytest.approx(1.0, abs=1e-6)
        assert float(deviations[k]) == pytest.approx(np.sqrt(values[column]), rel=1e-5)
        assert float(components[k].abs().max()) == float(components[k].max())  # the sign rule


def test_sefa_matches_the_style_weights_eigenvectors(g):
    rows = [p.detach().double().numpy() for name, p in g.named_parameters()
            if re.fullmatch(r"synthesis\.b\d+\.conv[01]\.affine\.weight", name)]
    m = np.concatenate(rows)
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(m.T @ m)
    factors = directions.sefa_factors(g, 5)
    for k in range(5):
        cosine = abs(float(np.dot(factors[k].double().numpy(), vectors[:, -1 - k])))
        assert cosine == pytest.approx(1.0, abs=1e-6)


def test_library_computes_once_then_reads_its_cache(g, tmp_path, monkeypatch):
    first = DirectionLibrary(g, tmp_path).directions()
    names = list(first)
    assert names[:2] == ["pc1", "pc2"] and "sefa1" in names and len(names) == 2 * min(directions.COMPONENTS, g.w_dim)
    assert all(d.sigma > 0 and torch.isfinite(d.vector).all() for d in first.values())
    assert list(tmp_path.glob("directions-computed-*.safetensors"))

    def no_recompute(*args):
        raise AssertionError("computed again")

    monkeypatch.setattr(direction_files, "computed_directions", no_recompute)
    again = DirectionLibrary(g, tmp_path).directions()
    assert list(again) == names and torch.equal(again["sefa3"].vector, first["sefa3"].vector)


def test_sigma_is_the_spread_of_w_samples_along_the_direction(g):
    samples = directions.w_samples(g, 2000)
    made = directions.unit_direction("x", "file", torch.arange(g.w_dim, dtype=torch.float32), samples, g.num_ws)
    assert float(made.vector.norm()) == pytest.approx(1.0)
    assert made.sigma == pytest.approx(float((samples @ made.vector).std()), rel=1e-5)


class _Planted:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_user_files_of_every_kind_and_hostile_ones(g, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.save(folder / "age.npy", rng.standard_normal((1, g.w_dim)).astype(np.float32))
    np.savez(folder / "gs.npz", lat_comp=rng.standard_normal((3, 1, g.w_dim)).astype(np.float32),
             lat_mean=np.zeros(g.w_dim, np.float32), lat_stdev=np.ones(3, np.float32))
    torch.save({"smile": torch.randn(g.w_dim), "pose": torch.randn(g.num_ws, g.w_dim)}, folder / "e4e.pt")
    np.save(folder / "wrong_size.npy", np.ones(g.w_dim + 1, np.float32))
    marker = tmp_path / "code-ran"
    (folder / "evil.pt").write_bytes(pickle.dumps(_Planted(str(marker))))
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    found = DirectionLibrary(g, tmp_path, file_folders=(folder,)).directions()
    files = {name: d for name, d in found.items() if d.kind == "file"}
    assert set(files) == {"age", "gs.pc1", "gs.pc2", "gs.pc3", "e4e.smile", "e4e.pose"}
    assert tuple(files["e4e.pose"].vector.shape) == (g.num_ws, g.w_dim)
    assert not marker.exists()


def test_zero_strength_leaves_the_image_bit_identical(embedded):
    torch.manual_seed(0)
    latent = embedded.generator.mapping(torch.randn(1, embedded.generator.z_dim))
    edits = [AttributeEdit(0.0, "pc1"), AttributeEdit(0.0, "sefa2", first_layer=3, last_layer=5)]
    edited, image = edit_latent_job(embedded, latent, edits)(None, CancelToken())
    assert torch.equal(edited, latent)
    assert np.array_equal(image, render(embedded.generator, latent))


def coarse_structure(images: torch.Tensor) -> torch.Tensor:
    """Each image's luminance on an 8 x 8 grid, standardised: its layout, not its colours."""
    grid = F.avg_pool2d(images.mean(1, keepdim=True), images.shape[-1] // 8).flatten(1)
    return (grid - grid.mean(1, keepdim=True)) / grid.std(1, keepdim=True)


def test_an_edit_of_the_fine_rows_keeps_the_coarse_structure(embedded):
    g = embedded.generator
    known = embedded.directions.directions()
    torch.manual_seed(1)
    latent = g.mapping(torch.randn(8, g.z_dim))
    with torch.no_grad():
        before = coarse_structure(g.synthesis(latent, noise_mode="const"))

    def correlation(first: int, last: int) -> float:
        moved = torch.cat([edited_latent(g, w[None], [AttributeEdit(3.0, "pc1", None, first, last)], known)
                           for w in latent])
        with torch.no_grad():
            after = coarse_structure(g.synthesis(moved, noise_mode="const"))
        return float((before * after).mean())

    fine, everything = correlation(g.num_ws - 4, g.num_ws), correlation(0, g.num_ws)
    assert fine > 0.9 and everything < fine - 0.3, (fine, everything)  # measured 0.98 and 0.34


def test_pair_edits_carry_the_difference_over(g):
    base, source, target = (torch.randn(1, g.num_ws, g.w_dim) for _ in range(3))
    moved = edited_latent(g, base, [AttributeEdit(1.0, pair=(source, target))], {})
    assert torch.allclose(moved, base + (target - source))
    half = edited_latent(g, base, [AttributeEdit(0.5, pair=(source, target), first_layer=2, last_layer=4)], {})
    assert torch.allclose(half[:, 2:4], base[:, 2:4] + 0.5 * (target - source)[:, 2:4])
    assert torch.equal(half[:, :2], base[:, :2]) and torch.equal(half[:, 4:], base[:, 4:])


@pytest.mark.parametrize("edit, field", [
    (AttributeEdit(1.0, "nope"), "edits[0].direction"),
    (AttributeEdit(float("nan"), "pc1"), "edits[0].strength"),
    (AttributeEdit(1e9, "pc1"), "edits[0].strength"),
    (AttributeEdit(1.0, "pc1", first_layer=99), "edits[0].first_layer"),
    (AttributeEdit(1.0, "pc1", first_layer=3, last_layer=3), "edits[0].last_layer"),
    (AttributeEdit(1.0), "edits[0].direction"),
])
def test_bad_edits_name_their_field(g, tmp_path, edit, field):
    known = DirectionLibrary(g, tmp_path).directions()
    with pytest.raises(InvalidInput) as error:
        edited_latent(g, torch.zeros(1, g.num_ws, g.w_dim), [edit], known)
    assert error.value.field == field


# ------------------------------------------------------------------------------------- over gRPC


def edit_call(served, latent: pb.Latent, *edits: pb.Edit) -> pb.ImageResponse:
    return served.stub.EditLatent(pb.EditLatentRequest(latent=latent, edits=list(edits)), timeout=60)


def test_list_directions_and_edit_latent_over_grpc(served):
    listed = served.stub.ListDirections(pb.ListDirectionsRequest(), timeout=60).directions
    kinds = {d.kind for d in listed}
    assert listed[0].name == "pc1" and {"ganspace", "sefa"} <= kinds
    info = next(m for m in served.stub.ListModels(pb.ListModelsRequest()).models if m.is_default)
    assert all(0 <= d.first_layer < d.last_layer <= info.num_ws and d.sigma > 0 for d in listed)
    values = np.random.default_rng(0).standard_normal(info.num_ws * info.w_dim).astype(np.float32)
    latent = pb.Latent(num_ws=info.num_ws, w_dim=info.w_dim, values=values.tolist())
    still = edit_call(served, latent, pb.Edit(direction="pc1", strength=0.0))
    assert np.array_equal(np.array(still.latent.values, np.float32), values)
    moved = edit_call(served, latent, pb.Edit(direction="pc1", strength=2.0), pb.Edit(direction="sefa1", strength=-1))
    assert still.image.width == info.resolution and moved.image.rgba != still.image.rgba
    pair = edit_call(served, latent, pb.Edit(strength=1.0, source=latent, target=moved.latent))
    assert np.allclose(np.array(pair.latent.values), np.array(moved.latent.values), atol=1e-5)


@pytest.mark.parametrize("edit, field", [
    (pb.Edit(direction="x" * 10_000, strength=1.0), "edits[0].direction"),
    (pb.Edit(direction="pc1", strength=float("inf")), "edits[0].strength"),
    (pb.Edit(direction="pc1", strength=1.0, last_layer=1000), "edits[0].last_layer"),
    (pb.Edit(strength=1.0, source=pb.Latent(num_ws=1, w_dim=1, values=[0.0])), "edits[0].direction"),
])
def test_edit_latent_refusals_name_the_field(served, edit, field):
    info = next(m for m in served.stub.ListModels(pb.ListModelsRequest()).models if m.is_default)
    latent = pb.Latent(num_ws=info.num_ws, w_dim=info.w_dim, values=[0.0] * (info.num_ws * info.w_dim))
    with pytest.raises(grpc.RpcError) as error:
        edit_call(served, latent, edit)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith(field + ":") and len(error.value.details()) < 300


def test_a_conformance_checkpoint_serves_directions(tmp_path):
    checkpoint = tmp_path / "rosinality_s32.pt"
    shutil.copy(conformance_file("rosinality_s32.pt"), checkpoint)  # its cache is written beside it
    with serving(Catalog.load(checkpoint, None, "cpu")) as served:
        listed = served.stub.ListDirections(pb.ListDirectionsRequest(), timeout=120).directions
        info = served.stub.ListModels(pb.ListModelsRequest()).models[0]
        latent = pb.Latent(num_ws=info.num_ws, w_dim=info.w_dim, values=[0.0] * (info.num_ws * info.w_dim))
        answer = edit_call(served, latent, pb.Edit(direction=listed[0].name, strength=1.5))
    assert answer.image.width == info.resolution == 32
    assert list(tmp_path.glob("directions-computed-*.safetensors"))


def test_the_embedded_model_serves_its_supervised_directions(embedded):
    with serving(catalog_of(embedded)) as served:
        listed = {d.name: d for d in served.stub.ListDirections(pb.ListDirectionsRequest(), timeout=120).directions}
        supervised = {name: d for name, d in listed.items() if d.kind == "supervised"}
        assert {"smile", "glasses", "hat", "background_light"} <= set(supervised)
        assert all(0 < d.accuracy <= 1 and d.sigma > 0 for d in supervised.values())
        g = embedded.generator
        with torch.no_grad():
            start = g.mapping(torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(0)))
        latent = pb.Latent(num_ws=g.num_ws, w_dim=g.w_dim, values=start.flatten().tolist(), model="default")
        plain = edit_call(served, latent, pb.Edit(direction="background_light", strength=0.0))
        lighter = edit_call(served, latent, pb.Edit(direction="background_light", strength=3.0))
    assert np.array_equal(np.frombuffer(plain.image.rgba, np.uint8).reshape(64, 64, 4)[..., :3],
                          render(g, start))
    corner = (slice(0, 8), slice(0, 8))  # background, away from the face
    brightness = [np.frombuffer(answer.image.rgba, np.uint8).reshape(64, 64, 4)[corner][..., :3].mean()
                  for answer in (plain, lighter)]
    assert brightness[1] > brightness[0]


def catalog_of(model) -> Catalog:
    """A catalog serving an already loaded model as the default."""
    from server.rpc.catalog import ModelEntry

    return Catalog([ModelEntry("default", "default", model)])
