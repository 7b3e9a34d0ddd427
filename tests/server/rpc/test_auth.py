"""The bearer token: accepted, refused when missing or wrong; health stays open; no token off loopback."""
from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.rpc.server import ServerOptions, start_server
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.shared.errors import CallError
from server.shared.grpcio_client import GrpcioClient
from tests.support.servers import realize_request, serving

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded(catalog):
    with serving(catalog, token=TOKEN) as server:
        yield server


def test_right_token_is_accepted(guarded):
    info = guarded.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=guarded.metadata)
    assert info.api_version == "gancollage.v1"
    assert guarded.realize(realize_request())[-1].HasField("result")


@pytest.mark.parametrize("metadata, message", [
    ((), "needs a token"),
    ((("authorization", "Bearer wrong"),), "wrong token"),
    ((("authorization", TOKEN),), "wrong token"),  # the scheme is part of it
])
def test_missing_or_wrong_token_is_refused(guarded, metadata, message):
    for call in (lambda: guarded.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=metadata),
                 lambda: list(guarded.stub.Realize(realize_request(), metadata=metadata))):
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED and message in error.value.details()
    assert guarded.jobs.length == 0  # a refused call never reaches the queue


def test_health_needs_no_token(guarded):
    answer = health_pb2_grpc.HealthStub(guarded.channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_no_token_beyond_loopback(catalog, host):
    with pytest.raises(ValueError, match="without a token"):
        start_server(catalog, ServerOptions(host=host, port=0))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert PEM, key PEM)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    return (folder / "cert.pem").read_bytes(), (folder / "key.pem").read_bytes()


def test_tls_with_token(catalog, certificate):
    cert, key = certificate
    with serving(catalog, token=TOKEN, tls_cert=cert, tls_key=key) as server:
        with GrpcioClient(server.address, TOKEN, tls_ca=cert) as client:
            (event,) = client.call("GetServerInfo", {}, timeout=10)
            assert event["result"]["api_version"] == "gancollage.v1"
        with GrpcioClient(server.address, TOKEN) as plaintext:  # no TLS: the handshake fails
            with pytest.raises(CallError) as error:
                list(plaintext.call("GetServerInfo", {}, timeout=10))
            assert error.value.code == "UNAVAILABLE"
