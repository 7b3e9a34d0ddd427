"""Read NVIDIA stylegan2-ada-pytorch network snapshots (``.pkl``) without running their code.

A real snapshot is a plain pickle whose networks are ``torch_utils.persistence`` objects: each
one pickles as ``_reconstruct_persistent_obj(meta)`` where ``meta['module_src']`` is Python
source that NVIDIA's loader would ``exec``. Here every global the stream names is looked up in an
explicit allow-list of data-only builders; each network becomes a :class:`PersistentRecord`
holding only the class name, a hash of the (discarded) source and the module's ``__dict__``.
Nothing named by the file is ever imported, and no source from it is ever compiled or run.
"""
from __future__ import annotations

import collections
import hashlib
import io
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .archive_bounds import check_torch_archive
from .untrusted_files import open_regular

__all__ = [
    "MAX_SNAPSHOT_BYTES",
    "EasyDict",
    "PersistentRecord",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "network_spec",
    "read_nvidia_snapshot",
]

MAX_SNAPSHOT_BYTES = 4 * 1024**3  # the largest official snapshots are well under 1 GB


class UnsafePickleError(ValueError):
    """The pickle asks for something outside the allow-list of data-only types."""


def _refuse(detail: str) -> None:
    raise UnsafePickleError(f"refusing {detail}")


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict whose keys read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state: Any) -> None:  # pickle BUILD; real snapshots send none
        if not isinstance(state, dict):
            _refuse(f"EasyDict state of type {type(state).__name__}")
        self.update(state)


class PersistentRecord:
    """Plain record of one pickled network module (a persistent object or an allowed torch.nn one).

    ``class_name``: NVIDIA's class name ("Generator", "SynthesisLayer", ...) or the qualified
    name of an allowed torch.nn container. ``module_src_sha256``: hash of the embedded source
    (None for torch.nn classes); the source itself is discarded. ``state``: the module's
    ``__dict__`` as loaded (``_parameters``, ``_buffers``, ``_modules``, hook dicts, attributes).
    """

    def __init__(self, class_name: str, state: dict, module_src_sha256: str | None = None,
                 version: int | None = None):
        self.class_name = class_name
        self.state = state
        self.module_src_sha256 = module_src_sha256
        self.version = version

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name!r}, {len(self.children())} children)"

    @property
    def init_args(self) -> tuple:
        """Positional constructor arguments recorded by NVIDIA's persistence decorator."""
        return tuple(_plain(a) for a in self.state.get("_init_args", ()))

    @property
    def init_kwargs(self) -> dict:
        """Keyword constructor arguments, EasyDicts turned into plain dicts."""
        return _plain(dict(self.state.get("_init_kwargs") or {}))

    def children(self) -> dict[str, "PersistentRecord"]:
        """Direct submodules, in registration order (None entries skipped)."""
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if v is not None}

    def state_dict(self, prefix: str = "", _path: tuple = ()) -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers named as ``torch.nn.Module.state_dict()`` would."""
        if any(r is self for r in _path):
            raise ValueError(f"module tree is cyclic at {prefix.rstrip('.')!r}")
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for name, t in (self.state.get("_parameters") or {}).items():
            if t is not None:
                out[prefix + name] = t.detach()
        for name, t in (self.state.get("_buffers") or {}).items():
            if t is not None and name not in skip:
                out[prefix + name] = t.detach()
        for name, child in self.children().items():
            if not isinstance(child, PersistentRecord):
                raise ValueError(f"submodule {prefix + name!r} is a {type(child).__name__}, not a module record")
            out.update(child.state_dict(prefix + name + ".", _path + (self,)))
        return out


def _plain(value: Any, depth: int = 0) -> Any:
    """EasyDict/OrderedDict -> dict and loaded ndarrays -> np.ndarray, recursively."""
    if depth > 64:
        raise ValueError("constructor arguments nested too deeply (cyclic?)")
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, depth + 1) for v in value)
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray)
    return value


# ---- allowed builders: each only assembles data from already-loaded values ----

def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    """Replaces ``torch_utils.persistence._reconstruct_persistent_obj``: hashes, never runs, the source."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        kind = meta.get("type") if isinstance(meta, dict) else type(meta).__name__
        _refuse(f"persistent object of type {kind!r} (only 'class' objects are known)")
    src, name, state = meta.get("module_src"), meta.get("class_name"), meta.get("state")
    if not isinstance(src, str) or not isinstance(name, str) or not isinstance(state, dict):
        _refuse("persistent object meta without str module_src/class_name and dict state")
    digest = hashlib.sha256(src.encode("utf-8", "surrogatepass")).hexdigest()
    return PersistentRecord(name, state, digest, meta.get("version"))


