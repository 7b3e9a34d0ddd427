"""The plug-in's entry and run functions imported without a running GIMP (a stand-in for gi), the one table
from outcome to GIMP's status, and the observer hook's report files."""
from __future__ import annotations

import importlib
import json
import sys
import types
from unittest import mock

import pytest

from core import observer
from core.connection import CallError, TransportError
from core.errors import Cancelled, UserError
from core.outcome import Outcome, outcome_of
from core.settings import Config, ConfigError

STATUSES = ("SUCCESS", "CANCEL", "EXECUTION_ERROR", "CALLING_ERROR")


class Values:
    """What procedure.new_return_values gives: the status and the error, then the values."""

    def __init__(self, status, error):
        self.items = [status, error]

    def remove(self, index):
        del self.items[index]

    def insert(self, index, value):
        self.items.insert(index, value)


class Procedure:
    def __init__(self, name="python-fu-gan-collage-realize"):
        self.name = name

    def get_name(self):
        return self.name

    def new_return_values(self, status, error):
        return Values(status, error)


@pytest.fixture
def gimp(monkeypatch):
    """A stand-in gi with just enough of Gimp, GLib and GObject; GTK and GimpUi are mocks. The plug-in's
    modules that import gi are imported afresh under it (and forgotten afterwards)."""
    gi = types.ModuleType("gi")
    gi.require_version = lambda name, version: None
    repository = types.ModuleType("gi.repository")
    repository.Gimp = types.SimpleNamespace(
        PDBStatusType=types.SimpleNamespace(**{name: name for name in STATUSES}),
        RunMode=types.SimpleNamespace(INTERACTIVE="interactive", NONINTERACTIVE="noninteractive"),
        ImageBaseType=types.SimpleNamespace(INDEXED="indexed", RGB="rgb"),
        ProcedureSensitivityMask=types.SimpleNamespace(DRAWABLE=1, DRAWABLES=2, NO_DRAWABLES=4),
        PlugIn=object, main=mock.Mock(), directory=lambda: "/nowhere", Layer=object)
    repository.GLib = types.SimpleNamespace(Error=lambda message="": ("error", message))
    repository.GObject = types.SimpleNamespace(Value=lambda kind, value: ("value", value), TYPE_STRING=str,
                                               ParamFlags=types.SimpleNamespace(READWRITE=3))
    for name in ("Gegl", "GimpUi", "Gtk", "GdkPixbuf"):
        setattr(repository, name, mock.MagicMock())
    gi.repository = repository
    monkeypatch.setitem(sys.modules, "gi", gi)
    monkeypatch.setitem(sys.modules, "gi.repository", repository)
    with_gi = ("gan_collage", "gimp_io", "procedures", "ui")
    for name in [n for n in sys.modules if n.split(".")[0] in with_gi]:
        monkeypatch.delitem(sys.modules, name)
    yield repository.Gimp
    for name in [n for n in sys.modules if n.split(".")[0] in with_gi]:
        del sys.modules[name]


def test_expected_failures_map_to_one_outcome_each():
    setup = Config()
    assert outcome_of(Cancelled(), setup) == (Outcome.CANCELLED, "")
    assert outcome_of(CallError("CANCELLED", "by the client"), setup) == (Outcome.CANCELLED, "")
    outcome, message = outcome_of(CallError("UNAVAILABLE", "connect failed"), setup)
    assert outcome is Outcome.FAILED and message.startswith("Cannot reach the GAN Collage server")
    outcome, message = outcome_of(ConfigError("server: the address is empty"), None)
    assert outcome is Outcome.FAILED and "settings file cannot be used" in message
    assert outcome_of(UserError("Select two layers."), setup) == (Outcome.FAILED, "Select two layers.")
    assert outcome_of(TransportError("no gRPC"), setup) == (Outcome.FAILED, "no gRPC")
    with pytest.raises(KeyError):  # not an expected failure: never_silent tells it as unforeseen
        outcome_of(KeyError("x"), setup)


def test_every_outcome_has_one_gimp_status(gimp):
    returns = importlib.import_module("procedures.returns")
    assert set(returns.STATUS) == set(Outcome)
    assert [returns.STATUS[o] for o in Outcome] == list(STATUSES)
    done = returns.answer(Procedure(), Outcome.DONE, value=("value", "report"))
    assert done.items == ["SUCCESS", ("value", "report")]
    assert returns.answer(Procedure(), Outcome.CANCELLED).items == ["CANCEL", ("error", "")]
    failed = returns.answer(Procedure(), Outcome.FAILED, "  ")  # never an empty message
    assert failed.items[0] == "EXECUTION_ERROR" and failed.items[1][1].startswith("GAN Collage ran into a problem")


