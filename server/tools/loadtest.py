"""Load test: N concurrent clients for T seconds against a server this script starts on loopback.

    python -m server.tools.loadtest --model MODEL [--clients 4] [--seconds 20] [--json OUT.json]
    python -m server.tools.loadtest --model MODEL --previews 6 [--long-steps 500] [--json OUT.json]

Each client loops over a seeded mix of Realize calls: regressor, short optimisations, and long
optimisations it cancels after their first step. After a warm-up at the same concurrency, it reports
throughput, p50/p99 latency per kind, errors by status code, and the server's RSS (VmRSS from
/proc/PID/status) before and after the run, and writes it all as JSON. Bounded: at most 32 clients,
300 seconds, and a 120-second deadline per call; the server listens on 127.0.0.1 only.

With `--previews N` it runs preview_load.py's scenario instead: N live-preview clients (a regressor
Realize every `--preview-interval` s, 100 ms by default, newest wins) alone for `--seconds`, then
beside one `--long-steps` optimisation until it ends; it reports both phases and the targets the run
missed (exit code 1 when any).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from server.shared import messages
from server.shared.errors import CallError
from server.shared.grpcio_client import GrpcioClient
from server.tools import preview_load
from server.tools.preview_load import percentile
from server.tools.server_process import REPO, server, status_kb

MAX_CLIENTS, MAX_SECONDS, CALL_DEADLINE, STARTUP_SECONDS = 32, 300.0, 120.0, 120.0
KINDS = ("regressor", "optimize", "cancel")


def canvas_request(method: str, steps: int, seed: int) -> dict:
    """A 64x48 two-layer canvas with a selection, as plain dicts."""
    rng = random.Random(seed)
    width, height = 64, 48
    bottom = bytes(rng.getrandbits(8) if i % 4 != 3 else 255 for i in range(width * height * 4))
    top = bytes(rng.getrandbits(8) for _ in range(20 * 16 * 4))
    selection = bytearray(width * height)
    for y in range(8, 40):
        selection[y * width + 12:y * width + 52] = b"\xff" * 40
    return {"canvas": {"width": width, "height": height,
                       "layers": [{"image": {"width": width, "height": height, "rgba": bottom}},
                                  {"image": {"width": 20, "height": 16, "rgba": top}, "x": 30, "y": 20,
                                   "opacity": 0.7}],
                       "selection": {"width": width, "height": height, "data": bytes(selection)}},
            "options": {"method": method, "steps": steps, "seed": seed}}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.outcomes: Counter = Counter()  # (kind, status code name)

    def record(self, kind: str, code: str, seconds: float) -> None:
        with self.lock:
            self.outcomes[kind, code] += 1
            if code == "OK":
                self.latencies[kind].append(seconds)


def one_call(client: GrpcioClient, kind: str, requests: dict) -> str:
    """Run one call of `kind`; its status code name (a cancel that cancelled counts as OK)."""
    try:
        for event in client.call("Realize", requests[kind], timeout=CALL_DEADLINE):
            if kind == "cancel" and event["event"] == "progress" and event["progress"]["stage"] == "optimize":
                client.cancel()
    except CallError as exc:
        return "OK" if kind == "cancel" and exc.code == "CANCELLED" else exc.code
    return "OK" if kind != "cancel" else "NOT_CANCELLED"


def run_clients(address: str, clients: int, seconds: float, weights: list[float], requests: dict, seed: int,
                stats: Stats, token: str | None = None) -> float:
    stop_at = time.monotonic() + seconds

    def loop(index: int):
        rng = random.Random(seed * 1000 + index)
        with GrpcioClient(address, token) as client:
            while time.monotonic() < stop_at:
                kind = rng.choices(KINDS, weights)[0]
                started = time.monotonic()
                code = one_call(client, kind, requests)
                stats.record(kind, code, time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + CALL_DEADLINE + 10)
    return time.monotonic() - started


def wait_idle(address: str, timeout: float = 30.0) -> None:
    with GrpcioClient(address) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (event,) = client.call("GetServerInfo", {}, timeout=10)
            if event["result"]["queue_length"] == 0:
                return
            time.sleep(0.1)


def summarise(stats: Stats, elapsed: float) -> dict:
    ok = {kind: len(stats.latencies[kind]) for kind in KINDS}
    errors = Counter()
    for (kind, code), count in stats.outcomes.items():
        if code != "OK":
            errors[code] += count
    everything = [s for kind in ("regressor", "optimize") for s in stats.latencies[kind]]
    return {
        "seconds": round(elapsed, 2),
        "calls": sum(stats.outcomes.values()),
        "completed": ok,
        "throughput_per_s": round(sum(ok.values()) / elapsed, 3),  # calls that ended as intended
        "latency_s": {kind: {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)}
                      for kind, values in [*((k, stats.latencies[k]) for k in KINDS), ("completed", everything)]},
        "errors_by_code": dict(errors),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.tools.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder / .pt / .pkl (or 'default') to serve")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the RSS baseline")
    parser.add_argument("--optimize-steps", type=int, default=10)
    parser.add_argument("--mix", type=float, nargs=3, default=(0.6, 0.3, 0.1),
                        metavar=("REGRESSOR", "OPTIMIZE", "CANCEL"),
                        help="weights of the three kinds of call (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--previews", type=int, default=0,
                        help="run the live-preview scenario with this many preview clients instead")
    parser.add_argument("--long-steps", type=int, default=500, help="the preview scenario's long optimisation")
    parser.add_argument("--preview-interval", type=float, default=0.1,
                        help="seconds between a preview client's changes (default: %(default)s)")
    parser.add_argument("--checkout", type=Path, default=REPO,
                        help="run the server from this checkout (e.g. an older commit, to compare)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if not (0 <= args.previews <= MAX_CLIENTS and 1 <= args.long_steps <= 10_000
            and 0.01 <= args.preview_interval <= 10):
        parser.error(f"--previews must be in [0, {MAX_CLIENTS}], --long-steps in [1, 10000], "
                     "--preview-interval in [0.01, 10]")
    if not (1 <= args.clients <= MAX_CLIENTS and 0 < args.seconds <= MAX_SECONDS and 0 <= args.warmup <= MAX_SECONDS):
        parser.error(f"--clients must be in [1, {MAX_CLIENTS}], --seconds and --warmup in (0, {MAX_SECONDS}]")

    if args.previews:
        return previews_beside_long_job(args)
    requests = {"regressor": canvas_request("regressor", 0, args.seed),
                "optimize": canvas_request("optimize", args.optimize_steps, args.seed),
                "cancel": canvas_request("optimize", 10_000, args.seed)}
    flags = ("--host", "127.0.0.1", "--model", args.model, "--max-queue", str(args.clients), "--log-level", "WARNING")
    with server(*flags, threads=args.threads, startup_seconds=STARTUP_SECONDS, checkout=args.checkout) as running:
        address = running.address
        run_clients(address, args.clients, args.warmup, list(args.mix), requests, args.seed + 1, Stats())
        wait_idle(address)
        rss_before = status_kb(running.pid, "VmRSS")
        stats = Stats()
        elapsed = run_clients(address, args.clients, args.seconds, list(args.mix), requests, args.seed, stats)
        wait_idle(address)
        rss_after = status_kb(running.pid, "VmRSS")
    emit(args, {**summarise(stats, elapsed),
                "server_rss_kb": {"before": rss_before, "after": rss_after, "growth": rss_after - rss_before}})
    return 0


def previews_beside_long_job(args) -> int:
    """preview_load.py's scenario against a server started with room in its queue for every client."""
    preview = messages.request("Realize", dict(canvas_request("regressor", 0, args.seed), skip_layer=True))
    long = messages.request("Realize", dict(canvas_request("optimize", args.long_steps, args.seed), skip_layer=True))
    flags = ("--host", "127.0.0.1", "--model", args.model, "--max-queue", str(args.previews + 1),
             "--log-level", "WARNING")
    with server(*flags, threads=args.threads, startup_seconds=STARTUP_SECONDS, checkout=args.checkout) as running:
        wait_idle(running.address)
        report = preview_load.run(running.address, preview, long, args.previews, args.preview_interval, args.seconds)
    missed = preview_load.targets_missed(report)
    emit(args, {**report, "targets_missed": missed})
    return 1 if missed else 0


def emit(args, figures: dict) -> None:
    """Print the figures after the run's configuration, and write them to --json when given."""
    report = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, **figures}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
