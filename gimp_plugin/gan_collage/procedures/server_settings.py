"""Server settings' run function: show and save the settings file's values, then test the connection."""
from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GObject  # noqa: E402

from core import settings as settings_file  # noqa: E402
from core.connection import CallError, TransportError, connect  # noqa: E402
from core.errors import UserError  # noqa: E402
from core.messages import explain  # noqa: E402
from core.models import model_label  # noqa: E402
from core.outcome import Outcome  # noqa: E402
from procedures.image_actions import settings_path  # noqa: E402
from procedures.returns import answer  # noqa: E402
from ui import dialogs  # noqa: E402

FIELDS = {"server": "server", "token": "token", "model": "model", "transport": "transport"}  # property: field
ASK_SECONDS = 30  # for each of the server's info and models


def server_models(setup) -> tuple[dict, list]:
    """(GetServerInfo, ListModels' models); CallError/TransportError when the server cannot be reached."""
    with connect(setup) as connection:
        return {**connection.info(ASK_SECONDS), "via": connection.description}, connection.models(ASK_SECONDS)


def check_connection(setup) -> str:
    """One paragraph about the server and its models; CallError/TransportError when it cannot be reached."""
    info, models = server_models(setup)
    text = (f"Connected to GAN Collage server {info['version']} at {setup.server} (on {info['device']}), through "
            f"{info['via']}. Models: {', '.join(model_label(m) for m in models)}.")
    if setup.model and setup.model not in {m["name"] for m in models}:
        raise UserError(f"{text}\nThe model {setup.model!r} is not on this server: pick one of its models.")
    return text


def dialog_models(setup) -> list:
    """The server's models for the settings dialog's list; empty when it cannot be reached now."""
    try:
        return [{"name": m["name"], "label": model_label(m)} for m in server_models(setup)[1]]
    except (CallError, TransportError, settings_file.ConfigError):
        return []


def token_refused(config) -> str:
    """Why the settings dialog's token cannot be saved ("" when it can), as it will be saved (trimmed)."""
    return settings_file.token_refusal(config.get_property("token").strip())


def run_settings(procedure, config, data):
    """A damaged file is replaced; the settings are saved even when the test fails."""
    run_mode = config.get_property("run-mode")
    path = settings_path()
    try:
        setup, note = settings_file.load(path), ""
    except settings_file.ConfigError as exc:
        setup, note = settings_file.Config(), f" (the old file was unreadable and was replaced: {exc})"
    if run_mode != Gimp.RunMode.NONINTERACTIVE:
        for prop, field in FIELDS.items():
            config.set_property(prop, getattr(setup, field))
    shown = [*FIELDS, "test-connection"]
    if run_mode == Gimp.RunMode.INTERACTIVE and not dialogs.run(procedure, config, shown, models=dialog_models(setup),
                                                                refuse=token_refused):
        return answer(procedure, Outcome.CANCELLED)
    refusal = token_refused(config)
    if refusal:
        return answer(procedure, Outcome.FAILED, f"GAN Collage settings were not saved. {refusal}")
    for prop, field in FIELDS.items():
        setattr(setup, field, config.get_property(prop).strip())
    try:
        settings_file.save(path, setup)
    except (settings_file.ConfigError, OSError) as exc:
        return answer(procedure, Outcome.FAILED, f"GAN Collage settings were not saved: {exc}")
    report = f"Settings saved in {path}{note}."
    if config.get_property("test-connection"):
        try:
            report += "\n" + check_connection(setup)
        except CallError as exc:
            return answer(procedure, Outcome.FAILED, f"{explain(exc, setup)}\n({report})")
        except (UserError, TransportError) as exc:
            return answer(procedure, Outcome.FAILED, f"{exc}\n({report})")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        dialogs.inform("GAN Collage settings saved", report)
    return answer(procedure, Outcome.DONE, value=GObject.Value(GObject.TYPE_STRING, report))
