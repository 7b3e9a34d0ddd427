"""`python -m server.studio`: a local Ray cluster (2 CPUs) with 2 CPU replicas of one model each, over real
loopback gRPC through Ray Serve's gRPC proxy; the unchanged CLI client and the plug-in's two transports
against it, and the same answers and statuses as the plain server."""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="the studio needs the `studio` extra (ray[serve]), not installed here")

from core import actions  # noqa: E402
from core.connection import Connection  # noqa: E402
from core.layer_data import LayerData, Options  # noqa: E402
from core.session import Session  # noqa: E402
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb  # noqa: E402
from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc  # noqa: E402
from server.shared.errors import CallError  # noqa: E402
from server.tools.server_process import server  # noqa: E402
from tests.support.servers import canvas, realize_request, run_client, wait_until  # noqa: E402

TOKEN = "studio-s3cret"
METADATA = (("authorization", f"Bearer {TOKEN}"),)
STOP_SECONDS = 60  # for the studio to stop its replicas and its local cluster
# for Ray, Serve and both replicas to start: about 60 s on 2 free cores, over 120 s when other jobs share them
START_SECONDS = 400


class Studio:
    def __init__(self, running, ray_dir: str):
        self.running = running
        self.address = "127.0.0.1:" + running.address.rsplit(":", 1)[1]  # the proxy listens on [::]
        self.ray_dir = Path(ray_dir)
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.GanCollageStub(self.channel)

    def replica_logs(self) -> dict[str, str]:
        """Each replica's log (Ray Serve's replica log file, where the replica also logs its model loads)."""
        return {path.name: path.read_text(errors="replace")
                for path in self.ray_dir.glob("**/session_latest/logs/serve/replica_*_Replica_*.log")}


@pytest.fixture(scope="module")
def studio(model_paths):
    default, models_dir = model_paths
    ray_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    try:
        with server("--model", str(default), "--models-dir", str(models_dir), "--replicas", "2", "--num-cpus", "2",
                    "--models-per-replica", "1", "--token", TOKEN, module="server.studio", threads=0,
                    env={"RAY_TMPDIR": ray_dir}, grace=STOP_SECONDS, startup_seconds=START_SECONDS) as running:
            studio = Studio(running, ray_dir)
            yield studio
            studio.channel.close()
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def plain(model_paths):
    """The plain server with the same models and token, for comparisons."""
    default, models_dir = model_paths
    with server("--model", str(default), "--models-dir", str(models_dir), "--token", TOKEN) as running:
        channel = grpc.insecure_channel(running.address)
        yield running.address, pb_grpc.GanCollageStub(channel)
        channel.close()


def events_with_times(call, into: list | None = None) -> list[tuple[float, pb.RealizeEvent]]:
    """The call's events with the time each arrived, appended to `into` as they come."""
    into = [] if into is None else into
    for event in call:
        into.append((time.monotonic(), event))
    return into


def started(event) -> bool:
    """An event of a job that runs on a replica (not one of a call still waiting)."""
    return event.WhichOneof("event") == "result" or event.progress.stage != "queued"


# ------------------------------------------------------------------------------------- the CLI client


