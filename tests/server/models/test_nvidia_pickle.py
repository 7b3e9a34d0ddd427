"""The restricted NVIDIA snapshot reader: loads real and fixture snapshots, never runs their code."""
from __future__ import annotations

import builtins
import collections
import hashlib
import math
import pickle
import re
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch

from server.models import nvidia_pickle
from server.models.nvidia_pickle import (
    EasyDict,
    PersistentRecord,
    UnsafePickleError,
    network_spec,
    read_nvidia_snapshot,
)
from tests.support import nvidia_pickles as fx
from tests.support.paths import CONFORMANCE

PKL = CONFORMANCE / "nvidia_r32.pkl"
NPZ = CONFORMANCE / "nvidia_r32.npz"
needs_conformance = pytest.mark.skipif(
    not (PKL.exists() and NPZ.exists()),
    reason=f"shared conformance files not found in {CONFORMANCE} (nvidia_r32.pkl/.npz)")


def expected_generator_keys(resolutions, num_mapping_layers, c_dim=0):
    """state_dict names of NVIDIA's Generator (skip architecture), in torch's order."""
    keys = []
    fc = lambda p: [f"{p}.weight", f"{p}.bias"]  # noqa: E731
    layer = lambda p, r: ([f"{p}.weight", f"{p}.noise_strength", f"{p}.bias", f"{p}.resample_filter",  # noqa: E731
                           f"{p}.noise_const"] + fc(f"{p}.affine"))
    torgb = lambda p: [f"{p}.weight", f"{p}.bias"] + fc(f"{p}.affine")  # noqa: E731
    for r in resolutions:
        b = f"synthesis.b{r}"
        keys += ([f"{b}.const"] if r == 4 else []) + [f"{b}.resample_filter"]
        keys += ([] if r == 4 else layer(f"{b}.conv0", r)) + layer(f"{b}.conv1", r) + torgb(f"{b}.torgb")
    keys.append("mapping.w_avg")
    keys += fc("mapping.embed") if c_dim else []
    for i in range(num_mapping_layers):
        keys += fc(f"mapping.fc{i}")
    return keys


@pytest.fixture(scope="module")
def conformance():
    if not PKL.exists():
        pytest.skip(f"shared conformance file not found at {PKL}")
    return read_nvidia_snapshot(PKL)


# ---------- the real snapshot ----------

@needs_conformance
def test_conformance_snapshot_structure(conformance):
    assert set(conformance) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}
    assert conformance["augment_pipe"] is None
    assert conformance["training_set_kwargs"]["resolution"] == 32
    g = conformance["G_ema"]
    assert isinstance(g, PersistentRecord) and g.class_name == "Generator"
    assert conformance["D"].class_name == "Discriminator"
    assert g.module_src_sha256 == conformance["G"].module_src_sha256  # same networks.py
    assert re.fullmatch(r"[0-9a-f]{64}", g.module_src_sha256)
    assert not hasattr(g, "module_src") and "module_src" not in vars(g)
    assert g.init_args == ()
    kw = g.init_kwargs
    assert (kw["z_dim"], kw["w_dim"], kw["c_dim"], kw["img_resolution"], kw["img_channels"]) == (64, 64, 0, 32, 3)
    assert kw["mapping_kwargs"] == {"num_layers": 2} and type(kw["mapping_kwargs"]) is dict
    assert kw["synthesis_kwargs"] == {"channel_base": 512, "channel_max": 64, "num_fp16_res": 4, "conv_clamp": 256}
    assert type(kw["synthesis_kwargs"]) is dict
    assert isinstance(g.state["_init_kwargs"]["mapping_kwargs"], EasyDict)  # raw state keeps EasyDict
    assert list(g.children()) == ["synthesis", "mapping"]
    assert g.children()["mapping"].init_kwargs == {"z_dim": 64, "c_dim": 0, "w_dim": 64, "num_ws": 8, "num_layers": 2}
    assert g.state["num_ws"] == 8
    fc0 = g.children()["mapping"].children()["fc0"]
    assert fc0.class_name == "FullyConnectedLayer" and fc0.init_args == (64, 64)
    assert isinstance(fc0.state["weight_gain"], np.float64) and fc0.state["weight_gain"] == pytest.approx(0.01 / 8)


