"""A small stand-in for the parts of GIMP 3's Python API that gimp_io uses, so the plug-in's reading and
writing logic is tested without GIMP (the real thing is covered by tests/gimp/test_*_in_gimp.py).

`install(monkeypatch)` puts fake `gi` and `gi.repository` modules (with `Gimp` and `Gegl`) in sys.modules.
Layers hold raw bytes; GEGL reads return zeros outside a buffer, like `Gegl.AbyssPolicy.NONE`. Reads at
1/2^k scale average each 2^k x 2^k block as in a plug-in in the real GIMP 3.0.4: from a "RaGaBaA float"
buffer premultiplied; from a layer's own 8-bit buffer the colour comes back black (masks are fine); a
sub-thumbnail averages straight colour.
"""
from __future__ import annotations

import itertools
import sys
import types
from dataclasses import dataclass, field

FORMATS = {"R'G'B'A u8": 4, "R'G'B' u8": 3, "Y u8": 1}
_ids = itertools.count(1)


@dataclass
class Rectangle:
    x: int
    y: int
    width: int
    height: int


class Buffer:
    def __init__(self, width: int, height: int, channels: int, data: bytes | None = None, x: int = 0, y: int = 0,
                 premultiplied: bool = False):
        self.width, self.height, self.channels = width, height, channels
        self.x, self.y, self.premultiplied = x, y, premultiplied
        self.data = bytearray(data if data is not None else bytes(width * height * channels))
        self.flushed = False

    def pixel(self, x: int, y: int) -> tuple:
        """One pixel's channels, zeros outside the buffer."""
        x, y = x - self.x, y - self.y
        if 0 <= x < self.width and 0 <= y < self.height:
            start = (y * self.width + x) * self.channels
            return tuple(self.data[start:start + self.channels])
        return (0,) * self.channels

    def copy(self, rect: Rectangle, abyss, target: "Buffer", target_rect: Rectangle) -> None:
        assert (rect.x, rect.y, rect.width, rect.height) == (target_rect.x, target_rect.y, target_rect.width,
                                                             target_rect.height)
        for y in range(rect.y, rect.y + rect.height):
            for x in range(rect.x, rect.x + rect.width):
                start = ((y - target.y) * target.width + x - target.x) * target.channels
                target.data[start:start + target.channels] = bytes(self.pixel(x, y))

    def get(self, rect: Rectangle, scale: float, fmt: str, abyss) -> bytes:
        """`rect` in the grid at `scale`; RGBA buffers may be read as RGB (alpha dropped, as babl does)."""
        step = round(1 / scale)
        assert step >= 1 and step & (step - 1) == 0 and abs(scale * step - 1) < 1e-9
        black = step > 1 and self.channels > 1 and not self.premultiplied
        channels = FORMATS[fmt]
        assert channels == self.channels or (channels, self.channels) == (3, 4)
        out = bytearray()
        for row in range(rect.y, rect.y + rect.height):
            for col in range(rect.x, rect.x + rect.width):
                block = [self.pixel(x, y) for y in range(row * step, row * step + step)
                         for x in range(col * step, col * step + step)]
                average = self._average(block)
                out += bytes(((0, 0, 0) + average[3:] if black else average)[:channels])
        return bytes(out)

    def _average(self, block: list) -> tuple:
        if self.channels != 4 or not self.premultiplied:
            return tuple(int(sum(p[c] for p in block) / len(block) + 0.5) for c in range(self.channels))
        alpha = sum(p[3] for p in block)
        colour = [sum(p[c] * p[3] for p in block) / alpha if alpha else 0 for c in range(3)]
        return tuple(int(v + 0.5) for v in colour) + (int(alpha / len(block) + 0.5),)

    def set(self, rect: Rectangle, fmt: str, data: bytes) -> None:
        assert (rect.x, rect.y, rect.width, rect.height) == (0, 0, self.width, self.height)
        assert FORMATS[fmt] == self.channels and len(data) == len(self.data)
        self.data[:] = data

    def flush(self) -> None:
        self.flushed = True


