"""The training scripts run, checkpoint, resume, and ship a loadable model (tiny configurations)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from server.models import load_model
from server.training import dataset, ship, train_gan, train_regressor
from server.training.masks import masks_with_fraction, random_masks

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_GAN = {"resolution": 16, "z_dim": 16, "w_dim": 16, "mapping_layers": 2, "batch": 4, "dataset_size": 8,
            "g_channels": {"4": 16, "8": 16, "16": 16}, "d_channels": {"4": 16, "8": 16, "16": 16}}


def log_steps(run) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    (root / "gan.json").write_text(json.dumps(TINY_GAN))
    run = root / "gan"
    train_gan.main(["--run", str(run), "--config", str(root / "gan.json"), "--kimg", "0.008"])
    return run


def test_gan_training_resumes_where_it_stopped(gan_run):
    first = torch.load(gan_run / "checkpoint.pt", weights_only=True)
    assert first["step"] == 2 and first["images_seen"] == 8
    train_gan.main(["--run", str(gan_run), "--kimg", "0.016"])
    second = torch.load(gan_run / "checkpoint.pt", weights_only=True)
    assert second["step"] == 4 and second["images_seen"] == 16
    assert not torch.equal(first["G"]["synthesis.b16.conv1.weight"], second["G"]["synthesis.b16.conv1.weight"])
    assert list((gan_run.parent / "datasets").glob("portraits_16px_8.npy"))
    assert list(gan_run.glob("samples_*.png"))


def test_regressor_for_a_gan_run_ships(gan_run, tmp_path):
    """The embedded model's path: ship G and D, train a regressor for them (a model folder), ship it."""
    ship.main(["--gan", str(gan_run), "--out", str(tmp_path / "model")])
    assert load_model(tmp_path / "model").regressor is None
    trained = tmp_path / "trained"
    train_regressor.main(["--model", str(tmp_path / "model"), "--out", str(trained), "--iterations", "3",
                          "--batch", "2", "--eval-images", "2"])
    ship.main(["--gan", str(gan_run), "--regressor", str(trained), "--out", str(tmp_path / "shipped")])
    model = load_model(tmp_path / "shipped")
    g, r = model.generator, model.regressor
    assert model.discriminator is not None and r is not None
    gan_steps = torch.load(gan_run / "checkpoint.pt", weights_only=True)["step"]
    assert model.card["training"]["gan"]["iterations"] == gan_steps
    assert model.card["training"]["regressor"]["iterations"] == 3
    assert set(model.card["training"]["regressor"]["evaluation"]["psnr_db"]) >= {"whole", "pieces"}
    assert torch.equal(r.w_avg, g.w_avg)
    img = torch.zeros(1, 3, 16, 16)
    with torch.no_grad():
        out = g.synthesis(r(img, torch.ones(1, 1, 16, 16)))
    assert torch.isfinite(out).all()
    with pytest.raises(SystemExit, match="not a model folder written by"):
        ship.main(["--gan", str(gan_run), "--regressor", str(tmp_path / "model"), "--out", str(tmp_path / "x")])

    # a second regressor into the shipped folder, without the GAN run: G, D, the GAN record and other files stay
    (tmp_path / "shipped" / "directions.safetensors").write_bytes(b"kept")
    again = tmp_path / "again"
    train_regressor.main(["--model", str(tmp_path / "shipped"), "--out", str(again), "--iterations", "2",
                          "--batch", "2", "--eval-images", "2"])
    ship.main(["--regressor", str(again), "--out", str(tmp_path / "shipped")])
    swapped = load_model(tmp_path / "shipped")
    assert swapped.card["training"]["gan"] == model.card["training"]["gan"]
    assert swapped.card["training"]["regressor"]["initialised_from"] == "checkpoint"
    assert swapped.card["training"]["regressor"]["iterations"] == 2
    assert swapped.card["training"]["regressor"]["fine_tuned_from"]["iterations"] == 3
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), swapped.generator.state_dict().values()))
    assert any(not torch.equal(a, b) for a, b in zip(r.state_dict().values(), swapped.regressor.state_dict().values()))
    assert (tmp_path / "shipped" / "directions.safetensors").read_bytes() == b"kept"
    with pytest.raises(SystemExit, match="give --gan"):
        ship.main(["--out", str(tmp_path / "shipped")])


def test_the_dataset_renders_ahead_of_time(tmp_path, capsys):
    dataset.main(["--dir", str(tmp_path), "--resolution", "16", "--count", "8", "--workers", "1"])
    images = np.load(tmp_path / "portraits_16px_8.npy")
    assert images.shape == (8, 16, 16, 3) and images.dtype == np.uint8 and images.std() > 10
    assert str(tmp_path / "portraits_16px_8.npy") in capsys.readouterr().out


def test_training_masks():
    gen = torch.Generator().manual_seed(0)
    masks = random_masks(200, 32, gen, full_fraction=0.25)
    visible = masks.mean(dim=[1, 2, 3])
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert 0.1 < (visible == 1).float().mean() < 0.45  # the full masks, plus a few all-visible draws
    assert visible.min() > 0 and visible.mean() > 0.5
    for fraction in (0.5, 0.25):
        m = masks_with_fraction(20, 64, fraction, gen)
        assert (m.mean(dim=[1, 2, 3]) - fraction).abs().max() < 0.01


def test_sigterm_ends_the_loop_with_a_checkpoint(tmp_path):
    import os
    import signal

    from server.training.runs import train_loop

    class Trainer:
        step, wall_seconds, saved_at = 0, 0.0, None

        def train_step(self):
            self.step += 1
            if self.step == 3:
                os.kill(os.getpid(), signal.SIGTERM)
            return {}

        def save(self):
            self.saved_at = self.step

    trainer = Trainer()
    previous = signal.getsignal(signal.SIGTERM)
    train_loop(trainer, lambda: trainer.step >= 1000, tmp_path / "log.jsonl", log_every=1, hours=None,
               checkpoint_minutes=60)
    assert trainer.saved_at == 3
    assert signal.getsignal(signal.SIGTERM) is previous
