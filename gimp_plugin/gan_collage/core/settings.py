"""The plug-in's settings: a small JSON file in the GIMP profile, `<profile>/gan-collage.json`.

It lives beside `plug-ins/`, not inside the plug-in folder, so reinstalling the plug-in keeps what the
user chose. `install.py` writes it (the server environment's Python, for the "start the server" hint,
keeping the user's other values) and so does the Server settings procedure. Without a file every value
is its default: the plug-in talks gRPC to the server's default address.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

# vendored (core/__init__ puts vendor/ on sys.path first); install.py: its own
from server.shared.address import DEFAULT_SERVER, token_problem

FILE_NAME = "gan-collage.json"
TRANSPORTS = ("auto", "grpcio", "pure-python")
RETIRED_TRANSPORTS = {"direct": "grpcio", "bridge": "auto"}  # written by earlier versions


class ConfigError(ValueError):
    """The settings file cannot be read or holds a bad value."""


@dataclass
class Config:
    server: str = DEFAULT_SERVER
    token: str = ""          # sent as "authorization: Bearer <token>" when set
    model: str = ""          # "" = the server's default model
    transport: str = "auto"  # auto: grpcio when GIMP's Python has it, else the vendored pure-Python stack
    server_python: str = ""  # the server environment's Python (set by install.py; only for the hint)
    timeout: float = 3600.0  # seconds one call may take (its gRPC deadline)

    def check(self) -> "Config":
        """Return self, or raise ConfigError naming the first bad value."""
        for field in fields(self):
            value = getattr(self, field.name)
            expected = (int, float) if field.type == "float" else str
            if not isinstance(value, expected) or isinstance(value, bool):
                raise ConfigError(f"{field.name}: expected {'text' if expected is str else 'a number'}, "
                                  f"got {value!r}")
        if not self.server.strip():
            raise ConfigError("server: the address is empty")
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"transport: {self.transport!r} is not one of {', '.join(TRANSPORTS)}")
        if not self.timeout > 0:
            raise ConfigError(f"timeout: {self.timeout!r} is not a positive number of seconds")
        return self

    def server_command(self) -> str:
        """The command that starts a server at this address, for error messages."""
        if self.server_python:
            python, where = self.server_python, ""
        else:
            python, where = ".venv/bin/python", " (in the folder where you ran install.py)"
        if self.server == DEFAULT_SERVER:
            return f"{python} -m server{where}"
        host, _, port = self.server.rpartition(":")
        return f"{python} -m server --host {host.strip('[]')} --port {port}{where}"


def token_refusal(token: str) -> str:
    """Why the plug-in cannot use `token`, in the artist's words; "" when it can (`token_problem`: it would
    never reach the server, whose own start-up refuses such tokens)."""
    problem = token_problem(token)
    return (f"The token cannot be used: {problem}. Enter the token the GAN Collage server was started with (its "
            "--token)." if problem else "")


def path_in(profile: str | os.PathLike) -> Path:
    """The settings file of a GIMP profile folder (`Gimp.directory()` inside GIMP)."""
    return Path(profile) / FILE_NAME


def load(path: Path) -> Config:
    """The settings in `path`, or the defaults when there is no such file. Unknown keys are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    known = {field.name for field in fields(Config)}
    if data.get("transport") in RETIRED_TRANSPORTS:
        data["transport"] = RETIRED_TRANSPORTS[data["transport"]]
    try:
        return Config(**{key: value for key, value in data.items() if key in known}).check()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save(path: Path, config: Config) -> None:
    """Write atomically (a crash never leaves half a file); the token makes it private to the user."""
    config.check()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    if os.name != "nt":
        temporary.chmod(0o600)
    os.replace(temporary, path)
