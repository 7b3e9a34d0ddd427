# Run with GIMP's python3 inside the chroot (tests/gimp/gimp_display.py): save the X display's root window as PNG.
#     DISPLAY=:N python3 screenshot.py OUT.png
import sys

import gi

gi.require_version("Gdk", "3.0")
from gi.repository import Gdk  # noqa: E402

Gdk.init([])
root = Gdk.get_default_root_window()
Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height()).savev(sys.argv[1], "png", [], [])
