"""Builders of NVIDIA-style network snapshot pickles for tests (helpers, not tests).

The pickle streams are written by :class:`SnapshotPickler`, which emits the globals a real
stylegan2-ada-pytorch snapshot names (``torch_utils.persistence._reconstruct_persistent_obj``,
``dnnlib.util.EasyDict``, ``numpy.core.multiarray.scalar``...) without those modules existing.
Every ``write_*`` function writes ``path`` and returns the snapshot dict it pickled, so a test
can compare what a loader reads back with what was written.
"""
from __future__ import annotations

import collections
import hashlib
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from server.models.nvidia_pickle import EasyDict, PersistentRecord, read_nvidia_snapshot
from tests.support.paths import CONFORMANCE

CONFORMANCE_PKL = CONFORMANCE / "nvidia_r32.pkl"

FIXTURE_MODULE_SRC = "# fixture stand-in for the source of NVIDIA's training/networks.py\n"

TORCH1_KEYS = ("training", "_parameters", "_buffers", "_backward_hooks", "_forward_hooks",
               "_forward_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks", "_modules")
TORCH2_KEYS = ("training", "_parameters", "_buffers", "_non_persistent_buffers_set",
               "_backward_pre_hooks", "_backward_hooks", "_is_full_backward_hook", "_forward_hooks",
               "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
               "_forward_pre_hooks_with_kwargs", "_state_dict_hooks", "_state_dict_pre_hooks",
               "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks", "_modules")
_TORCH_KEYS = frozenset(TORCH1_KEYS + TORCH2_KEYS)


@dataclass(frozen=True)
class GlobalRef:
    """A global written into the stream by name; nothing of that name needs to exist here."""
    module: str
    name: str

    def __call__(self, *args):  # pickle only accepts callables as reduce functions
        raise TypeError(f"{self.module}.{self.name} is a stand-in and cannot be called")


PERSISTENT_OBJ = GlobalRef("torch_utils.persistence", "_reconstruct_persistent_obj")


class Call:
    """Pickles as ``func(*args)``; ``func`` may be a :class:`GlobalRef` (used for hostile payloads)."""

    def __init__(self, func: Any, *args: Any):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args):  # pickle only accepts callables as reduce functions
        raise TypeError("a pickling stand-in cannot be called")


class SnapshotPickler(pickle._Pickler):
    """Pure-Python pickler writing records as NVIDIA persistent objects.

    ``numpy_core``: 'numpy._core' (numpy 2 spelling) or 'numpy.core' (numpy 1) for scalars.
    ``module_src``: source text embedded in every persistent object (never run by our loader).
    """

    def __init__(self, file, protocol: int = 4, numpy_core: str = "numpy._core",
                 module_src: str = FIXTURE_MODULE_SRC):
        super().__init__(file, protocol)
        self.numpy_core, self.module_src = numpy_core, module_src

    def _write_global(self, ref: GlobalRef) -> None:
        if self.proto >= 4:
            self.save(ref.module)
            self.save(ref.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{ref.module}\n{ref.name}\n".encode())

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, GlobalRef):
            return self._write_global(obj)
        if obj is EasyDict:
            return self._write_global(GlobalRef("dnnlib.util", "EasyDict"))
        if isinstance(obj, PersistentRecord) and obj.module_src_sha256 is None and id(obj) not in self.memo:
            # an allowed torch.nn container: NEWOBJ + BUILD, as torch pickles plain modules
            module, name = obj.class_name.rsplit(".", 1)
            self._write_global(GlobalRef(module, name))
            self.save(())
            self.write(pickle.NEWOBJ)
            self.memoize(obj)
            self.save(obj.state)
            self.write(pickle.BUILD)
            return None
        return super().save(obj, save_persistent_id)

    def reducer_override(self, obj):
        if isinstance(obj, PersistentRecord):
            meta = dict(type="class", version=obj.version or 6, module_src=self.module_src,
                        class_name=obj.class_name, state=obj.state)
            return PERSISTENT_OBJ, (meta,)
        if isinstance(obj, np.generic):
            return GlobalRef(f"{self.numpy_core}.multiarray", "scalar"), (obj.dtype, obj.tobytes())
        return NotImplemented


