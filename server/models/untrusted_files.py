"""The files of a models folder taken as they come: someone else may have made them.

- Only regular files are opened: a FIFO would block the opener for ever (the server would never
  listen), a device such as /dev/zero never ends.
- A file a model card names stays inside the card's folder: no absolute paths, no `..`, no symlink
  leading out of it (a model folder downloaded as an archive could otherwise make the server read any
  file it can). The top level of `--models-dir` is the server owner's own choice, so a symlink there
  (`ffhq.pkl -> ~/Downloads/ffhq.pkl`) is followed.
- File names need not be UTF-8 on Linux; Python hands them over with surrogate escapes, which
  protobuf strings refuse. :func:`printable` is what such text looks like where it leaves for a client
  (model and direction names, descriptions, errors); messages raised here keep the raw path, so that
  the catalog can still take server folders out of them before it escapes them.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

# Opening a FIFO without O_NONBLOCK waits for a writer; with it, open returns and fstat tells.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def printable(text: str) -> str:
    """`text` as valid UTF-8: the bytes of a name that is not UTF-8 as `\\xNN`, other lone surrogates
    (a pickled string may hold one) as `\\udNNN`. Names that are valid UTF-8 come back unchanged."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that surrogateescape did not make
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _refuse_unless_regular(mode: int, path: str | os.PathLike) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for is_kind, name in _KINDS if is_kind(mode)), "not a regular file")
        raise ValueError(f"{os.fspath(path)} is {kind}; only regular files are read")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """`path` opened for binary reading; ValueError unless it is a regular file (symlinks followed).

    Checked twice: `stat` before opening, so no device is ever opened (opening one can have effects),
    and `fstat` on the open descriptor, so the file checked is the file read even if the name is
    swapped in between. O_NONBLOCK makes that open return at once should the name be a FIFO by then;
    it changes nothing for the regular file that is kept.

    Raises FileNotFoundError (and other OSError) as `open` does.
    """
    _refuse_unless_regular(os.stat(path).st_mode, path)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode, path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def inside_folder(folder: Path, name: object, what: str) -> Path:
    """`folder / name` for a file name read from a card; ValueError when it is not a non-empty string
    or when it resolves, symlinks followed, to anything but a path strictly inside `folder`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what}: expected the name of a file inside the model folder, "
                         f"got a {type(name).__name__}")
    root = folder.resolve()
    target = (root / name).resolve()
    if target == root or not target.is_relative_to(root):
        shown = "an absolute path" if Path(name).is_absolute() else repr(name[:200])  # not a server path
        raise ValueError(f"{what}: {shown} leads outside the model folder; a card may only name files "
                         "inside its own folder")
    return target
