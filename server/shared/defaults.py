"""Defaults and limits that both the server and the GIMP plug-in use, written once.

Standard library only (nothing at all, in fact): install.py copies this file into the plug-in, whose
dialogs take their default and largest values from here, and whose stored latents are checked against
the server's latent limits before they are sent.
"""

DEFAULT_STEPS = 200  # optimisation steps when a request leaves them at 0
MAX_STEPS = 10_000
DEFAULT_MARGIN = 0.125  # region of interest: margin around the selection, a fraction of its longer side
MAX_MARGIN = 4.0
DEFAULT_FEATHER = 8.0  # the result's edge, in canvas pixels, fading in inside the selection
MAX_FEATHER = 1024.0
MAX_LATENT_SIDE = 1 << 16  # the longest side of a latent's shape
MAX_LATENT_VALUE = 1e4  # |w| of real latents stays in the tens; beyond this the generator's output overflows