def write_pickle(path: str | Path, obj: Any, **pickler_kwargs) -> Path:
    """Pickle ``obj`` to ``path`` with :class:`SnapshotPickler`."""
    path = Path(path)
    with open(path, "wb") as f, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
        SnapshotPickler(f, **pickler_kwargs).dump(obj)
    return path


# ---- record construction ----

def module_state(style: str = "torch2", parameters: dict | None = None, buffers: dict | None = None,
                 modules: dict | None = None, non_persistent: set | frozenset = frozenset(),
                 **attributes: Any) -> dict:
    """A torch.nn.Module ``__dict__`` as torch 1.7-1.9 ('torch1') or torch 2.x ('torch2') writes it."""
    if style == "torch1":
        mapping = collections.OrderedDict
        state = {k: collections.OrderedDict() for k in TORCH1_KEYS}
    elif style == "torch2":
        mapping = dict
        state = {k: collections.OrderedDict() for k in TORCH2_KEYS}
        state.update(_non_persistent_buffers_set=set(non_persistent), _is_full_backward_hook=None)
    else:
        raise ValueError(f"unknown style {style!r}")
    state.update(training=False, _parameters=mapping(parameters or {}), _buffers=mapping(buffers or {}),
                 _modules=mapping(modules or {}))
    state.update(attributes)
    return state


def persistent(class_name: str, state: dict, module_src: str = FIXTURE_MODULE_SRC) -> PersistentRecord:
    """A record as a real persistent object would load (hash of ``module_src``, version 6)."""
    return PersistentRecord(class_name, state, hashlib.sha256(module_src.encode()).hexdigest(), 6)


def torch_container(name: str, modules: dict, style: str = "torch2") -> PersistentRecord:
    """A plain ``torch.nn.modules.container.<name>`` (ModuleList, Sequential...) record."""
    return PersistentRecord(f"torch.nn.modules.container.{name}", module_state(style, modules=modules))


def with_state(record: PersistentRecord, **updates: Any) -> PersistentRecord:
    """Copy of ``record`` whose state has ``updates`` applied (other entries shared)."""
    return PersistentRecord(record.class_name, {**record.state, **updates},
                            record.module_src_sha256, record.version)


def style_of(record: PersistentRecord) -> str:
    return "torch2" if "_non_persistent_buffers_set" in record.state else "torch1"


def restyle(record: PersistentRecord, style: str) -> PersistentRecord:
    """The same tree with every module's hook dicts rewritten to ``style`` (tensors shared)."""
    s = record.state
    attributes = {k: v for k, v in s.items() if k not in _TORCH_KEYS}
    modules = {k: (restyle(v, style) if isinstance(v, PersistentRecord) else v)
               for k, v in (s.get("_modules") or {}).items()}
    non_persistent = (s.get("_non_persistent_buffers_set") or set()) if style == "torch2" else set()
    state = module_state(style, s.get("_parameters"), s.get("_buffers"), modules, non_persistent, **attributes)
    return PersistentRecord(record.class_name, state, record.module_src_sha256, record.version)


def fully_connected(in_features: int, out_features: int, gen: torch.Generator, style: str = "torch2",
                    activation: str = "linear", lr_multiplier: float = 1.0,
                    init_kwargs: dict | None = None) -> PersistentRecord:
    """NVIDIA ``FullyConnectedLayer`` record with random weight and bias."""
    params = {"weight": torch.nn.Parameter(torch.randn([out_features, in_features], generator=gen),
                                           requires_grad=False),
              "bias": torch.nn.Parameter(torch.randn([out_features], generator=gen), requires_grad=False)}
    state = module_state(style, params, activation=activation,
                         weight_gain=np.float64(lr_multiplier / np.sqrt(in_features)),
                         bias_gain=lr_multiplier, _init_args=(in_features, out_features),
                         _init_kwargs=dict(init_kwargs or {}))
    return persistent("FullyConnectedLayer", state)


