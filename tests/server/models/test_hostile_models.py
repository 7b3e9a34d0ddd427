"""A hostile `--models-dir` (issue 24, item 3): zip bombs, FIFOs, weights outside their folder, names
that are not UTF-8. Each makes its model unavailable with a reason, never the server; the cases are
built by tests/support/hostile_models.py, which also measures a server started on them."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import pytest
import torch

from server.models import load_model
from server.models.torch_files import load_torch_file
from tests.support.engine import peak_rss_growth
from tests.support.hostile_models import (
    NOT_UTF8,
    build_cases,
    deflated_zeros,
    fifo_weights,
    measure,
    npz_bomb,
    nvidia_bomb,
    save_tiny,
    torch_bomb,
    weights_elsewhere,
    zip_bytes,
)
from tests.support.paths import REPO

BOMB = 256 << 20  # inflated; today's readers take all of it
MAX_GROWTH = 64 << 20


def _refused_within_bounds(load, match: str) -> None:
    def attempt():
        with pytest.raises(ValueError, match=match):
            load()
    assert peak_rss_growth(attempt) < MAX_GROWTH


@pytest.mark.parametrize("declared", [16, BOMB], ids=["pickle_declares_16_bytes", "pickle_declares_it_all"])
def test_zip_bomb_pt_is_refused_before_it_inflates(tmp_path, declared):
    path = tmp_path / "bomb.pt"
    path.write_bytes(torch_bomb(BOMB, declared))
    assert path.stat().st_size < BOMB / 500
    _refused_within_bounds(lambda: load_model(path), "would inflate")


def test_zip_bomb_inside_an_nvidia_pickle_is_refused_before_it_inflates(tmp_path):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(nvidia_bomb(BOMB))
    _refused_within_bounds(lambda: load_model(path), "would inflate")


def test_a_checkpoint_zipped_again_with_deflate_still_loads(tmp_path):
    state = {"w": torch.randn(64, 64), "zeros": torch.zeros(1000), "step": 3}
    saved = io.BytesIO()
    torch.save(state, saved)
    stored = zipfile.ZipFile(saved)
    path = tmp_path / "deflated.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in stored.infolist():
            out.writestr(member.filename, stored.read(member))
    loaded = load_torch_file(path, "test file")
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 3


@pytest.mark.parametrize("member", ["data.pkl", "version"])
def test_records_other_than_storages_are_bounded(member):
    from server.models.archive_bounds import MAX_RECORD_BYTES, check_torch_archive

    size = MAX_RECORD_BYTES + (1 << 20)
    bomb = zip_bytes([("archive/" + member, deflated_zeros(size), size),  # stored padding keeps the total in bounds
                      ("archive/data/unused", bytes(size), size)])
    with pytest.raises(ValueError, match=f"archive/{member} would inflate"):
        check_torch_archive(io.BytesIO(bomb), "test")


def test_two_members_of_one_name_are_refused():
    from server.models.archive_bounds import check_torch_archive

    twice = zip_bytes([("archive/data.pkl", b"x", 1), ("archive/data.pkl", b"y", 1)])
    with pytest.raises(ValueError, match="two members of the same name"):
        check_torch_archive(io.BytesIO(twice), "test")


def test_fifo_weights_make_the_model_unavailable_without_blocking(tmp_path):
    """In a child process: a loader blocked opening a FIFO holds the GIL, so no thread could end it."""
    folder = fifo_weights(tmp_path / "fifo")
    load = f"from server.models import load_model\nload_model({str(folder)!r})"
    try:
        child = subprocess.run([sys.executable, "-c", load], cwd=REPO, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("loading a model whose weights file is a FIFO blocked")
    assert "ValueError" in child.stderr and "is a FIFO" in child.stderr, child.stderr[-2000:]


@pytest.mark.parametrize("special", ["/dev/null", "."])
def test_only_regular_files_are_opened(special):
    from server.models.untrusted_files import open_regular

    with pytest.raises(ValueError, match="only regular files"):
        open_regular(special)


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_weights_outside_the_model_folder_are_refused(tmp_path, how):
    folder = weights_elsewhere(tmp_path / "models" / how, save_tiny(tmp_path / "outside"), how)
    with pytest.raises(ValueError, match="leads outside the model folder"):
        load_model(folder)


def test_a_symlink_inside_the_model_folder_is_followed(tmp_path):
    folder = save_tiny(tmp_path / "model")
    (folder / "weights.safetensors").rename(folder / "real.safetensors")
    (folder / "weights.safetensors").symlink_to("real.safetensors")
    assert load_model(folder).generator is not None


def test_printable_escapes_only_what_is_not_utf8():
    from server.models.untrusted_files import printable

    assert printable("café ✓") == "café ✓"
    assert printable(NOT_UTF8) == "caf\\xe9"
    assert printable("a\ud800b") == "a\\ud800b"


def test_a_card_with_a_lone_surrogate_is_refused(tmp_path):
    folder = save_tiny(tmp_path / "model")
    card = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(card).replace('"tiny test model"', '"tiny \\ud800"'))
    with pytest.raises(ValueError, match="lone surrogate"):
        load_model(folder)


def test_a_hostile_models_dir_lists_every_model(tmp_path):
    """Catalog and ListModels conversion: the non-UTF-8 folder is served under its escaped name,
    every hostile entry is unavailable with a reason, and every entry fits a protobuf."""
    from server.rpc.catalog import Catalog
    from server.rpc.convert import model_info_to_proto

    names = ["weights_absolute_path", "weights_dotdot_path", "weights_symlink_outside", "non_utf8_folder_name"]
    models_dir = build_cases(tmp_path, names)["all"]
    catalog = Catalog.load(save_tiny(tmp_path / "default"), models_dir, "cpu")
    for entry in catalog.entries.values():
        model_info_to_proto(entry, False).SerializeToString()
    available = {name for name, entry in catalog.entries.items() if entry.model is not None}
    assert available == {"default", "caf\\xe9"}
    assert catalog.get("caf\\xe9")[1].generator is not None
    for entry in catalog.entries.values():
        assert entry.model is not None or entry.error


def test_direction_names_are_printable(tmp_path):
    from server.models.direction_files import read_direction_files

    g = load_model(save_tiny(tmp_path / "model")).generator
    folder = tmp_path / "directions"
    folder.mkdir()
    torch.save(torch.randn(g.w_dim), folder / (NOT_UTF8 + ".pt"))
    directions = read_direction_files([folder], g, lambda: torch.randn(100, g.w_dim))
    assert [d.name for d in directions] == ["caf\\xe9"]
    assert "caf\\xe9" in directions[0].description


def test_a_direction_set_in_a_folder_named_in_latin1_loads(tmp_path):
    from server.models.directions import Direction, load_directions, save_directions

    path = tmp_path / NOT_UTF8 / "directions.safetensors"
    saved = [Direction("smile", "supervised", torch.randn(8), 1.5, 0, 4, "a test direction")]
    save_directions(path, saved)
    loaded = load_directions(path)
    assert [d.name for d in loaded] == ["smile"] and torch.equal(loaded[0].vector, saved[0].vector)


def test_a_zip_bomb_npz_direction_file_is_skipped_before_it_inflates(tmp_path):
    from server.models.direction_files import read_direction_files

    g = load_model(save_tiny(tmp_path / "model")).generator
    folder = tmp_path / "directions"
    folder.mkdir()
    (folder / "bomb.npz").write_bytes(npz_bomb(BOMB))
    found = []
    assert peak_rss_growth(lambda: found.extend(read_direction_files([folder], g, lambda: None))) < MAX_GROWTH
    assert found == []


def test_a_server_on_a_hostile_models_dir_listens_and_lists(tmp_path):
    """The issue's targets, on its own bombs (1 MB -> 1 GiB, 3 MB -> 3 GiB): listening within 30 s,
    peak RSS <= 1 GiB, ListModels OK."""
    result = measure(build_cases(tmp_path)["all"], REPO, startup_seconds=30)
    assert result["listening_s"] is not None, result
    assert result["peak_mb"] <= 1024, result
    assert result["list_models"].startswith("OK: "), result
    assert "caf\\xe9 available" in result["list_models"]
    assert result["list_models"].count("unavailable") == 7, result
