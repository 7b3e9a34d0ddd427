"""`python -m server.training.train_regressor`: a regressor for any checkpoint, as a servable model folder.

The command runs a few iterations on every conformance checkpoint (rosinality, NVIDIA, StyleMapGAN) and
on an NVIDIA snapshot it has never seen (z_dim != w_dim), resumes, and the results are served over
gRPC with a regressor. The rest: the size rule, the batch's input kinds, fine-tuning, Ctrl-C, refusals,
bfloat16 autocast (on the CPU here), the progress bar.
"""
from __future__ import annotations

import io
import json
import shutil

import pytest
import torch

from server.models import load_model
from server.models.own_format import save_model
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.training import train_regressor
from server.training.collage_inputs import KINDS
from server.training.progress import TrainingBar, duration
from server.training.regressor_eval import EVAL_KINDS
from server.training.regressor_nets import wplus_shape
from server.training.regressor_trainer import RegressorConfig, RegressorTrainer
from tests.support import nvidia_pickles as fx
from tests.support.models import make_tiny_model
from tests.support.paths import conformance_file
from tests.support.pictures import write_pictures
from tests.support.servers import canvas, serving

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--batch", "2", "--eval-images", "2", "--collage-fraction", "0.5", "--threads", "1"]


def train(model, out, iterations: int = 2, *extra: str) -> dict:
    """Run the command; the card it wrote."""
    assert train_regressor.main(["--model", str(model), "--out", str(out), "--iterations", str(iterations),
                                 *TINY, *extra]) == 0
    return json.loads((out / "model.json").read_text())


def steps_in_checkpoint(out) -> int:
    return torch.load(out / "training" / "checkpoint.pt", weights_only=True)["step"]


# -- on checkpoints the project has not made -------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict:
    """name -> a checkpoint file: the conformance files and an NVIDIA snapshot with z_dim 32, w_dim 64."""
    root = tmp_path_factory.mktemp("checkpoints")
    files = {name: conformance_file(f) for name, f in
             (("ros", "rosinality_s32.pt"), ("ada", "nvidia_r32.pkl"), ("smgan", "stylemapgan_s32.pt"))}
    fx.write_z_dim_snapshot(root / "zdim.pkl", z_dim=32, source=files["ada"])
    files["zdim"] = root / "zdim.pkl"
    return files


@pytest.fixture(scope="module")
def trained(checkpoints, tmp_path_factory) -> tuple:
    """(the models dir holding a trained folder per checkpoint, their cards)."""
    models_dir = tmp_path_factory.mktemp("trained")
    cards = {name: train(path, models_dir / name) for name, path in checkpoints.items()}
    return models_dir, cards


def test_cards_record_the_training_and_the_evaluation(trained, checkpoints):
    models_dir, cards = trained
    for name, card in cards.items():
        record = card["training"]["regressor"]
        assert (record["iterations"], record["images"], record["complete"], record["stopped"]) == (2, 4, True, "done")
        assert record["config"]["collage_fraction"] == 0.5 and record["config"]["collage_kinds"] == list(KINDS)
        psnr = record["evaluation"]["psnr_db"]
        assert set(psnr) == set(EVAL_KINDS) and all(5 < db < 60 for db in psnr.values())
        assert card["name"] == name and card["source"]["file"] == checkpoints[name].name
        assert (models_dir / name / "training" / "reconstructions.png").exists()
    assert cards["smgan"]["family"] == "stylemapgan"
    assert cards["smgan"]["training"]["regressor"]["initialised_from"] == "checkpoint"
    assert cards["smgan"]["training"]["regressor"]["evaluation_at_start"]["psnr_db"].keys() == set(EVAL_KINDS)
    assert cards["ada"]["discriminator"] is not None and cards["ros"]["discriminator"] is None
    assert cards["zdim"]["z_dim"] == 32 and cards["zdim"]["w_dim"] == 64


def test_a_new_wplus_regressor_follows_the_size_rule(trained):
    models_dir, cards = trained
    r = load_model(models_dir / "zdim").regressor
    assert (r.input_size, list(r.widths), list(r.block_counts)) == (32, [16, 32, 64, 128], [2, 2, 2, 2])
    assert r.latent_shape == (8, 64) and r.has_w_avg


def test_running_again_resumes(trained, checkpoints):
    models_dir, _ = trained
    out = models_dir / "ada"
    before = load_model(out).regressor.state_dict()
    card = train(checkpoints["ada"], out, 3)
    assert steps_in_checkpoint(out) == 3 and card["training"]["regressor"]["iterations"] == 3
    after = load_model(out).regressor.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_the_trained_models_are_served_with_their_regressor(trained, model_paths):
    from server.rpc.catalog import Catalog

    models_dir, cards = trained
    catalog = Catalog.load(model_paths[0], models_dir, "cpu")
    with serving(catalog) as served:
        models = {m.name: m for m in served.stub.ListModels(pb.ListModelsRequest()).models}
        for name, card in cards.items():
            assert models[name].available and models[name].has_regressor, models[name]
            request = pb.RealizeRequest(model=name, canvas=canvas(), skip_layer=True,
                                        options=pb.ProjectionOptions(method=pb.METHOD_REGRESSOR))
            result = served.realize(request)[-1].result
            assert result.latent.model == name and list(result.latent.shape) == card["latent_shape"]


