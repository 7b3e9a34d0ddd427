"""The StyleMapGAN trainer runs, checkpoints, resumes exactly where it stopped, and ships (tiny configurations)."""
from __future__ import annotations

import json

import pytest
import torch

from server.engine.losses import DiscriminatorLoss
from server.models.discriminator import Discriminator, DiscriminatorConfig
from server.training import train_stylemapgan
from tests.support.paths import REPO

pytestmark = pytest.mark.usefixtures("one_thread")

# 16 px, a 4x4x8 stylemap; r1_interval 2 so that the lazy R1 runs in both halves of the resumed run.
TINY = {"resolution": 16, "latent_channels": 8, "latent_size": 4, "mapping_layers": 2, "batch": 4,
        "dataset_size": 8, "r1_interval": 2, "g_channels": {"4": 16, "8": 16, "16": 8},
        "stylecode_channels": {"4": 8, "8": 8, "16": 4},
        "e_channels": {"4": 16, "8": 16, "16": 8}, "d_channels": {"4": 16, "8": 16, "16": 8}}


def logs(run) -> list[dict]:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in d.items() if k not in ("wall_h", "kimg_h", "eta_h")} for d in lines]


def train(run, *extra):
    train_stylemapgan.main(["--run", str(run), "--log-every", "1", *extra])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An interrupted run (2 steps, then resumed to 4) and an uninterrupted one (4 steps)."""
    root = tmp_path_factory.mktemp("stylemapgan")
    (root / "tiny.json").write_text(json.dumps(TINY))
    config = ["--config", str(root / "tiny.json")]
    train(root / "resumed", *config, "--kimg", "0.008")
    first = torch.load(root / "resumed" / "checkpoint.pt", weights_only=True)
    train(root / "resumed", "--kimg", "0.016")
    train(root / "straight", *config, "--kimg", "0.016")
    return root / "resumed", root / "straight", first


def test_losses_are_finite_and_a_checkpoint_is_written(runs):
    resumed, _, first = runs
    assert first["step"] == 2 and first["images_seen"] == 8
    assert {"G", "E", "D", "G_ema", "E_ema", "opt_g", "opt_e", "opt_d", "rng", "torch_rng"} <= set(first)
    lines = logs(resumed)
    assert [d["step"] for d in lines] == [1, 2, 3, 4]
    for d in lines:
        for key in ("g_adv", "w_rec", "d", "d_indomain", "x_rec", "perceptual", "e_indomain"):
            assert torch.isfinite(torch.tensor(d[key])), (key, d)
    assert "r1" in lines[0] and "r1" not in lines[1]
    assert list(resumed.glob("samples_*.png"))
    assert json.loads((resumed / "eval.jsonl").read_text().splitlines()[-1])["heldout_recon_psnr"] > 0


def test_a_resumed_run_continues_exactly_like_an_uninterrupted_one(runs):
    resumed, straight, first = runs
    assert logs(resumed) == logs(straight)
    a = torch.load(resumed / "checkpoint.pt", weights_only=True)
    b = torch.load(straight / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for net in ("G", "E", "D", "G_ema", "E_ema"):
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), (net, key)
    assert not torch.equal(first["E"]["final.weight"], a["E"]["final.weight"])


def test_the_perceptual_term_is_the_projects_discriminator_feature_distance():
    torch.manual_seed(0)
    d = Discriminator(DiscriminatorConfig(resolution=16, channels={4: 8, 8: 8, 16: 8}))
    x, y = torch.randn(2, 4, 3, 16, 16).unbind(0)
    expected = DiscriminatorLoss(d)(x, y, torch.ones(4, 1, 16, 16))
    got = train_stylemapgan.feature_distance(d.features(x), d.features(y)).mean()
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_ship_writes_a_loadable_float16_model(runs, tmp_path):
    resumed, _, _ = runs
    card = train_stylemapgan.ship(resumed, tmp_path / "model")
    assert card["weights"]["dtype"] == "float16"
    from server.models import load_model

    model = load_model(tmp_path / "model")
    g, e = model.generator, model.regressor
    assert model.discriminator is not None and e is not None
    assert tuple(g.latent_shape) == (8, 4, 4)
    assert card["training"]["stylemapgan"]["iterations"] == 4
    with torch.no_grad():
        out = g.synthesis(e(torch.zeros(1, 3, 16, 16)))
    assert out.shape == (1, 3, 16, 16) and torch.isfinite(out).all()


def test_the_checked_in_config_is_the_default():
    from dataclasses import asdict
    path = REPO / "server/training/configs/portraits64-stylemapgan.json"
    checked_in = train_stylemapgan.StyleMapTrainConfig(**json.loads(path.read_text()))
    as_json = lambda cfg: json.loads(json.dumps(asdict(cfg)))  # noqa: E731 (int vs str dict keys)
    assert as_json(checked_in) == as_json(train_stylemapgan.StyleMapTrainConfig())
    assert checked_in.generator_config().latent_shape == (32, 16, 16)