def _torch_module_record_class(qualname: str) -> type:
    """A PersistentRecord subclass standing in for a data-only torch.nn container class."""
    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        PersistentRecord.__init__(obj, qualname, {})
        return obj

    def __init__(self, *args, **kwargs):  # reached only by REDUCE-style calls
        if args or kwargs:
            _refuse(f"constructor arguments for {qualname}")

    def __setstate__(self, state):
        if not isinstance(state, dict):
            _refuse(f"state of type {type(state).__name__} for {qualname}")
        self.state = state

    name = qualname.rsplit(".", 1)[1]
    return type(name, (PersistentRecord,), {"__new__": __new__, "__init__": __init__,
                                             "__setstate__": __setstate__, "__module__": __name__})


def _load_from_bytes(data: Any) -> torch.storage.TypedStorage:
    """Replaces ``torch.storage._load_from_bytes``: one storage from a torch.save stream (legacy in
    real snapshots; a zip one is held to the bounds of :mod:`.archive_bounds` before it inflates)."""
    if not isinstance(data, (bytes, bytearray)):
        _refuse(f"storage payload of type {type(data).__name__}")
    check_torch_archive(io.BytesIO(data), "an embedded tensor storage")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
            storage = torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:  # torch's own weights_only refusal
        raise UnsafePickleError(f"refusing embedded tensor storage: {e}") from None
    if not isinstance(storage, torch.storage.TypedStorage):
        _refuse(f"embedded storage stream holding a {type(storage).__name__}")
    return storage


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        _refuse(f"tensor {what} {value!r}")
    return tuple(value)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """Replaces ``torch._utils._rebuild_tensor_v2``: bounds-checked view of a loaded storage; hooks dropped."""
    if not isinstance(storage, torch.storage.TypedStorage):
        _refuse(f"tensor over a {type(storage).__name__}")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if type(storage_offset) is not int or storage_offset < 0 or len(size) != len(stride) \
            or min(size + stride, default=0) < 0:
        _refuse(f"tensor layout offset={storage_offset!r} size={size} stride={stride}")
    if metadata:
        _refuse(f"tensor metadata {metadata!r}")
    needed = 0 if 0 in size else storage_offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    available = storage._untyped_storage.nbytes() // storage.dtype.itemsize
    if needed > available:
        _refuse(f"tensor of size {size} stride {stride} beyond its storage of {available} elements")
    t = torch.empty((0,), dtype=storage.dtype).set_(storage._untyped_storage, storage_offset, size, stride)
    t.requires_grad_(bool(requires_grad) and t.is_floating_point())
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """Replaces ``torch._utils._rebuild_parameter(_with_state)``: a Parameter over ``data``.

    Backward hooks and python attributes (``state``) from the file are dropped, never set.
    """
    if not isinstance(data, torch.Tensor):
        _refuse(f"parameter data of type {type(data).__name__}")
    return torch.nn.Parameter(data, bool(requires_grad) and data.is_floating_point())


def _clean_np_dtype(dtype: Any) -> np.dtype:
    """A fresh numeric/string dtype equal to ``dtype``; object, structured and void dtypes refused."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufcSU" or dtype.fields is not None:
        _refuse(f"numpy dtype {dtype!r}")
    return np.dtype(dtype.str)


def _np_dtype(obj, align=False, copy=True) -> np.dtype:
    """Replaces ``numpy.dtype(...)`` calls: only plain numeric/string dtypes, always a copy."""
    if not isinstance(obj, str):
        _refuse(f"numpy dtype spec of type {type(obj).__name__}")
    dtype = np.dtype(obj, align=bool(align), copy=True)
    _clean_np_dtype(dtype)
    return dtype


def _np_scalar(dtype, data) -> np.generic:
    """Replaces ``numpy.(_)core.multiarray.scalar``: a numeric scalar from its raw bytes."""
    dtype = _clean_np_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        _refuse(f"numpy scalar payload for {dtype}")
    return np.frombuffer(data, dtype=dtype)[0]


class LoadedArray(np.ndarray):
    """ndarray built from a pickle; ``__setstate__`` validates dtype and size first."""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            _refuse("ndarray state")
        shape, dtype, fortran, raw = state[-4:]
        shape, dtype = _int_tuple(shape, "shape"), _clean_np_dtype(dtype)
        if not isinstance(raw, bytes) or min(shape, default=0) < 0 \
                or len(raw) != math.prod(shape) * dtype.itemsize:
            _refuse(f"ndarray payload for shape {shape} {dtype}")
        super().__setstate__((shape, dtype, bool(fortran), raw))


class _NdarrayToken:
    """What the global ``numpy.ndarray`` resolves to: only usable as ``_reconstruct``'s argument."""