def test_the_cli_client_unchanged(studio, tmp_path):
    from PIL import Image

    layer = tmp_path / "layer.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(layer)
    server = ("--server", studio.address)
    health = run_client("health", *server)
    assert health.returncode == 0 and health.stdout.strip() == "SERVING", health.stderr
    refused = run_client("models", *server)
    assert refused.returncode == 6 and "needs a token" in refused.stderr
    models = run_client("models", *server, "--token", TOKEN)
    assert models.returncode == 0, models.stderr
    assert {line.split()[1 if line.startswith("*") else 0] for line in models.stdout.splitlines()} >= {
        "default", "bare", "broken"}
    out = tmp_path / "realized.png"
    done = run_client("realize", *server, "--token", TOKEN, "--layer", str(layer), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (40, 30) and "regressor, 0 steps" in done.stderr
    unknown = run_client("realize", *server, "--token", TOKEN, "--model", "nope", "--layer", str(layer), "-o", str(out))
    assert unknown.returncode == 4 and "unknown model 'nope'" in unknown.stderr


# ------------------------------------------------------------------------------------- same answers, same statuses


def malformed(address: str, metadata) -> tuple[grpc.StatusCode, str]:
    """Bytes that are not a RealizeRequest."""
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_stream("/gancollage.v1.GanCollage/Realize")(b"\x0a\xff\xff", metadata=metadata)
        try:
            list(call)
        except grpc.RpcError as exc:
            return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


def outcome(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    try:
        answer = call(*args, **kwargs)
        list(answer) if not hasattr(answer, "ByteSize") else answer
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


def test_the_same_answers_and_statuses_as_the_plain_server(studio, plain):
    plain_address, plain_stub = plain
    huge = pb.Canvas(width=20000, height=20000, layers=[pb.Layer(image=pb.Image(width=20000, height=20000))])
    cases = {
        "no token": (lambda s: s.GetServerInfo, pb.GetServerInfoRequest(), ()),
        "wrong token": (lambda s: s.ListModels, pb.ListModelsRequest(), (("authorization", "Bearer guess"),)),
        "unknown model": (lambda s: s.Realize, pb.RealizeRequest(model="nope", canvas=canvas()), METADATA),
        "unreadable model": (lambda s: s.Realize, pb.RealizeRequest(model="broken", canvas=canvas()), METADATA),
        "bad field": (lambda s: s.Realize, pb.RealizeRequest(canvas=pb.Canvas(width=0, height=3)), METADATA),
        "pixel budget": (lambda s: s.Realize, pb.RealizeRequest(canvas=huge), METADATA),
        "bad latent": (lambda s: s.StyleMix, pb.StyleMixRequest(content=pb.Latent(num_ws=1, w_dim=1, values=[0.0]),
                                                                 style=pb.Latent(num_ws=1, w_dim=1, values=[0.0])),
                       METADATA),
    }
    for name, (method, request, metadata) in cases.items():
        ours, theirs = outcome(method(studio.stub), request, metadata=metadata), outcome(method(plain_stub), request,
                                                                                         metadata=metadata)
        assert ours == theirs and ours[0] != grpc.StatusCode.OK, name
    assert malformed(studio.address, METADATA) == malformed(plain_address, METADATA)
    assert malformed(studio.address, METADATA)[0] == grpc.StatusCode.INVALID_ARGUMENT

    listed = studio.stub.ListModels(pb.ListModelsRequest(), metadata=METADATA)
    assert listed == plain_stub.ListModels(pb.ListModelsRequest(), metadata=METADATA)
    info = studio.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=METADATA)
    theirs = plain_stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=METADATA)
    assert info.device == "Ray Serve: 2 replicas, cpu" and info.queue_length == 0
    for field in ("api_version", "default_model", "max_request_pixels", "max_result_pixels", "max_layers"):
        assert getattr(info, field) == getattr(theirs, field), field

    request = realize_request(seed=3)
    ours = [event for event in studio.stub.Realize(request, metadata=METADATA) if event.HasField("result")]
    theirs = [event for event in plain_stub.Realize(request, metadata=METADATA) if event.HasField("result")]
    assert ours[0].result.generated == theirs[0].result.generated and ours[0].result.layer == theirs[0].result.layer


# ------------------------------------------------------------------------------------- the plug-in's transports


@pytest.mark.parametrize("stack", ["grpcio", "grpclib"])
def test_the_plugin_transports(studio, stack, request):
    if stack == "grpcio":
        from server.shared.grpcio_client import GrpcioClient as Client
    else:
        request.getfixturevalue("grpclib_importable")
        from server.shared.grpclib_client import GrpclibClient as Client
    layer = LayerData("patch", 12, 8, bytes(range(192)) * 2, x=3, y=2)
    with Client(studio.address, TOKEN) as client:
        session = Session(Connection(client), model="", timeout=60, report=lambda text, fraction: None)
        (projected,) = actions.project(session, layer, Options())
        assert projected.name == "Projection of patch (regressor, default)"
        assert len(projected.image["rgba"]) == 32 * 32 * 4
        (optimized,) = actions.project(session, layer, Options("optimize", 3, 1))
        assert optimized.name == "Projection of patch (optimize, default, seed 1, 3 steps)"
    with Client(studio.address, "guess") as client, pytest.raises(CallError) as refused:
        list(client.call("GetServerInfo", {}, 10))
    assert refused.value.code == "UNAUTHENTICATED"


