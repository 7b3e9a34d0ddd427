"""What stops an action short, apart from a failed call (server.shared.errors.CallError)."""
from __future__ import annotations


class UserError(Exception):
    """Something the artist can fix in the image (select two layers, make a selection, ...)."""


class Cancelled(Exception):
    """The artist cancelled a dialog the action showed."""