# -- fine-tuning, stopping, refusals ----------------------------------------------------------------

@pytest.fixture
def tiny_folder(tmp_path):
    """The tiny random model (with a regressor) as a float16 model folder with a training record."""
    tiny = make_tiny_model(32)
    save_model(tmp_path / "tiny", tiny.generator, tiny.discriminator, tiny.regressor, name="tiny",
               extra={"training": {"gan": {"iterations": 7}}}, dtype=torch.float16)
    return tmp_path / "tiny"


def test_a_checkpoint_with_a_regressor_is_fine_tuned(tiny_folder, tmp_path):
    card = train(tiny_folder, tmp_path / "out")
    record = card["training"]["regressor"]
    assert record["initialised_from"] == "checkpoint" and record["evaluation_at_start"] is not None
    assert card["weights"]["dtype"] == "float16" and card["training"]["gan"] == {"iterations": 7}
    assert card["regressor"] == load_model(tiny_folder).card["regressor"]  # its own architecture
    scratch = train(tiny_folder, tmp_path / "scratch", 2, "--from-scratch")["training"]["regressor"]
    assert scratch["initialised_from"] == "new" and scratch["evaluation_at_start"] is None


def test_ctrl_c_checkpoints_and_leaves_a_servable_folder(tiny_folder, tmp_path, monkeypatch):
    step = RegressorTrainer.train_step

    def interrupted_after_two(self):
        if self.step == 2:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(RegressorTrainer, "train_step", interrupted_after_two)
    out = tmp_path / "out"
    record = train(tiny_folder, out, 50)["training"]["regressor"]
    stop = (record["iterations"], record["stopped"], record["complete"], record["evaluation"])
    assert stop == (2, "interrupted", False, None)
    assert steps_in_checkpoint(out) == 2 and load_model(out).regressor is not None
    monkeypatch.setattr(RegressorTrainer, "train_step", step)
    record = train(tiny_folder, out, 4)["training"]["regressor"]
    assert (record["iterations"], record["stopped"]) == (4, "done") and record["evaluation"] is not None
    assert record["evaluation_at_start"] is not None  # measured when the run began, kept


def test_real_images_train_beside_samples_and_are_evaluated(tiny_folder, tmp_path, capsys):
    write_pictures(tmp_path / "photos", 20)
    (tmp_path / "photos" / "zz-broken.png").write_bytes(b"\x89PNG broken")  # sorts last: held out
    out = tmp_path / "out"
    record = train(tiny_folder, out, 2, "--images", str(tmp_path / "photos"))["training"]["regressor"]
    assert f"skipped 1 pictures that could not be read: {tmp_path / 'photos' / 'zz-broken.png'}" \
        in capsys.readouterr().out
    assert record["config"]["images"] == str((tmp_path / "photos").resolve())
    assert record["config"]["real_fraction"] == 0.5
    for key in ("evaluation", "evaluation_at_start", "evaluation_on_images", "evaluation_on_images_at_start"):
        assert set(record[key]["psnr_db"]) == set(EVAL_KINDS), key
    assert record["evaluation_on_images"]["images"] == 1 and "photos" in record["evaluation_on_images"]["source"]
    record = train(tiny_folder, out, 3)["training"]["regressor"]  # resumes with the run's images
    assert record["iterations"] == 3 and record["evaluation_on_images"] is not None
    with pytest.raises(SystemExit, match="images"):
        train(tiny_folder, out, 4, "--images", str(tmp_path))
    with pytest.raises(SystemExit, match="--images: .*photoz: --images takes a folder of pictures"):
        train(tiny_folder, tmp_path / "typo", 2, "--images", str(tmp_path / "photoz"))
    assert train(tiny_folder, tmp_path / "typo", 2, "--images", str(tmp_path / "photos"))  # the retry starts anew
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="holds 0 images; training needs at least 8"):
        train(tiny_folder, tmp_path / "none", 2, "--images", str(tmp_path / "empty"))


def test_refusals(tiny_folder, tmp_path):
    with pytest.raises(SystemExit, match="not the checkpoint's own"):
        train(tiny_folder, tiny_folder)
    foreign = tmp_path / "foreign"
    shutil.copytree(tiny_folder, foreign)
    with pytest.raises(SystemExit, match="did not make"):
        train(tiny_folder, foreign)
    train(tiny_folder, tmp_path / "out")
    with pytest.raises(SystemExit, match=r"batch 2 \(asked 4\)"):
        train_regressor.main(["--model", str(tiny_folder), "--out", str(tmp_path / "out"), "--batch", "4"])
    with pytest.raises(SystemExit):
        train_regressor.main(["--model", str(tiny_folder), "--out", str(tmp_path / "x"), "--collage-kinds", "glue"])


