"""GIMP's return values for a run's outcome: the one table from core.outcome.Outcome to a PDB status."""
from __future__ import annotations

import functools
import traceback

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GLib, GObject  # noqa: E402

from core.messages import UNFORESEEN, unforeseen  # noqa: E402
from core.outcome import Outcome  # noqa: E402

STATUS = {
    Outcome.DONE: Gimp.PDBStatusType.SUCCESS,
    Outcome.CANCELLED: Gimp.PDBStatusType.CANCEL,
    Outcome.FAILED: Gimp.PDBStatusType.EXECUTION_ERROR,
    Outcome.WRONG_CALL: Gimp.PDBStatusType.CALLING_ERROR,
}


def answer(procedure, outcome: Outcome, message: str = "", value: GObject.Value | None = None):
    """The return values: a failure carries its message (never empty), a success its one value, if any."""
    failed = outcome in (Outcome.FAILED, Outcome.WRONG_CALL)
    values = procedure.new_return_values(STATUS[outcome], GLib.Error(message.strip() or UNFORESEEN) if failed
                                         else GLib.Error())
    if value is not None:
        values.remove(1)
        values.insert(1, value)
    return values


def never_silent(run):
    """`run` (a procedure's run function) answering with a message whatever happens: GIMP shows an empty
    error for an exception that leaves the plug-in, and "returned no return values" when nothing comes
    back, so one no handler expected is told as unforeseen (its traceback goes to the terminal GIMP runs
    in). BaseException too: a SystemExit or KeyboardInterrupt would leave GIMP without an answer."""
    @functools.wraps(run)
    def guarded(procedure, *args):
        try:
            return run(procedure, *args)
        except BaseException as exc:
            traceback.print_exc()
            return answer(procedure, Outcome.FAILED, unforeseen(exc))

    return guarded
