"""Puts the plug-in's `vendor/` folder on sys.path: the client modules, the stubs and the region rule
(`server.region`) that install.py copies there. Imported first by every module that needs them."""
from __future__ import annotations

import sys
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"
if VENDOR.is_dir() and str(VENDOR) not in sys.path:
    sys.path.insert(0, str(VENDOR))