@needs_conformance
def test_conformance_state_dict_names_and_shapes(conformance):
    ref = np.load(NPZ)
    ch = {int(r): int(c) for r, c in ref["channels"]}
    sd = conformance["G_ema"].state_dict()
    assert list(sd) == expected_generator_keys([4, 8, 16, 32], 2)
    assert list(conformance["G"].state_dict()) == list(sd)
    assert sd["synthesis.b4.const"].shape == (ch[4], 4, 4)
    assert sd["synthesis.b32.torgb.affine.weight"].shape == (ch[32], 64)
    assert sd["synthesis.b32.conv0.weight"].shape == (ch[32], ch[16], 3, 3)
    assert sd["synthesis.b16.conv1.noise_const"].shape == (16, 16)
    assert sd["synthesis.b8.conv0.noise_strength"].shape == ()
    assert sd["mapping.fc0.weight"].shape == (64, 64) and sd["mapping.w_avg"].shape == (64,)
    for name, t in sd.items():
        assert type(t) is torch.Tensor and not t.requires_grad and t.dtype == torch.float32, name
    d = conformance["D"].state_dict()
    assert "b32.fromrgb.weight" in d and "b4.out.bias" in d


def _mapping(record, z):
    """NVIDIA MappingNetwork.forward (c_dim 0, psi 1) from the record's tensors and attributes."""
    x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
    for i in range(record.state["num_layers"]):
        fc = record.children()[f"fc{i}"]
        w, b = fc.state["_parameters"]["weight"], fc.state["_parameters"]["bias"]
        x = x @ (w * float(fc.state["weight_gain"])).t() + b * fc.state["bias_gain"]
        x = torch.nn.functional.leaky_relu(x, 0.2) * math.sqrt(2)
    return x


@needs_conformance
def test_conformance_tensor_values(conformance):
    ref = np.load(NPZ)
    g, g_train = conformance["G_ema"], conformance["G"]
    sd = g.state_dict()
    np.testing.assert_array_equal(sd["mapping.w_avg"].numpy(), ref["w_avg"])
    w = _mapping(g.children()["mapping"], torch.from_numpy(ref["z"])).detach()
    np.testing.assert_allclose(w.numpy(), ref["ws_psi1"][:, 0], atol=1e-5)
    truncated = sd["mapping.w_avg"].lerp(w[:, None].expand(-1, 8, -1), 0.7)
    np.testing.assert_allclose(truncated.numpy(), ref["ws_psi07"], atol=1e-5)
    # G (training weights) and G_ema differ, but share structure
    sd_train = g_train.state_dict()
    assert not torch.equal(sd["synthesis.b4.const"], sd_train["synthesis.b4.const"])
    assert not torch.equal(sd["mapping.fc0.weight"], sd_train["mapping.fc0.weight"])
    # buffers that are not trained are equal in both
    assert torch.equal(sd["synthesis.b4.resample_filter"], sd_train["synthesis.b4.resample_filter"])
    assert torch.allclose(sd["synthesis.b4.resample_filter"].sum(), torch.tensor(1.0))


@needs_conformance
def test_network_spec(conformance):
    name, kwargs, sd = network_spec(conformance["G_ema"])
    assert name == "Generator" and kwargs["z_dim"] == 64 and "mapping.fc1.bias" in sd
    with pytest.raises(TypeError):
        network_spec({"not": "a record"})