def load_source(source: str | Path | dict | None = None) -> dict:
    """A loaded snapshot dict: ``source`` itself, or read from it (default: the conformance pkl)."""
    return source if isinstance(source, dict) else read_nvidia_snapshot(source or CONFORMANCE_PKL)


# ---- snapshot writers ----

def remap_mapping_input(generator: PersistentRecord, seed: int = 0, z_dim: int | None = None,
                        c_dim: int = 0) -> PersistentRecord:
    """An NVIDIA ``Generator`` record whose mapping takes other inputs: ``z_dim`` latents (default: as
    before) and, with ``c_dim``, labels through a new ``mapping.embed`` (c_dim -> embed_features);
    ``mapping.fc0`` then takes ``z_dim + embed_features`` inputs (random, seeded)."""
    gen = torch.Generator().manual_seed(seed)
    style = style_of(generator)
    mapping = generator.children()["mapping"]
    mkw = mapping.init_kwargs
    z_dim, w_dim = z_dim or mkw["z_dim"], mkw["w_dim"]
    embed_features = (mkw.get("embed_features") or w_dim) if c_dim else 0
    fc0 = mapping.children()["fc0"]
    layer_features = fc0.state["_parameters"]["weight"].shape[0]
    fc0_kwargs = dict(fc0.state["_init_kwargs"])
    new_fc0 = fully_connected(z_dim + embed_features, layer_features, gen, style,
                              activation=fc0.state["activation"], lr_multiplier=fc0_kwargs["lr_multiplier"],
                              init_kwargs=fc0_kwargs)
    modules = {**mapping.children(), "fc0": new_fc0}
    if c_dim:
        modules = {"embed": fully_connected(c_dim, embed_features, gen, style), **modules}  # registered first
    changed = {"z_dim": z_dim, **({"c_dim": c_dim} if c_dim else {})}
    mapping = with_state(mapping, **changed, _modules=type(mapping.state["_modules"])(modules),
                         _init_kwargs={**mapping.state["_init_kwargs"], **changed})
    g_modules = type(generator.state["_modules"])({**generator.children(), "mapping": mapping})
    return with_state(generator, **changed, _modules=g_modules,
                      _init_kwargs={**generator.state["_init_kwargs"], **changed})


def make_conditional(generator: PersistentRecord, c_dim: int, seed: int = 0) -> PersistentRecord:
    """Turn an NVIDIA ``Generator`` record conditional (see :func:`remap_mapping_input`)."""
    if c_dim <= 0:
        raise ValueError("c_dim must be positive")
    return remap_mapping_input(generator, seed, c_dim=c_dim)


def write_z_dim_snapshot(path: str | Path, z_dim: int, *, source=None, seed: int = 0) -> dict:
    """The source snapshot (default: the conformance pkl) with generators whose z has ``z_dim``
    entries (w keeps its width), as NVIDIA's ``--cfg`` presets never make but a user's run may;
    ``D`` is the source's."""
    src = load_source(source)
    snapshot = {**src, "G": remap_mapping_input(src["G"], seed, z_dim=z_dim),
                "G_ema": remap_mapping_input(src["G_ema"], seed + 1, z_dim=z_dim)}
    write_pickle(path, snapshot)
    return snapshot


def write_conditional_snapshot(path: str | Path, c_dim: int = 3, *, source=None, seed: int = 0) -> dict:
    """Conditional generator snapshot (``G`` and ``G_ema`` with ``c_dim`` labels).

    Built from ``source`` (default: the conformance pkl). ``D`` is None: the source's
    discriminator is unconditional and only generators are meant to be loaded from this file.
    """
    src = load_source(source)
    snapshot = {
        "training_set_kwargs": {**src.get("training_set_kwargs", {}), "use_labels": True},
        "G": make_conditional(src["G"], c_dim, seed),
        "D": None,
        "G_ema": make_conditional(src["G_ema"], c_dim, seed + 1),
        "augment_pipe": None,
    }
    write_pickle(path, snapshot)
    return snapshot


