"""Zip archives checked before anything inflates them: a zip bomb is refused by its declared sizes.

A `torch.save` file is a zip: `<archive>/data.pkl` (the pickle) and one `<archive>/data/<key>` member per
tensor storage, plus a few small records (`version`, `byteorder`, ...). torch allocates each member's
declared uncompressed size and inflates it before it checks anything, so a 1 MB file whose storage is
deflated zeros takes a gigabyte. Before torch reads one, the members' sizes from the central
directory are held to these bounds:

- a storage member is exactly the bytes its tensors' storage needs, as the pickle declares it
  (the pickle is read for its storage references only, every global it names an inert stand-in);
- the pickle and every other member outside `<archive>/data/` at most :data:`MAX_RECORD_BYTES`;
- all members together at most :data:`MAX_INFLATION` times the file's size. torch.save stores its
  members uncompressed (1x); a checkpoint someone zipped again with deflate stays well under 2x.

Names must be unique: with two members of one name, Python's zip reader and torch's could each pick
another. A legacy (torch < 1.6, not zip) file passes untouched: its storages are read from its own
bytes, so it costs no more memory than its size.
"""
from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from typing import BinaryIO

import torch

ZIP_MAGIC = b"PK\x03\x04"
MAX_INFLATION = 4
# A pickle builds up to ~64 bytes of objects per byte (`]` is a new list); a StyleGAN2 training
# checkpoint's pickle, optimizers included, is a few hundred KB (about 100 bytes per tensor).
MAX_RECORD_BYTES = 4 << 20


class _Inert:
    """What a global named by a scanned pickle becomes: it may be called, built and filled, and does
    nothing. `global_name` is (module, name) of the global its class stands for."""

    global_name = ("", "")

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def add(self, value):
        pass


def _itemsize(storage_type: object) -> int:
    """Bytes per element of a storage class named in a persistent id (torch.FloatStorage, ...)."""
    module, name = getattr(storage_type, "global_name", ("", ""))
    torch_class = getattr(torch, name, None) if module == "torch" else None
    if torch_class is torch.UntypedStorage:
        return 1
    if isinstance(torch_class, type) and issubclass(torch_class, torch.storage.TypedStorage) \
            and torch_class is not torch.storage.TypedStorage:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
            return torch_class.dtype.itemsize
    raise ValueError(f"a storage of unknown type {module}.{name}")


class _StorageScan(pickle.Unpickler):
    """Reads a torch.save pickle for its storages only: `storages` maps each key to its bytes."""

    def __init__(self, file):
        super().__init__(file)
        self.storages: dict[str, int] = {}
        self._stand_ins: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> type:
        key = (module, name)
        if key not in self._stand_ins:
            self._stand_ins[key] = type("StandIn", (_Inert,), {"global_name": key})
        return self._stand_ins[key]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"an unknown persistent id {str(pid)[:80]!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(key, (str, int)) or type(numel) is not int or numel < 0:
            raise ValueError(f"a storage reference {str(pid)[:80]!r}")
        nbytes = numel * _itemsize(storage_type)
        if self.storages.setdefault(str(key), nbytes) != nbytes:
            raise ValueError(f"storage {key} declared with two sizes")
        return _Inert()


def storage_bytes(pickle_bytes: bytes) -> dict[str, int]:
    """Storage key -> bytes, for every storage a torch.save pickle refers to (ValueError if unreadable)."""
    scan = _StorageScan(io.BytesIO(pickle_bytes))
    try:
        scan.load()
    except ValueError:
        raise
    except Exception as exc:  # a malformed stream fails in many ways
        raise ValueError(f"its pickle is not readable ({type(exc).__name__}: {exc})") from None
    return scan.storages


def check_zip_sizes(archive: zipfile.ZipFile, file_bytes: int) -> None:
    """ValueError unless member names are unique and all members together inflate to at most
    MAX_INFLATION x `file_bytes`."""
    members = archive.infolist()
    if len({m.filename for m in members}) != len(members):
        raise ValueError("the archive holds two members of the same name")
    total = sum(m.file_size for m in members)
    if total > MAX_INFLATION * file_bytes:
        raise ValueError(f"its members would inflate to {total:,} bytes, more than {MAX_INFLATION} times "
                         f"the file's {file_bytes:,} (a zip bomb?)")


def is_zip(f: BinaryIO) -> bool:
    """Whether torch.load reads `f` (seekable) as a zip: torch looks at the first bytes, not, as
    `zipfile.is_zipfile` does, for an end record that any tensor's bytes may happen to hold."""
    f.seek(0)
    return f.read(len(ZIP_MAGIC)) == ZIP_MAGIC


def _check_members(f: BinaryIO) -> None:
    file_bytes = f.seek(0, io.SEEK_END)
    with zipfile.ZipFile(f) as archive:
        check_zip_sizes(archive, file_bytes)
        sizes = {m.filename: m.file_size for m in archive.infolist()}
        if not sizes:
            raise ValueError("an empty zip, not a torch.save file")
        prefix = next(iter(sizes)).split("/", 1)[0] + "/"
        for member, size in sizes.items():
            if not member.startswith(prefix + "data/") and size > MAX_RECORD_BYTES:
                raise ValueError(f"{member} would inflate to {size:,} bytes, more than the "
                                 f"{MAX_RECORD_BYTES:,} a record other than a storage may have")
        if prefix + "data.pkl" not in sizes:
            raise ValueError(f"a zip without {prefix}data.pkl, not a torch.save file")
        needs = storage_bytes(archive.read(prefix + "data.pkl"))
    for key, need in needs.items():
        size = sizes.get(prefix + "data/" + key, need)  # a missing one is torch's to report
        if size != need:
            raise ValueError(f"{prefix}data/{key} would inflate to {size:,} bytes where its tensors need {need:,}")


def check_torch_archive(f: BinaryIO, name: str) -> None:
    """ValueError ("{name}: ..."), before torch inflates anything, when the torch.save file open in `f`
    (seekable; any position) breaks the bounds above. A legacy file passes."""
    if not is_zip(f):
        return
    try:
        _check_members(f)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    except Exception as exc:  # a damaged zip fails in many ways: BadZipFile, zlib.error, EOFError...
        raise ValueError(f"{name}: not a readable zip ({type(exc).__name__}: {exc})") from None
