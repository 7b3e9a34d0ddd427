"""Small GTK pieces the plug-in's own windows share (Edit attributes, Live preview)."""
from __future__ import annotations

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, GLib, Gtk  # noqa: E402


def pixbuf(image: dict, side: int) -> GdkPixbuf.Pixbuf:
    """An Image dict (RGBA or RGB bytes) as a pixbuf `side` pixels wide, scaled smoothly."""
    width, height = image["width"], image["height"]
    alpha = "rgba" in image
    data = GLib.Bytes.new(image["rgba"] if alpha else image["rgb"])
    full = GdkPixbuf.Pixbuf.new_from_bytes(data, GdkPixbuf.Colorspace.RGB, alpha, 8, width, height,
                                           width * (4 if alpha else 3))
    return full.scale_simple(side, side * height // width, GdkPixbuf.InterpType.BILINEAR)


def label(text: str, markup: bool = False) -> Gtk.Label:
    """A left-aligned label."""
    widget = Gtk.Label(xalign=0.0)
    if markup:
        widget.set_markup(text)
    else:
        widget.set_text(text)
    return widget


def preview_column(body: Gtk.Box, side: int) -> tuple[Gtk.Box, Gtk.Image]:
    """A column packed into `body` with a framed picture `side` pixels square at its top: (column, picture)."""
    column = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
    picture = Gtk.Image()
    picture.set_size_request(side, side)
    frame = Gtk.Frame()
    frame.add(picture)
    column.pack_start(frame, False, False, 0)
    body.pack_start(column, False, False, 0)
    return column, picture
