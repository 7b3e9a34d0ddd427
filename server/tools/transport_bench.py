"""The plug-in's two gRPC stacks against each other: grpcio, and its vendored pure-Python stack (grpclib +
protobuf's Python runtime), for a 1024x1024 Realize.

    python -m server.tools.transport_bench --processes 5 --repeats 10 --out docs/benchmark/transport.json

Starts `python -m server` (embedded model, a free port), packages the plug-in (`install.py
--package-plugin`), then runs the same client in two fresh processes of this interpreter: one as is
(grpcio, protobuf's C runtime), one with `-S` (no site-packages: no grpcio, no protobuf, as in GIMP on
Windows, macOS or Flatpak), both through the plug-in's own `transport.connect`. Each times, as the
plug-in makes them in every run of an action (each run is a new process):

* `start`: importing the stack and the stubs, plus the first call (GetServerInfo) on a new connection;
* `plug-in request`: the request the plug-in sends for a 1024x1024 two-layer document without a
  selection (each layer read at 1/16: 64x64 RGBA), the generated square answered;
* `full request`: both layers whole (2 x 4 MiB of RGBA), the pasted 1024x1024 layer answered (what
  the command-line client sends).

Each stack runs in `--processes` fresh processes, taken in turns; a process times `--repeats` calls of
each request after one warm-up. Figures are medians over the processes of each process's median;
`transport` is a call's wall time minus the server's own queue + job seconds (its metrics), so the two
stacks are compared on the same server work.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIDE, STEP = 1024, 16


def layers(step: int) -> list:
    """Two canvas-covering layers (an opaque photo-like one and a half-transparent one), read at 1/step."""
    side = SIDE // step
    photo = bytes((x * 7 + y * 3) % 256 for y in range(side) for x in range(side) for _ in range(3))
    veil = bytes(v for y in range(side) for x in range(side) for v in ((x * 5) % 256, (y * 9) % 256, 90, 128))
    scale = {"canvas_width": SIDE, "canvas_height": SIDE} if step > 1 else {}
    return [{"image": {"width": side, "height": side, "rgb": photo}, **scale},
            {"image": {"width": side, "height": side, "rgba": veil}, "opacity": 0.8, **scale}]


def request(step: int) -> dict:
    sent = {"canvas": {"width": SIDE, "height": SIDE, "layers": layers(step)}, "options": {"method": "regressor"}}
    if step > 1:
        sent.update(region={"x": 0, "y": 0, "size": SIDE}, skip_layer=True)
    return sent


def client(plugin: str, server: str, stack: str, repeats: int) -> dict:
    """Run in the measured process: time the calls through the plug-in's transport."""
    started = time.perf_counter()
    sys.path.insert(0, plugin)
    import transport
    from config import Config

    connection = transport.connect(Config(server=server, transport=stack))
    list(connection.client.call("GetServerInfo", {}, 30))
    report = {"stack": connection.description, "start_s": time.perf_counter() - started}
    for name, step in (("plug-in request", STEP), ("full request", 1)):
        sent, walls, transports = request(step), [], []
        for attempt in range(repeats + 1):
            begun = time.perf_counter()
            (result,) = [event["result"] for event in connection.client.call("Realize", sent, 120)
                         if event["event"] == "result"]
            wall = time.perf_counter() - begun
            metrics = result["metrics"]
            if attempt:
                walls.append(wall)
                transports.append(wall - metrics["seconds"] - metrics["queue_seconds"])
        pixels = sum(len(layer["image"].get("rgba") or layer["image"]["rgb"]) for layer in sent["canvas"]["layers"])
        answer = result.get("layer", result.get("generated", {}))
        report[name] = {"request_bytes": pixels, "answer_bytes": len(answer.get("rgba", b"")),
                        "wall_s": statistics.median(walls), "transport_s": statistics.median(transports)}
    connection.close()
    return report


def summary(runs: list) -> dict:
    """Medians over one stack's processes."""
    def median(*keys):
        values = []
        for run in runs:
            value = run
            for key in keys:
                value = value[key]
            values.append(value)
        return statistics.median(values)

    summed = {"stack": runs[0]["stack"], "processes": len(runs), "start_s": median("start_s")}
    for name in ("plug-in request", "full request"):
        summed[name] = {**runs[0][name], "wall_s": median(name, "wall_s"), "transport_s": median(name, "transport_s")}
    return summed


def measure(repeats: int, processes: int) -> list:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, str(REPO / "install.py"), "--package-plugin", out], check=True,
                       capture_output=True)
        plugin = os.path.join(out, "gan_collage")
        from server.tools.server_process import server  # here: the plug-in's processes load this file alone

        with server(threads=0) as running:
            address = running.address
            # this file loaded by path, so that only the plug-in's own copies of the project's modules are used
            code = ("import importlib.util, json; spec = importlib.util.spec_from_file_location('bench', "
                    f"{__file__!r}); bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench); "
                    "client = bench.client; ")
            runs = {"grpcio": [], "pure-python": []}
            for _ in range(processes):
                for flags, stack in (((), "grpcio"), (("-S",), "pure-python")):
                    done = subprocess.run([sys.executable, *flags, "-c", code + f"print(json.dumps(client("
                                           f"{plugin!r}, {address!r}, {stack!r}, {repeats})))"], capture_output=True,
                                          text=True, cwd=out, check=True)
                    runs[stack].append(json.loads(done.stdout))
    return [summary(stack_runs) for stack_runs in runs.values()]


def table(runs: list) -> str:
    lines = ["| stack | start | plug-in request (wall / transport) | full request (wall / transport) |",
             "|---|---|---|---|"]
    for run in runs:
        cells = [f"{run[name]['wall_s'] * 1000:.1f} / {run[name]['transport_s'] * 1000:.1f} ms"
                 for name in ("plug-in request", "full request")]
        lines.append(f"| {run['stack']} | {run['start_s'] * 1000:.0f} ms | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="calls of each request per process")
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per stack")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    runs = measure(args.repeats, args.processes)
    print(table(runs))
    if args.out:
        args.out.write_text(json.dumps({"command": "python -m server.tools.transport_bench "
                                        + " ".join(argv or sys.argv[1:]), "runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