class Channel:
    def __init__(self, width: int, height: int, data: bytes | None = None):
        self.buffer = Buffer(width, height, 1, data)

    def get_width(self): return self.buffer.width
    def get_height(self): return self.buffer.height
    def get_buffer(self): return self.buffer


@dataclass(eq=False)
class Layer:
    name: str
    width: int = 0
    height: int = 0
    x: int = 0
    y: int = 0
    opacity: float = 100.0
    visible: bool = True
    rgba: bytes | None = None
    alpha: bool = True  # False: an RGB layer (its rgba bytes' alpha is 255)
    mask: Channel | None = None
    apply_mask: bool = True
    children: list | None = None  # a group's layers, top first
    parent: "Layer | None" = None
    ops: list = field(default_factory=list)  # scale/resize/update calls, in order
    parasites: dict = field(default_factory=dict)  # name -> Parasite

    def __post_init__(self):
        self.id = next(_ids)
        self.buffer = Buffer(self.width, self.height, 4, self.rgba)
        for child in self.children or []:
            child.parent = self

    def get_id(self): return self.id
    def get_name(self): return self.name
    def get_width(self): return self.width
    def get_height(self): return self.height
    def get_offsets(self): return True, self.x, self.y
    def get_opacity(self): return self.opacity
    def get_visible(self): return self.visible
    def is_group(self): return self.children is not None
    def get_children(self): return list(self.children)
    def get_parent(self): return self.parent
    def get_mask(self): return self.mask
    def get_apply_mask(self): return self.apply_mask
    def get_buffer(self): return self.buffer
    def has_alpha(self): return self.alpha

    def get_sub_thumbnail_data(self, x, y, width, height, dest_width, dest_height):
        step = width // dest_width
        assert width == dest_width * step and height == dest_height * step and x % step == 0 and y % step == 0
        channels = 4 if self.alpha else 3
        data = bytearray()
        for row in range(y // step, y // step + dest_height):
            for col in range(x // step, x // step + dest_width):
                block = [self.buffer.pixel(i, j) for j in range(row * step, row * step + step)
                         for i in range(col * step, col * step + step)]
                data += bytes(int(sum(p[c] for p in block) / len(block) + 0.5) for c in range(channels))
        return types.SimpleNamespace(get_data=lambda: bytes(data)), dest_width, dest_height, channels

    def get_parasite(self, name):
        return self.parasites.get(name)

    def attach_parasite(self, parasite):
        self.parasites[parasite.name] = parasite

    def create_mask(self, kind):
        if kind == "white":
            return Channel(self.width, self.height, b"\xff" * (self.width * self.height))
        assert kind == "selection"
        return ("mask from the selection", self.x, self.y, self.width, self.height)

    def add_mask(self, mask):
        self.ops.append(("add mask", mask))
        if isinstance(mask, Channel):
            self.mask = mask

    def set_offsets(self, x, y):
        self.x, self.y = x, y

    def scale(self, width, height, local_origin):
        self.ops.append(("scale", width, height))
        self.width, self.height = width, height

    def resize(self, width, height, offx, offy):
        self.ops.append(("resize", width, height, offx, offy))
        self.width, self.height, self.x, self.y = width, height, self.x - offx, self.y - offy

    def update(self, x, y, width, height):
        self.ops.append(("update", x, y, width, height))


@dataclass
class Parasite:
    name: str
    flags: int
    data: bytes

    @property
    def size(self):
        return len(self.data)

    def get_data(self):
        """As GIMP 3.0.4's PyGObject gives it: a list of signed ints."""
        return [value - 256 if value > 127 else value for value in self.data]


class Image:
    def __init__(self, width, height, layers, selection: bytes | None = None, selected=(), base_type="RGB"):
        self.width, self.height, self.layers = width, height, layers
        self.selection = Channel(width, height, selection)
        self.selected = list(selected)
        self.base_type = base_type
        self.undo_depth, self.undo_groups = 0, 0

    def get_width(self): return self.width
    def get_height(self): return self.height
    def get_layers(self): return list(self.layers)
    def get_selected_layers(self): return list(self.selected)
    def get_selection(self): return self.selection
    def get_base_type(self): return self.base_type

    def siblings(self, parent):
        return self.layers if parent is None else parent.children

    def get_item_position(self, item):
        return self.siblings(item.parent).index(item)

    def insert_layer(self, layer, parent, position):
        assert self.undo_depth > 0, "layers are added inside an undo group"
        layer.parent = parent
        self.siblings(parent).insert(position, layer)
        self.selected = [layer]  # like GIMP: the new layer becomes the active one

    def undo_group_start(self):
        self.undo_depth += 1

    def undo_group_end(self):
        assert self.undo_depth > 0
        self.undo_depth -= 1
        self.undo_groups += 1


def _gimp_module(log: list) -> types.SimpleNamespace:
    def new_layer(image, name, width, height, image_type, opacity, mode):
        log.append(("new", name, image_type))
        return Layer(name, width, height, opacity=opacity)

    def new_parasite(name, flags, data):
        """Like GIMP 3.0.4's: the data a list of signed ints (gchar); 128..255 raise OverflowError."""
        if any(not -128 <= value <= 127 for value in data):
            raise OverflowError("not in range -128 to 127")
        return Parasite(name, flags, bytes(value & 0xFF for value in data))

    def bounds(image):
        selection = image.selection.buffer
        selected = [(x, y) for y in range(image.height) for x in range(image.width) if selection.pixel(x, y)[0]]
        if not selected:
            return True, False, 0, 0, 0, 0
        xs, ys = [x for x, _ in selected], [y for _, y in selected]
        return True, True, min(xs), min(ys), max(xs) + 1, max(ys) + 1

    return types.SimpleNamespace(
        Layer=types.SimpleNamespace(new=new_layer),
        Parasite=types.SimpleNamespace(new=new_parasite),
        PARASITE_PERSISTENT=1,
        Selection=types.SimpleNamespace(bounds=bounds),
        ImageType=types.SimpleNamespace(RGBA_IMAGE="RGBA", GRAYA_IMAGE="GRAYA"),
        ImageBaseType=types.SimpleNamespace(RGB="RGB", GRAY="GRAY"),
        AddMaskType=types.SimpleNamespace(SELECTION="selection", WHITE="white"),
        LayerMode=types.SimpleNamespace(NORMAL="normal"),
        InterpolationType=types.SimpleNamespace(CUBIC="cubic"),
        context_push=lambda: log.append(("context", "push")),
        context_pop=lambda: log.append(("context", "pop")),
        context_set_interpolation=lambda kind: log.append(("interpolation", kind)),
        displays_flush=lambda: log.append(("flush",)),
        progress_init=lambda text: log.append(("progress", text)),
        progress_set_text=lambda text: log.append(("progress", text)),
        progress_update=lambda fraction: log.append(("progress", fraction)),
        progress_end=lambda: log.append(("progress", "end")),
    )


def install(monkeypatch) -> list:
    """Fake gi, gi.repository.Gimp and .Gegl for this test; returns the log of Gimp calls."""
    log: list = []
    gi = types.ModuleType("gi")
    gi.require_version = lambda name, version: None
    repository = types.ModuleType("gi.repository")
    repository.Gimp = _gimp_module(log)
    def new_buffer(fmt, x, y, width, height):
        assert fmt == "RaGaBaA float"
        return Buffer(width, height, 4, x=x, y=y, premultiplied=True)

    repository.Gegl = types.SimpleNamespace(Rectangle=types.SimpleNamespace(new=Rectangle),
                                            AbyssPolicy=types.SimpleNamespace(NONE="none"),
                                            Buffer=types.SimpleNamespace(new=new_buffer))
    gi.repository = repository
    monkeypatch.setitem(sys.modules, "gi", gi)
    monkeypatch.setitem(sys.modules, "gi.repository", repository)
    return log
