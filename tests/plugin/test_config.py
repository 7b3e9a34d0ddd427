"""The plug-in's settings file: defaults without one, round trip, clear errors for a damaged one."""
from __future__ import annotations

import json
import os

import pytest

from core import settings
from core.settings import Config, ConfigError


def test_no_file_means_direct_grpc_to_the_default_address(tmp_path):
    loaded = settings.load(settings.path_in(tmp_path))
    assert loaded == Config() and loaded.server == "127.0.0.1:50051" and loaded.transport == "auto"
    assert settings.path_in(tmp_path) == tmp_path / "gan-collage.json"


def test_round_trip_is_private_to_the_user(tmp_path):
    path = tmp_path / "profile" / "gan-collage.json"
    wanted = Config(server="[::1]:6000", token="secret", model="faces", transport="pure-python",
                    server_python="/x/.venv/bin/python", timeout=90)
    settings.save(path, wanted)
    assert settings.load(path) == wanted
    assert json.loads(path.read_text())["token"] == "secret"
    if os.name != "nt":
        assert path.stat().st_mode & 0o777 == 0o600
    assert not path.with_name(path.name + ".tmp").exists()


def test_unknown_keys_are_ignored_missing_ones_default(tmp_path):
    path = tmp_path / "gan-collage.json"
    path.write_text(json.dumps({"server": "host:1", "from_a_newer_version": 1}))
    assert settings.load(path) == Config(server="host:1")


@pytest.mark.parametrize("text,message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"transport": "pigeon"}', "transport: 'pigeon' is not one of auto, grpcio, pure-python"),
    ('{"timeout": "soon"}', "timeout: expected a number"),
    ('{"timeout": 0}', "timeout: 0 is not a positive number"),
    ('{"server": 50051}', "server: expected text"),
    ('{"server": " "}', "server: the address is empty"),
])
def test_a_damaged_file_names_itself_and_the_problem(tmp_path, text, message):
    path = tmp_path / "gan-collage.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        settings.load(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_save_refuses_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="transport"):
        settings.save(tmp_path / "gan-collage.json", Config(transport="carrier"))
    assert not (tmp_path / "gan-collage.json").exists()


def test_server_command():
    assert Config(server_python="/v/bin/python").server_command() == "/v/bin/python -m server"
    assert Config(server="0.0.0.0:7000").server_command() == \
        ".venv/bin/python -m server --host 0.0.0.0 --port 7000 (in the folder where you ran install.py)"


def test_files_of_earlier_versions_still_load(tmp_path):
    """The bridge is gone: its transport means auto now, forced direct gRPC means grpcio; its keys are ignored."""
    path = tmp_path / "gan-collage.json"
    for old, new in (("bridge", "auto"), ("direct", "grpcio")):
        path.write_text(json.dumps({"transport": old, "bridge_python": "/x/python", "project_root": "/x"}))
        assert settings.load(path) == Config(transport=new)


@pytest.mark.parametrize("token,reason", [
    ("pässwort", "it holds 'ä', and a token may hold only ASCII letters, digits, punctuation and spaces"),
    ("line\nbreak", r"it holds '\n'"), ("tab\t", r"it holds '\t'"), ("secret ", "it starts or ends with a space"),
])
def test_a_token_that_could_never_reach_the_server_is_refused_with_the_reason(token, reason):
    refusal = settings.token_refusal(token)
    assert refusal.startswith(f"The token cannot be used: {reason}") and "--token" in refusal
    assert settings.token_refusal("s3cret token-with_punctuation!~") == settings.token_refusal("") == ""
