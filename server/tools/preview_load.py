"""Live-preview clients beside one long job: do previews keep coming while an optimisation runs?

Each client acts as the plug-in's Live preview does for an artist who keeps painting: every
`interval` seconds the image changes, so it sends a new regressor Realize and cancels its call still
on the way, if any (newest wins: only one call per client is out at a time). Two phases against one
server: the clients alone for `baseline_seconds`, then the clients beside one long optimisation
(`long_steps` steps), until it ends. For each phase: previews completed, per client, and their
latency (sent to result) percentiles; for the long job: its code and seconds.

`python -m server.tools.loadtest --model MODEL --previews 6 --long-steps 500` runs it (loadtest.py
starts the server); tests/server/tools/test_loadtest.py checks the targets on the tiny model.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import grpc

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc

CALL_DEADLINE = 600.0


@dataclass
class Phase:
    """What the preview clients saw in one phase."""

    clients: int
    latencies: list[list[float]] = field(default_factory=list)  # per client, seconds of each completed preview
    cancelled: int = 0  # by the client's own newer preview
    errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.latencies = [[] for _ in range(self.clients)]

    def summary(self) -> dict:
        everything = [s for client in self.latencies for s in client]
        return {"completed": len(everything), "per_client": [len(client) for client in self.latencies],
                "cancelled": self.cancelled, "errors": self.errors,
                "latency_s": {"p50": percentile(everything, 0.5), "p95": percentile(everything, 0.95)}}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 4)


async def _preview(stub, request: pb.RealizeRequest, client: int, phase: Phase) -> None:
    started = time.monotonic()
    call = stub.Realize(request, timeout=CALL_DEADLINE)
    try:
        async for event in call:
            if event.HasField("result"):
                phase.latencies[client].append(time.monotonic() - started)
    except asyncio.CancelledError:
        call.cancel()
        phase.cancelled += 1  # the preview was not complete by the next change, or the phase's end
    except grpc.aio.AioRpcError as exc:
        phase.errors[exc.code().name] = phase.errors.get(exc.code().name, 0) + 1


async def _client(stub, request: pb.RealizeRequest, client: int, interval: float, phase: Phase,
                  stop: asyncio.Event) -> None:
    """A change every `interval` s: a new preview, the one still on its way cancelled. Clients start
    spread over one interval (artists do not paint in step); a preview still out at the end is cancelled."""
    current: asyncio.Task | None = None
    pause = interval * client / phase.clients
    while not await _stopped(stop, pause):
        if current is not None:
            current.cancel()
        current = asyncio.create_task(_preview(stub, request, client, phase))
        pause = interval
    if current is not None:
        current.cancel()
        await current


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`; whether `stop` was set by then."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
    return stop.is_set()


async def _phase(stub, request, clients: int, interval: float, during) -> Phase:
    """Run the clients while `during()` (a coroutine) runs."""
    phase, stop = Phase(clients), asyncio.Event()
    tasks = [asyncio.create_task(_client(stub, request, i, interval, phase, stop)) for i in range(clients)]
    try:
        await during()
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return phase


async def _long_job(stub, request: pb.RealizeRequest, outcome: dict) -> None:
    started = time.monotonic()
    code = "OK"
    try:
        async for _ in stub.Realize(request, timeout=CALL_DEADLINE):
            pass
    except grpc.aio.AioRpcError as exc:
        code = exc.code().name
    outcome.update(code=code, seconds=round(time.monotonic() - started, 2))


async def _run(address: str, preview: pb.RealizeRequest, long: pb.RealizeRequest, clients: int, interval: float,
               baseline_seconds: float) -> dict:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.GanCollageStub(channel)
        alone = await _phase(stub, preview, clients, interval, lambda: asyncio.sleep(baseline_seconds))
        long_job: dict = {}
        beside = await _phase(stub, preview, clients, interval, lambda: _long_job(stub, long, long_job))
    return {"previews_alone": alone.summary(), "previews_beside_long_job": beside.summary(), "long_job": long_job}


def run(address: str, preview: pb.RealizeRequest, long: pb.RealizeRequest, clients: int = 6,
        interval: float = 0.1, baseline_seconds: float = 10.0) -> dict:
    """Both phases against the server at `address`; the figures as a dict (see the module's docstring)."""
    return asyncio.run(_run(address, preview, long, clients, interval, baseline_seconds))


def targets_missed(report: dict, min_previews: int = 20, latency_ratio: float = 2.0,
                   latency_floor_s: float = 0.0) -> list[str]:
    """The issue's targets: at least `min_previews` previews beside the long job, every client served,
    p95 latency at most `latency_ratio` times its value alone (or `latency_floor_s`, when that is more:
    a ratio of two latencies of a few ms measures the OS scheduler), and the long job finished."""
    alone, beside = report["previews_alone"], report["previews_beside_long_job"]
    missed = []
    if beside["completed"] < min_previews:
        missed.append(f"{beside['completed']} previews completed beside the long job (target {min_previews})")
    if min(beside["per_client"]) == 0:
        missed.append(f"a client got no preview: {beside['per_client']}")
    p95_alone, p95_beside = alone["latency_s"]["p95"], beside["latency_s"]["p95"]
    if p95_alone is None or p95_beside is None or p95_beside > max(latency_ratio * p95_alone, latency_floor_s):
        missed.append(f"p95 latency {p95_beside} s beside the long job, {p95_alone} s alone "
                      f"(target at most {latency_ratio:g}x{f' or {latency_floor_s:g} s' if latency_floor_s else ''})")
    if report["long_job"].get("code") != "OK":
        missed.append(f"the long job ended {report['long_job'].get('code')}")
    return missed