@needs_conformance
def test_loading_compiles_and_imports_nothing(tmp_path, monkeypatch):
    path, src = fx.write_module_src_snapshot(tmp_path / "src.pkl", tmp_path / "marker")
    read_nvidia_snapshot(PKL)  # warm up any lazy imports inside torch.load
    calls = []
    for fname in ("exec", "eval", "compile", "__import__"):
        orig = getattr(builtins, fname)

        def spy(*args, _orig=orig, _name=fname, **kwargs):
            calls.append((_name, args[0] if args else None))
            return _orig(*args, **kwargs)
        monkeypatch.setattr(builtins, fname, spy)
    read_nvidia_snapshot(PKL)
    read_nvidia_snapshot(path)
    monkeypatch.undo()
    assert [c for c in calls if c[0] != "__import__"] == []
    imported = {c[1] for c in calls if c[0] == "__import__"}
    assert not imported & {"torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "os", "subprocess"}
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    assert not (tmp_path / "marker").exists()


# ---------- fixture snapshots ----------

@needs_conformance
@pytest.mark.parametrize("c_dim", [1, 3])
def test_conditional_snapshot(tmp_path, conformance, c_dim):
    written = fx.write_conditional_snapshot(tmp_path / "cond.pkl", c_dim=c_dim, source=conformance)
    snap = read_nvidia_snapshot(tmp_path / "cond.pkl")
    assert snap["D"] is None and snap["training_set_kwargs"]["use_labels"] is True
    g = snap["G_ema"]
    assert g.init_kwargs["c_dim"] == c_dim and g.state["c_dim"] == c_dim
    mapping = g.children()["mapping"]
    assert mapping.init_kwargs["c_dim"] == c_dim and list(mapping.children()) == ["embed", "fc0", "fc1"]
    sd = g.state_dict()
    assert list(sd) == expected_generator_keys([4, 8, 16, 32], 2, c_dim=c_dim)
    assert sd["mapping.embed.weight"].shape == (64, c_dim) and sd["mapping.embed.bias"].shape == (64,)
    assert sd["mapping.fc0.weight"].shape == (64, 64 + 64)
    assert mapping.children()["fc0"].init_args == (128, 64)
    assert mapping.children()["embed"].init_args == (c_dim, 64)
    assert float(mapping.children()["embed"].state["weight_gain"]) == pytest.approx(1 / math.sqrt(c_dim))
    for k, t in written["G_ema"].state_dict().items():
        assert torch.equal(sd[k], t), k
    assert not torch.equal(sd["mapping.embed.weight"], snap["G"].state_dict()["mapping.embed.weight"])
    # synthesis is untouched
    assert torch.equal(sd["synthesis.b4.const"], conformance["G_ema"].state_dict()["synthesis.b4.const"])


@needs_conformance
def test_augment_pipe_snapshot(tmp_path, conformance):
    fx.write_augment_snapshot(tmp_path / "aug.pkl", p=0.3, source=conformance)
    snap = read_nvidia_snapshot(tmp_path / "aug.pkl")
    pipe = snap["augment_pipe"]
    assert isinstance(pipe, PersistentRecord) and pipe.class_name == "AugmentPipe"
    sd = pipe.state_dict()
    assert list(sd) == ["p", "Hz_geo", "Hz_fbank"]
    assert sd["p"].shape == () and sd["p"].item() == pytest.approx(0.3)
    assert pipe.init_kwargs == fx.AUGMENT_BGC
    assert pipe.state["xflip"] == 1.0 and pipe.state["xint_max"] == 0.125 and pipe.state["noise"] == 0.0
    assert list(snap["G_ema"].state_dict()) == list(conformance["G_ema"].state_dict())


@needs_conformance
@pytest.mark.parametrize("numpy_core", ["numpy.core", "numpy._core"])
def test_numpy_scalar_spellings(tmp_path, conformance, numpy_core):
    path = tmp_path / "np.pkl"
    fx.write_numpy_scalar_snapshot(path, numpy_core, source=conformance)
    raw = path.read_bytes()
    other = "numpy._core" if numpy_core == "numpy.core" else "numpy.core."
    assert f"{numpy_core}.multiarray".encode() in raw and other.encode() not in raw
    snap = read_nvidia_snapshot(path)
    tsk = snap["training_set_kwargs"]
    assert type(tsk["max_size"]) is np.int64 and tsk["max_size"] == 1000
    assert type(tsk["mirror_p"]) is np.float32 and tsk["mirror_p"] == 0.5
    fc0 = snap["G_ema"].children()["mapping"].children()["fc0"]
    assert type(fc0.state["weight_gain"]) is np.float64 and fc0.state["weight_gain"] == pytest.approx(0.00125)


@needs_conformance
@pytest.mark.parametrize("style,protocol", [("torch1", 3), ("torch1", 4), ("torch2", 4), ("torch2", 3)])
def test_torch_module_styles(tmp_path, conformance, style, protocol):
    path = tmp_path / f"{style}.pkl"
    fx.write_torch_style_snapshot(path, style, source=conformance, protocol=protocol)
    snap = read_nvidia_snapshot(path)
    g = snap["G_ema"]
    torch_keys = {k for k in g.state if k not in {"_init_args", "_init_kwargs"} and k.startswith("_")}
    expected = set(fx.TORCH1_KEYS if style == "torch1" else fx.TORCH2_KEYS) - {"training"}
    assert torch_keys == expected
    assert ("_non_persistent_buffers_set" in g.state) == (style == "torch2")
    ref = conformance["G_ema"].state_dict()
    sd = g.state_dict()
    assert list(sd) == list(ref)
    assert all(torch.equal(sd[k], ref[k]) for k in ref)
    assert g.init_kwargs == conformance["G_ema"].init_kwargs
    if style == "torch2" and protocol == 3:
        assert b"builtins\nset\n" in path.read_bytes()


@pytest.mark.parametrize("style", ["torch1", "torch2"])
def test_tiny_snapshot_self_contained(tmp_path, style):
    written = fx.tiny_snapshot(style)
    fx.write_pickle(tmp_path / "tiny.pkl", written)
    snap = read_nvidia_snapshot(tmp_path / "tiny.pkl")
    g = snap["G_ema"]
    assert snap["G"] is g  # memoised: the same object twice stays one record
    name, kwargs, sd = network_spec(g)
    assert name == "Generator" and kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert list(sd) == ["mapping.w_avg", "mapping.fc0.weight", "mapping.fc0.bias",
                        "mapping.fc1.weight", "mapping.fc1.bias", "layers.0.weight", "layers.0.bias"]
    if style == "torch2":  # registered but non-persistent: not in state_dict, still in state
        assert "scratch" in g.children()["mapping"].state["_buffers"]
    layers = g.children()["layers"]
    assert isinstance(layers, PersistentRecord) and layers.module_src_sha256 is None
    assert layers.class_name == "torch.nn.modules.container.ModuleList"
    for k, t in written["G_ema"].state_dict().items():
        assert torch.equal(sd[k], t)
    assert type(snap["training_set_kwargs"]["xflip"]) is np.bool_


def test_numpy_arrays_in_kwargs(tmp_path):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    for protocol in (4, 5):
        snap = fx.tiny_snapshot()
        g = snap["G_ema"]
        snap["G_ema"] = fx.with_state(g, _init_kwargs={**g.state["_init_kwargs"], "arr": arr, "fortran": arr.T})
        fx.write_pickle(tmp_path / "arr.pkl", snap, protocol=protocol)
        kw = read_nvidia_snapshot(tmp_path / "arr.pkl")["G_ema"].init_kwargs
        assert type(kw["arr"]) is np.ndarray and kw["arr"].dtype == np.float32
        np.testing.assert_array_equal(kw["arr"], arr)
        np.testing.assert_array_equal(kw["fortran"], arr.T)


def test_parameter_with_state_drops_the_state(tmp_path):
    rebuild = fx.GlobalRef("torch._utils", "_rebuild_parameter_with_state")
    param = fx.Call(rebuild, torch.arange(3.0), False, collections.OrderedDict(), {"_is_hooked": True})
    snap = fx.tiny_snapshot()
    fc = snap["G_ema"].children()["mapping"].children()["fc0"]
    fc.state["_parameters"]["extra"] = param
    fx.write_pickle(tmp_path / "pws.pkl", snap)
    loaded = read_nvidia_snapshot(tmp_path / "pws.pkl")["G_ema"]
    extra = loaded.children()["mapping"].children()["fc0"].state["_parameters"]["extra"]
    assert isinstance(extra, torch.nn.Parameter) and not hasattr(extra, "_is_hooked")
    assert torch.equal(loaded.state_dict()["mapping.fc0.extra"], torch.arange(3.0))


# ---------- hostile and broken files ----------

@pytest.mark.parametrize("kind", fx.EVIL_KINDS)
@pytest.mark.parametrize("nested", [False, True])
def test_hostile_globals_refused(tmp_path, kind, nested):
    marker = tmp_path / f"marker-{kind}"
    path = fx.write_evil_pickle(tmp_path / "evil.pkl", kind, marker, nested=nested)
    with pytest.raises(UnsafePickleError, match=re.escape(f"refusing global '{kind}' in evil.pkl")) as info:
        read_nvidia_snapshot(path)
    assert "allow-list" in str(info.value)
    assert not marker.exists()
    with open(path, "rb") as f:  # the bare unpickler refuses the same way
        with pytest.raises(UnsafePickleError, match=re.escape(f"'{kind}'")):
            nvidia_pickle.RestrictedUnpickler(f).load()
    assert not marker.exists()


def test_module_src_is_hashed_never_run(tmp_path):
    marker = tmp_path / "marker-src"
    path, src = fx.write_module_src_snapshot(tmp_path / "src.pkl", marker)
    snap = read_nvidia_snapshot(path)
    assert not marker.exists()
    g = snap["G_ema"]
    assert g.module_src_sha256 == hashlib.sha256(src.encode()).hexdigest()
    assert src not in repr(vars(g))
    assert "mapping.fc0.weight" in g.state_dict()


def test_hostile_storage_stream_refused(tmp_path):
    marker = tmp_path / "marker-storage"
    path = fx.write_evil_storage_pickle(tmp_path / "storage.pkl", marker)
    with pytest.raises(UnsafePickleError, match="storage"):
        read_nvidia_snapshot(path)
    assert not marker.exists()


def test_persistent_id_refused(tmp_path):
    path = fx.write_persistent_id_pickle(tmp_path / "pid.pkl")
    with pytest.raises(UnsafePickleError, match="persistent id 'evil' in pid.pkl"):
        read_nvidia_snapshot(path)


def test_bad_data_in_allowed_calls_refused(tmp_path):
    rebuild = fx.GlobalRef("torch._utils", "_rebuild_tensor_v2")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
        storage = torch.arange(4.0).storage()
    cases = {
        "beyond its storage": fx.Call(rebuild, storage, 0, (100,), (1,), False, collections.OrderedDict()),
        "tensor layout": fx.Call(rebuild, storage, 0, (2,), (-1,), False, collections.OrderedDict()),
        "numpy dtype": fx.Call(fx.GlobalRef("numpy", "dtype"), "O", False, True),
        "persistent object of type 'function'": fx.Call(fx.PERSISTENT_OBJ, dict(type="function", state={})),
        "ndarray subtype": fx.Call(fx.GlobalRef("numpy._core.multiarray", "_reconstruct"), "x", (0,), b"b"),
    }
    for message, payload in cases.items():
        path = fx.write_pickle(tmp_path / "bad.pkl", {"G_ema": payload})
        with pytest.raises(UnsafePickleError, match=re.escape(message)):
            read_nvidia_snapshot(path)


def test_cyclic_module_tree(tmp_path):
    snap = fx.tiny_snapshot()
    mapping = snap["G_ema"].children()["mapping"]
    mapping.state["_modules"]["loop"] = snap["G_ema"]  # the pickle memo makes it a real cycle
    fx.write_pickle(tmp_path / "cyc.pkl", snap)
    g = read_nvidia_snapshot(tmp_path / "cyc.pkl")["G_ema"]
    assert g.children()["mapping"].children()["loop"] is g
    with pytest.raises(ValueError, match="cyclic at 'mapping.loop'"):
        g.state_dict()


def test_not_a_snapshot(tmp_path, monkeypatch):
    def write(name, obj):
        (tmp_path / name).write_bytes(pickle.dumps(obj, protocol=4))
        return tmp_path / name
    with pytest.raises(ValueError, match="list.pkl: expected a dict snapshot, found a list"):
        read_nvidia_snapshot(write("list.pkl", [1, 2]))
    with pytest.raises(ValueError, match="nog.pkl: not a network snapshot .*no 'G_ema'"):
        read_nvidia_snapshot(write("nog.pkl", {"G": None}))
    with pytest.raises(ValueError, match="none.pkl: .*'G_ema' is a NoneType"):
        read_nvidia_snapshot(write("none.pkl", {"G_ema": None}))
    good = fx.write_pickle(tmp_path / "good.pkl", fx.tiny_snapshot())
    (tmp_path / "cut.pkl").write_bytes(good.read_bytes()[:500])
    with pytest.raises(ValueError, match="cut.pkl: not a readable"):
        read_nvidia_snapshot(tmp_path / "cut.pkl")
    with zipfile.ZipFile(tmp_path / "ckpt.pt", "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match="ckpt.pt: a zip archive"):
        read_nvidia_snapshot(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="missing.pkl: no such"):
        read_nvidia_snapshot(tmp_path / "missing.pkl")
    monkeypatch.setattr(nvidia_pickle, "MAX_SNAPSHOT_BYTES", 100)
    with pytest.raises(ValueError, match="good.pkl: .* over the .* limit"):
        read_nvidia_snapshot(good)