# ------------------------------------------------------------------------------------- two replicas


def long_realize(steps: int) -> pb.RealizeRequest:
    return realize_request(pb.METHOD_OPTIMIZE, steps=steps)


def test_two_optimize_jobs_run_side_by_side(studio):
    """Long enough (a few seconds each) that a replica loading its model first still overlaps the other."""
    results: dict[int, list] = {}
    STEPS = 200  # noqa: N806

    def run(index: int):
        results[index] = events_with_times(studio.stub.Realize(long_realize(STEPS), metadata=METADATA, timeout=120))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    spans = []
    for events in results.values():
        assert events[-1][1].result.metrics.steps == STEPS
        optimizing = [at for at, event in events if event.progress.stage == "optimize"]
        spans.append((optimizing[0], events[-1][0]))
    (start_a, end_a), (start_b, end_b) = spans
    assert max(start_a, start_b) < min(end_a, end_b), f"the jobs ran one after the other: {spans}"


def test_a_cancelled_job_frees_its_replica_and_a_waiting_call_sees_its_place(studio, request):
    calls = [studio.stub.Realize(long_realize(10_000), metadata=METADATA, timeout=300) for _ in range(2)]
    request.addfinalizer(lambda: [call.cancel() for call in calls])
    for call in calls:  # both replicas optimise
        assert any(started(event) and event.progress.stage == "optimize" for event in call)
    waiting: list[tuple[float, pb.RealizeEvent]] = []
    thread = threading.Thread(target=events_with_times, args=(
        studio.stub.Realize(realize_request(), metadata=METADATA, timeout=120), waiting))
    thread.start()
    assert wait_until(lambda: waiting, 10.0), "no event while waiting for a replica"
    assert waiting[0][1].progress.stage == "queued" and waiting[0][1].progress.queue_position == 0
    info = studio.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=METADATA)
    assert info.queue_length == 3
    time.sleep(0.5)
    assert not any(started(event) for _, event in waiting)
    cancelled = time.monotonic()
    calls[0].cancel()
    thread.join(60)
    start = next(at for at, event in waiting if started(event))
    assert waiting[-1][1].HasField("result")
    freed = start - cancelled
    print(f"a waiting call started {freed:.2f} s after the cancel")
    assert freed < 2.0, f"the cancelled job held its replica {freed:.2f} s"
    calls[1].cancel()
    assert wait_until(lambda: studio.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=METADATA)
                      .queue_length == 0, 10.0)


# ------------------------------------------------------------------------------------- models


def loads(log: str, model: str) -> int:
    return log.count(f"model {model!r} from ")


def test_two_models_each_stay_on_a_replica_of_their_own(studio):
    """One model per replica: requests for "default" and "bare" go to the replica that holds theirs,
    not back and forth (which would load a model on every call)."""
    def realize(model: str):
        request = realize_request(pb.METHOD_OPTIMIZE, steps=1)
        request.model = model
        (result,) = [event for event in studio.stub.Realize(request, metadata=METADATA, timeout=60)
                     if event.HasField("result")]
        assert result.result.latent.model == model

    for model in ("default", "bare"):
        realize(model)
    time.sleep(1.5)  # the replicas report the models they hold to Ray's routers every 0.1 s or so
    before = studio.replica_logs()
    assert len(before) == 2
    for model in ("default", "bare", "default", "bare", "bare", "default"):
        realize(model)
    after = studio.replica_logs()
    reloaded = {name: (loads(after[name], "default") - loads(before[name], "default"),
                       loads(after[name], "bare") - loads(before[name], "bare")) for name in after}
    assert reloaded == {name: (0, 0) for name in after}, reloaded
    holders = {model: [name for name, log in after.items() if loads(log, model)] for model in ("default", "bare")}
    assert holders["bare"], "the replicas' logs do not show the model loads"


def test_a_token_is_required(monkeypatch, capsys):
    """Ray Serve's gRPC proxy listens on every interface: never without a token."""
    from server.studio.__main__ import parse_args

    monkeypatch.delenv("GANCOLLAGE_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--port", "0"])
    assert stopped.value.code == 2 and "a --token is required" in capsys.readouterr().err
    assert parse_args(["--port", "0", "--token", TOKEN]).token == TOKEN