AUGMENT_BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                   brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)


def augment_pipe_record(p: float = 0.3, style: str = "torch2", seed: int = 0) -> PersistentRecord:
    """An ``AugmentPipe`` record ('bgc' preset): buffers ``p``, ``Hz_geo``, ``Hz_fbank`` (random
    filter taps of plausible shapes) and float attributes as NVIDIA's training/augment.py sets them."""
    gen = torch.Generator().manual_seed(seed)
    buffers = {"p": torch.tensor(float(p)), "Hz_geo": torch.randn([12], generator=gen),
               "Hz_fbank": torch.randn([4, 40], generator=gen)}
    probs = {k: float(AUGMENT_BGC.get(k, 0)) for k in (
        "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast",
        "lumaflip", "hue", "saturation", "imgfilter", "noise", "cutout")}
    state = module_state(style, buffers=buffers, **probs, xint_max=0.125, scale_std=0.2, rotate_max=1.0,
                         aniso_std=0.2, xfrac_std=0.125, brightness_std=0.2, contrast_std=0.5,
                         hue_max=1.0, saturation_std=1.0, imgfilter_bands=[1, 1, 1, 1], imgfilter_std=1.0,
                         noise_std=0.1, cutout_size=0.5, _init_args=(), _init_kwargs=dict(AUGMENT_BGC))
    return persistent("AugmentPipe", state)


def write_augment_snapshot(path: str | Path, p: float = 0.3, *, source=None) -> dict:
    """The source snapshot with a real ``augment_pipe`` object instead of None."""
    src = load_source(source)
    snapshot = {**src, "augment_pipe": augment_pipe_record(p, style_of(src["G_ema"]))}
    write_pickle(path, snapshot)
    return snapshot


def write_numpy_scalar_snapshot(path: str | Path, numpy_core: str = "numpy.core", *, source=None) -> dict:
    """The source snapshot with every numpy scalar written as ``<numpy_core>.multiarray.scalar``
    ('numpy.core': numpy 1.x pickles, 'numpy._core': numpy 2.x), plus numpy scalars in
    ``training_set_kwargs``."""
    src = load_source(source)
    tsk = {**src.get("training_set_kwargs", {}), "max_size": np.int64(1000), "mirror_p": np.float32(0.5)}
    snapshot = {**src, "training_set_kwargs": tsk}
    write_pickle(path, snapshot, numpy_core=numpy_core)
    return snapshot


def write_torch_style_snapshot(path: str | Path, style: str = "torch1", *, source=None,
                               protocol: int | None = None) -> dict:
    """The source snapshot with every module's ``__dict__`` in ``style``: 'torch1' (torch 1.7-1.9
    era: OrderedDicts, no ``_non_persistent_buffers_set``; protocol 3 by default, as Python 3.7
    wrote) or 'torch2' (the extra hook dicts of torch 2.x; protocol 4)."""
    src = load_source(source)
    snapshot = {k: (restyle(v, style) if isinstance(v, PersistentRecord) else v) for k, v in src.items()}
    write_pickle(path, snapshot, protocol=protocol or (3 if style == "torch1" else 4))
    return snapshot