def test_never_silent_answers_an_unforeseen_exception(gimp):
    returns = importlib.import_module("procedures.returns")

    def broken(procedure, *args):
        raise ZeroDivisionError("boom")

    answered = returns.never_silent(broken)(Procedure())
    assert answered.items[0] == "EXECUTION_ERROR" and "ZeroDivisionError: boom" in answered.items[1][1]

    def leaving(procedure, *args):
        raise SystemExit(3)  # not an Exception: it used to leave GIMP with no return values

    left = returns.never_silent(leaving)(Procedure())
    assert left.items[0] == "EXECUTION_ERROR" and "SystemExit" in left.items[1][1]


def test_the_entry_imports_without_gimp_running(gimp):
    entry = importlib.import_module("gan_collage")
    assert entry.INCOMPLETE == ""
    gimp.main.assert_not_called()  # only when GIMP runs the file
    names = entry.GanCollage().do_query_procedures()
    assert names == [entry.PREFIX + name for name in ("realize", "refine", "project", "interpolate", "style-mix",
                                                      "local-blend", "edit", "live", "settings")]


def test_run_functions_refuse_before_reading_or_calling(gimp):
    image_actions = importlib.import_module("procedures.image_actions")
    live = importlib.import_module("procedures.live")
    no_image = image_actions.run_action(Procedure(), "noninteractive", None, [], None, None)
    assert no_image.items == ["CALLING_ERROR", ("error", "GAN Collage needs an image.")]
    indexed = mock.Mock(get_base_type=lambda: "indexed")
    refused = image_actions.run_action(Procedure(), "noninteractive", indexed, [], None, None)
    assert refused.items[0] == "EXECUTION_ERROR" and "Image > Mode > RGB" in refused.items[1][1]
    scripted = live.run_live(Procedure("python-fu-gan-collage-live"), "noninteractive", indexed, [], None, None)
    assert scripted.items == ["CALLING_ERROR", ("error", live.SCRIPTS_REFUSED)]


def test_the_report_files_observer_writes_only_the_files_named(tmp_path):
    report, timings = tmp_path / "report.jsonl", tmp_path / "timings.jsonl"
    silent = observer.ReportFiles(environ={})
    silent.record("dialog", {"procedure": "x"})
    silent.record("live-status", "Updating the preview...")
    silent.record("edit-preview", [["pc1", 2.0]])
    assert not silent.watching("dialog") and silent._collected == {}  # nothing kept without a report file
    files = observer.ReportFiles(environ={observer.REPORT_ENV: str(report), observer.TIMINGS_ENV: str(timings)})
    files.process_started = 12.5
    files.record("dialog", {"procedure": "a"})
    files.record("live-status", "Connecting...")
    files.record("live-preview", {"read": 0.1})  # a test's own observer takes these
    files.record("edit-preview", [["pc1", 2.0]])
    files.record("live-closed", {"procedure": "python-fu-gan-collage-live", "previews": 1})
    files.record("edit-preview", [["pc1", 2.0], ["sefa8", -1.0]])
    files.record("edit-closed", {"procedure": "python-fu-gan-collage-edit", "rows": "default"})
    files.record("edit-closed", {"procedure": "python-fu-gan-collage-edit", "rows": "all"})  # a second dialog
    files.record("timings", {"procedure": "b", "seconds": {}})
    assert [json.loads(line) for line in report.read_text().splitlines()] == [
        {"procedure": "a"}, {"procedure": "python-fu-gan-collage-live", "previews": 1, "statuses": ["Connecting..."]},
        {"procedure": "python-fu-gan-collage-edit", "rows": "default",
         "previews": [[["pc1", 2.0]], [["pc1", 2.0], ["sefa8", -1.0]]]},
        {"procedure": "python-fu-gan-collage-edit", "rows": "all", "previews": []}]
    assert files._collected == {}  # each window's entries go with its closing line
    assert json.loads(timings.read_text()) == {"procedure": "b", "seconds": {}, "process_started": 12.5}
