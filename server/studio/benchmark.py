"""The studio against the plain server on this machine, each as a child process with the embedded model:

    python -m server.studio.benchmark [--calls 20] [--clients 4] [--seconds 30] [--steps 30]

1. a fast Realize (the regressor, a 64x48 canvas), `--calls` round trips one after another, after a
   warm-up, through the plain server (`--threads 1`) and through a one-replica studio: medians, ratio;
2. jobs per minute for `--clients` clients each sending optimize Realizes of `--steps` steps for
   `--seconds`, with 1 and then 2 replicas (one CPU and one torch thread each, a local cluster of 2 CPUs).
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time

from server.shared.grpcio_client import GrpcioClient
from server.tools.loadtest import Stats, canvas_request, run_clients
from server.tools.server_process import server

TOKEN = "benchmark"
WARM_UP = 3


def round_trips(address: str, calls: int, token: str | None) -> float:
    """Median seconds of a fast Realize, after a warm-up."""
    request = canvas_request("regressor", 0, seed=1)
    seconds = []
    with GrpcioClient(address, token) as client:
        for index in range(WARM_UP + calls):
            started = time.perf_counter()
            list(client.call("Realize", request, timeout=60))
            if index >= WARM_UP:
                seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def jobs_per_minute(address: str, args) -> float:
    stats = Stats()
    requests = {"optimize": canvas_request("optimize", args.steps, seed=2)}
    elapsed = run_clients(address, args.clients, args.seconds, [0, 1, 0], requests, 0, stats, token=TOKEN)
    return len(stats.latencies["optimize"]) * 60 / elapsed


def studio(replicas: int, ray_dir: str):
    return server("--replicas", str(replicas), "--num-cpus", "2", "--cpus-per-replica", "1", "--token", TOKEN,
                  module="server.studio", threads=0, env={"RAY_TMPDIR": ray_dir}, grace=60)


def loopback(running) -> str:
    return "127.0.0.1:" + running.address.rsplit(":", 1)[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.studio.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    figures: dict = {"clients": args.clients, "steps": args.steps, "seconds": args.seconds}
    with server("--threads", "1", threads=0) as plain:
        figures["plain_realize_s"] = round(round_trips(plain.address, args.calls, None), 4)
    ray_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    try:
        for replicas in (1, 2):
            with studio(replicas, ray_dir) as running:
                address = loopback(running)
                if replicas == 1:
                    figures["studio_realize_s"] = round(round_trips(address, args.calls, TOKEN), 4)
                figures[f"jobs_per_minute_{replicas}_replicas"] = round(jobs_per_minute(address, args), 1)
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    figures["realize_ratio"] = round(figures["studio_realize_s"] / figures["plain_realize_s"], 2)
    figures["replica_speedup"] = round(figures["jobs_per_minute_2_replicas"] / figures["jobs_per_minute_1_replicas"], 2)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
