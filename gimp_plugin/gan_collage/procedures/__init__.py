"""The procedures' run functions: GIMP's arguments in, the core's work, GIMP's return values out.

gan_collage.py (the entry) only registers them. They import gi but need no running GIMP, so tests
import them with a stand-in for gi (tests/plugin/test_procedures.py).
"""
