"""How a run ended, in the plug-in's own terms (GIMP-free): procedures/returns.py maps each to GIMP's status."""
from __future__ import annotations

import enum

from server.shared.errors import CallError

from .connection import TransportError
from .errors import Cancelled, UserError
from .messages import explain
from .settings import Config, ConfigError


class Outcome(enum.Enum):
    DONE = "done"                # the layers were added, the settings saved
    CANCELLED = "cancelled"      # the artist cancelled a dialog, or the call
    FAILED = "failed"            # the message says why and what to do
    WRONG_CALL = "wrong call"    # called without what it needs (no image; Live preview from a script)


def unusable_settings(exc: ConfigError) -> str:
    return ("GAN Collage's settings file cannot be used. Open Filters > Generative > GAN Collage > Server settings "
            f"and press OK to write a new one.\n({exc})")


def outcome_of(exc: Exception, setup: Config | None) -> tuple[Outcome, str]:
    """An action's expected failure as (outcome, the artist's message); anything else propagates."""
    if isinstance(exc, Cancelled) or isinstance(exc, CallError) and exc.code == "CANCELLED":
        return Outcome.CANCELLED, ""
    if isinstance(exc, CallError):
        return Outcome.FAILED, explain(exc, setup or Config())
    if isinstance(exc, ConfigError):
        return Outcome.FAILED, unusable_settings(exc)
    if isinstance(exc, (UserError, TransportError)):
        return Outcome.FAILED, str(exc)
    raise exc


EXPECTED = (Cancelled, CallError, ConfigError, UserError, TransportError)  # what outcome_of takes