def _np_reconstruct(subtype, shape, dtype_code) -> LoadedArray:
    """Replaces ``numpy.(_)core.multiarray._reconstruct``: an empty array awaiting a validated BUILD."""
    if subtype is not _NdarrayToken:
        _refuse(f"ndarray subtype {subtype!r}")
    return np.ndarray.__new__(LoadedArray, (0,), np.uint8)


def _np_frombuffer(buf, dtype, shape, order) -> np.ndarray:
    """Replaces ``numpy.(_)core.numeric._frombuffer`` (protocol-5 arrays)."""
    dtype, shape = _clean_np_dtype(dtype), _int_tuple(shape, "shape")
    if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F") or min(shape, default=0) < 0 \
            or len(buf) != math.prod(shape) * dtype.itemsize:
        _refuse(f"ndarray buffer for shape {shape} {dtype}")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order).copy()


# Torch containers that are pure structure (no code of their own runs; they become records).
_TORCH_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict")


def _build_allow_list() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,          # protocol <= 3 pickles sets with a call
        ("builtins", "frozenset"): frozenset,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
        ("torch", "device"): torch.device,
        ("torch", "Size"): torch.Size,
        ("numpy", "dtype"): _np_dtype,
        ("numpy", "ndarray"): _NdarrayToken,
    }
    for core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x spellings
        allowed[(f"{core}.multiarray", "scalar")] = _np_scalar
        allowed[(f"{core}.multiarray", "_reconstruct")] = _np_reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = _np_frombuffer
    for name in dir(torch):  # torch dtypes pickle as globals such as torch.float32
        if isinstance(getattr(torch, name, None), torch.dtype):
            allowed[("torch", name)] = getattr(torch, name)
    for name in _TORCH_CONTAINERS:
        allowed[("torch.nn.modules.container", name)] = _torch_module_record_class(
            f"torch.nn.modules.container.{name}")
    return allowed


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _build_allow_list()


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves globals only through :data:`ALLOWED_GLOBALS`."""

    def __init__(self, file, *, source_name: str = "<stream>"):
        super().__init__(file)
        self.source_name = source_name

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing global '{module}.{name}' in {self.source_name}: "
                                    "not in the allow-list of data-only types") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing persistent id {str(pid)[:80]!r} in {self.source_name}: "
                                "NVIDIA snapshots are plain pickles without persistent ids")

    def load(self) -> Any:
        try:
            return super().load()
        except UnsafePickleError as e:
            if self.source_name in str(e):
                raise
            raise UnsafePickleError(f"{e} (in {self.source_name})") from None


def read_nvidia_snapshot(path: str | os.PathLike) -> dict:
    """Load a snapshot dict (``G``, ``D``, ``G_ema``, ``augment_pipe``, ``training_set_kwargs``).

    Networks come back as :class:`PersistentRecord` trees. Raises :class:`UnsafePickleError`
    for anything outside the allow-list and ``ValueError`` for files that are not snapshots.
    """
    path = Path(path)
    name = path.name
    try:
        f = open_regular(path)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such snapshot file") from None
    except (OSError, ValueError) as exc:  # a folder, a FIFO, no permission
        raise ValueError(f"{name}: not a readable snapshot file ({exc})") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_SNAPSHOT_BYTES:
            raise ValueError(f"{name}: {size / 2**30:.3g} GiB is over the {MAX_SNAPSHOT_BYTES / 2**30:.3g} GiB "
                             "limit for NVIDIA network snapshots")
        head = f.read(4)
        if head.startswith(b"PK\x03\x04"):
            raise ValueError(f"{name}: a zip archive (torch.save checkpoint?), not an NVIDIA pickle snapshot")
        f.seek(0)
        try:
            data = RestrictedUnpickler(f, source_name=name).load()
        except UnsafePickleError:
            raise
        except Exception as e:  # truncated or malformed stream
            raise ValueError(f"{name}: not a readable NVIDIA snapshot pickle ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a dict snapshot, found a {type(data).__name__}")
    if not isinstance(data.get("G_ema"), PersistentRecord):
        found = "no 'G_ema' key" if "G_ema" not in data else f"'G_ema' is a {type(data['G_ema']).__name__}"
        raise ValueError(f"{name}: not a network snapshot ({found}; keys: {sorted(map(str, data))})")
    return data


def network_spec(record: PersistentRecord) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """``(class_name, init_kwargs, state_dict)`` of one network record."""
    if not isinstance(record, PersistentRecord):
        raise TypeError(f"expected a PersistentRecord, got {type(record).__name__}")
    return record.class_name, record.init_kwargs, record.state_dict()