# -- the pieces ------------------------------------------------------------------------------------

def test_size_rule():
    assert wplus_shape(1024) == {"input_size": 256, "block_counts": [3, 4, 6, 3], "widths": [64, 128, 256, 512]}
    assert wplus_shape(256) == wplus_shape(1024)
    assert wplus_shape(64) == {"input_size": 64, "block_counts": [2, 2, 2, 2], "widths": [32, 64, 128, 256]}
    assert wplus_shape(32)["widths"] == [16, 32, 64, 128]
    assert RegressorConfig(widths=[8, 8, 16, 16]).wplus_shape(64)["widths"] == [8, 8, 16, 16]
    with pytest.raises(ValueError, match="unknown collage kinds"):
        RegressorConfig(collage_kinds=["glue"])


def tiny_trainer(tmp_path, amp: bool = False, **config) -> RegressorTrainer:
    model = make_tiny_model(32)
    cfg = RegressorConfig(batch=4, **config)
    return RegressorTrainer(cfg, model, model.regressor, "checkpoint", tmp_path, torch.device("cpu"), amp=amp)


def test_batches_mix_masked_samples_and_collages(tmp_path):
    trainer = tiny_trainer(tmp_path, collage_fraction=0.5, collage_kinds=["pieces"], full_mask_fraction=0.0)
    b = trainer.make_batch(8, torch.Generator().manual_seed(0))
    assert b.knows_latent.tolist() == [True] * 4 + [False] * 4  # pieces: the target is the collage
    assert (b.visible[:4] < 1).any() and (b.visible[4:] == 1).all()
    assert torch.equal(b.inputs[:4], b.targets[:4] * b.visible[:4]) and torch.equal(b.inputs[4:], b.targets[4:])
    again = trainer.make_batch(8, torch.Generator().manual_seed(0))
    assert torch.equal(again.inputs, b.inputs)
    plain = tiny_trainer(tmp_path, collage_fraction=0.5, collage_kinds=[]).make_batch(4, torch.Generator())
    assert plain.knows_latent.all()


def test_real_images_fill_the_last_part_of_a_batch_without_a_latent(tmp_path):
    write_pictures(tmp_path / "photos", 10)
    trainer = tiny_trainer(tmp_path, collage_fraction=0.5, collage_kinds=["holes"], full_mask_fraction=0.0,
                           images=str(tmp_path / "photos"), real_fraction=0.5)
    b = trainer.make_batch(8, torch.Generator().manual_seed(0))
    assert b.knows_latent.tolist() == [True] * 4 + [False] * 4  # holes know a sample's latent, not a photo's
    assert b.latents.shape[0] == 8 and not b.latents[4:].any()
    flat = b.targets[4:].flatten(2).std(dim=2)  # the photos are flat colours, the samples are not
    assert (flat < 0.02).all() and (b.targets[:4].flatten(2).std(dim=2) > 0.02).any()
    only = tiny_trainer(tmp_path, images=str(tmp_path / "photos"), real_fraction=1.0).make_batch(4, torch.Generator())
    assert only.inputs.shape[0] == 4 and not only.knows_latent.any()
    with pytest.raises(ValueError, match="real_fraction"):
        RegressorConfig(real_fraction=1.5)


def test_a_step_under_bfloat16_autocast(tmp_path):
    trainer = tiny_trainer(tmp_path, amp=True, collage_fraction=0.5)
    before = {k: v.clone() for k, v in trainer.R.state_dict().items()}
    trainer.try_batch(2)  # changes nothing
    assert all(torch.equal(before[k], v) for k, v in trainer.R.state_dict().items())
    logs = trainer.train_step()
    assert {"pixel", "latent", "perceptual", "loss"} <= logs.keys() and all(v == v for v in logs.values())
    assert trainer.R.conv1.weight.dtype == torch.float32 and trainer.step == 1


def test_progress_bar():
    stream = io.StringIO()
    bar = TrainingBar(total=10, start=4, batch=8, every=2, stream=stream)
    for step in range(5, 11):
        bar.update(step, {"loss": 0.5, "pixel": 0.25})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("step 10/10 [####################]")
    assert "img/s" in lines[0] and "loss 0.5 pixel 0.25" in lines[0] and "ETA 0:00:00" in lines[-1]
    assert duration(3723) == "1:02:03" and duration(float("nan")) == "?"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (batch fitting, bfloat16, channels-last)")
def test_on_cuda_the_batch_fits_the_card(tiny_folder, tmp_path):
    out = tmp_path / "out"
    train_regressor.main(["--model", str(tiny_folder), "--out", str(out), "--iterations", "2", "--device", "cuda",
                          "--eval-images", "4"])
    record = json.loads((out / "model.json").read_text())["training"]["regressor"]
    assert record["config"]["batch"] == 32 and record["device"].startswith("cuda")