def tiny_snapshot(style: str = "torch2", seed: int = 0) -> dict:
    """A small self-contained snapshot (no conformance file): a 'Generator' with a mapping of two
    FullyConnectedLayers, a ``w_avg`` buffer, a non-persistent buffer (torch2 only) and a
    ``torch.nn.ModuleList`` of layers."""
    gen = torch.Generator().manual_seed(seed)
    fcs = {f"fc{i}": fully_connected(8, 8, gen, style, "lrelu", 0.01,
                                     dict(activation="lrelu", lr_multiplier=0.01)) for i in range(2)}
    non_persistent = {"scratch"} if style == "torch2" else set()
    buffers = {"w_avg": torch.randn([8], generator=gen), "scratch": torch.zeros([2])}
    if style != "torch2":
        del buffers["scratch"]
    mapping = persistent("MappingNetwork", module_state(
        style, buffers=buffers, modules=fcs, non_persistent=non_persistent, z_dim=8, c_dim=0, w_dim=8,
        _init_args=(), _init_kwargs=dict(z_dim=8, c_dim=0, w_dim=8, num_ws=2, num_layers=2)))
    layers = torch_container("ModuleList", {"0": fully_connected(8, 4, gen, style)}, style)
    init = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=4, img_channels=3,
                mapping_kwargs=EasyDict(num_layers=2), synthesis_kwargs=EasyDict())
    g = persistent("Generator", module_state(style, modules={"mapping": mapping, "layers": layers},
                                             z_dim=8, _init_args=(), _init_kwargs=init))
    return {"training_set_kwargs": {"resolution": 4, "xflip": np.bool_(False)},
            "G": g, "D": None, "G_ema": g, "augment_pipe": None}


# ---- hostile payloads ----

def evil_payload(kind: str, marker: str | Path) -> Any:
    """An object whose unpickling would create ``marker`` if globals were resolved normally."""
    cmd = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    payloads = {
        "os.system": Call(GlobalRef("os", "system"), cmd),
        "posix.system": Call(GlobalRef("posix", "system"), cmd),
        "builtins.exec": Call(GlobalRef("builtins", "exec"), code),
        "builtins.eval": Call(GlobalRef("builtins", "eval"), code),
        "subprocess.Popen": Call(GlobalRef("subprocess", "Popen"), ["touch", str(marker)]),
        "builtins.getattr": Call(Call(GlobalRef("builtins", "getattr"), GlobalRef("os", "path"), "join"), "a"),
        "torch.load": Call(GlobalRef("torch", "load"), str(marker)),
    }
    return payloads[kind]


EVIL_KINDS = ("os.system", "posix.system", "builtins.exec", "builtins.eval", "subprocess.Popen",
              "builtins.getattr", "torch.load")


def write_evil_pickle(path: str | Path, kind: str, marker: str | Path, *, nested: bool = False) -> Path:
    """A hostile pickle: the payload at top level, or (``nested``) deep inside a persistent
    object's state of an otherwise valid snapshot."""
    payload = evil_payload(kind, marker)
    if not nested:
        return write_pickle(path, payload)
    snap = tiny_snapshot()
    g = snap["G_ema"]
    snap["G_ema"] = with_state(g, _init_kwargs={**g.state["_init_kwargs"], "hook": payload})
    return write_pickle(path, snap)


def write_module_src_snapshot(path: str | Path, marker: str | Path) -> tuple[Path, str]:
    """A valid snapshot whose persistent objects embed source that would create ``marker`` if
    executed. Returns (path, module_src)."""
    src = f"import os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w').close()\n"
    return write_pickle(path, tiny_snapshot(), module_src=src), src


def write_evil_storage_pickle(path: str | Path, marker: str | Path) -> Path:
    """A tensor whose embedded legacy storage stream is itself a hostile pickle."""
    inner = b"\x80\x02cos\nsystem\nX" + len(f"touch {marker}").to_bytes(4, "little") \
        + f"touch {marker}".encode() + b"\x85R."
    return write_pickle(path, {"G_ema": Call(GlobalRef("torch.storage", "_load_from_bytes"), inner)})


def write_persistent_id_pickle(path: str | Path) -> Path:
    """A pickle that uses a persistent id (BINPERSID), which NVIDIA snapshots never contain."""
    body = pickle.PROTO + bytes([2]) + b"X" + (4).to_bytes(4, "little") + b"evil" + pickle.BINPERSID + pickle.STOP
    Path(path).write_bytes(body)
    return Path(path)

