"""Change-to-preview latency of Live preview in a real GIMP 3, split into phases.

    python tests/gimp/live_bench.py --out docs/benchmark/live-preview.json [--changes 40] [--model NAME]

The server (`python -m server`, embedded model, its default threads) runs on a free loopback port and
the plug-in (laid out by install.py) in the GIMP 3 chroot the end-to-end tests build (root needed), once
per gRPC stack: grpcio (given to GIMP's python3 as in the click benchmark) and the plug-in's own
pure-Python one. tests/gimp/live_batch.py (mode "bench") builds a 1024 x 1024 document with 3 layers (no
selection: the region is the canvas), opens the window and moves a layer `--changes` times, each after a
random pause of 0-300 ms (so a change falls anywhere in the poll's cycle), timing each change until its
preview is on screen.

Phases: wait (the change until the poll that saw it began), read (that poll reading the image into the
request), dispatch (the poll until the call began), call (the gRPC round trip; of it, server is
Realize's own seconds and queue its wait in the server's queue), show (the answer until the picture
was set). After GIMP, with the machine quiet, the same kind of request straight from this process, each call
followed by the bare network here (the embedded model's regressor and one generator forward at its
resolution, torch's default threads like the server): the server's part as a ratio to the bare pass,
(`--model portraits-stylemap-64`: the same with the embedded StyleMapGAN, its encoder and generator),
both measured in the same rounds. The in-GIMP server seconds are given against that bare pass too (GIMP
and the window share the 2 cores with the server then).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: `tests` and `server` import from there
from server.engine.latents import STYLEMAP  # noqa: E402
from server.models import load_model  # noqa: E402
from server.models.loading import EMBEDDED_MODELS, embedded_beside  # noqa: E402
from server.tools.server_process import server  # noqa: E402
from tests.gimp.click_bench import installed_plugin  # noqa: E402
from tests.gimp.gimp_display import xvfb  # noqa: E402
from tests.gimp.gimp_run import EMBEDDED, GRPCIO, prepare_root, run_gimp  # noqa: E402
from tests.support.paths import REPO  # noqa: E402

SIDE = 1024
PHASES = ("total", "wait", "read", "dispatch", "call", "server", "queue", "show")


def summarise(runs: list[dict]) -> dict:
    """Median and 95th percentile of each phase, in ms."""
    out = {}
    for phase in PHASES:
        values = sorted(1000 * run[phase] for run in runs)
        out[phase] = {"median": statistics.median(values),
                      "p95": values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]}
    return out


def bare_pass(model):
    """The model's regressor + one generator forward on one input at its resolution."""
    g, r = model.generator, model.regressor
    size = g.resolution
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = torch.ones(1, 1, size, size)

    @torch.no_grad()
    def bare():
        if g.latent_kind == STYLEMAP:
            g.synthesis(r(image * mask))
        else:
            g.synthesis(r(image * mask, mask), noise_mode="const")

    return bare


def quiet_calls(address: str, model_name: str, calls: int = 40) -> dict:
    """With GIMP gone: the kind of request the window sends for this document (three layers read at the
    model's scale) over grpcio from this process, each call followed by the bare pass here, so that both
    see the same machine; medians in ms (the server's own seconds, the round trip, the bare pass)."""
    sys.path.insert(0, str(REPO / "gimp_plugin" / "gan_collage"))
    from core import layer_data, requests
    from server.shared.grpcio_client import GrpcioClient

    model = load_model(EMBEDDED_MODELS[model_name] if model_name else EMBEDDED.parent)
    side = model.generator.resolution
    step = SIDE // side

    def pattern(width: int, height: int) -> bytes:
        return (bytes(range(256)) * (width * height // 64 + 1))[:width * height * 4]

    layers = [layer_data.LayerData(name, width // step, height // step, pattern(width // step, height // step),
                                x=x, y=y, canvas_width=width, canvas_height=height)
              for name, width, height, x, y in (("background", SIDE, SIDE, 0, 0), ("photo", 512, 336, 128, 256),
                                                ("patch", 256, 256, 512, 512))]
    plan = layer_data.ReadPlan.of(None, SIDE, SIDE, side)
    canvas = layer_data.CanvasData(SIDE, SIDE, layers, plan.region)
    request = requests.realize_request(canvas, layer_data.Options(), model_name)
    bare = bare_pass(model)
    times: dict = {"server": [], "call": [], "bare": []}
    with GrpcioClient(address) as client:
        for index in range(calls + 1):
            started = time.perf_counter()
            *_, answer = client.call("Realize", request, 60)  # progress events, then the result
            call = time.perf_counter() - started
            started = time.perf_counter()
            bare()
            if index:  # the first round warms up
                times["call"].append(1000 * call)
                times["server"].append(1000 * answer["result"]["metrics"]["seconds"])
                times["bare"].append(1000 * (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in times.items()}


def bench(root: Path, changes: int, stack: str, plugin: Path, workdir: Path, address: str, model: str) -> dict:
    params = {"server": address, "mode": "bench", "side": SIDE, "changes": changes, "model": model}
    with xvfb(root) as display:
        report, _ = run_gimp(root, plugin, "live_batch.py", params, workdir,
                             f"DISPLAY={display}" + (f" {GRPCIO}" if stack == "grpcio" else ""), lambda gimp: None,
                             timeout=900)
    if "error" in report:
        raise RuntimeError(report["error"])
    return dict(summarise(report["runs"]), changes=len(report["runs"]), dropped=report["dropped"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--model", default="", choices=["", *embedded_beside("default")],
                        help="a shipped model by its served name (default: the server's default)")
    args = parser.parse_args(argv)
    root = prepare_root()
    results = {"document": f"{SIDE} x {SIDE}, 3 layers, no selection", "model": args.model or "default", "stacks": {}}
    with server(threads=0) as running, tempfile.TemporaryDirectory() as installed:
        plugin = installed_plugin(REPO, Path(installed))
        for stack in ("grpcio", "pure-python"):
            with tempfile.TemporaryDirectory() as workdir:
                results["stacks"][stack] = bench(root, args.changes, stack, plugin, Path(workdir), running.address,
                                                 args.model)
            row = results["stacks"][stack]
            print(f"{stack}: change-to-preview median {row['total']['median']:.0f} ms, "
                  f"p95 {row['total']['p95']:.0f} ms "
                  f"(" + ", ".join(f"{p} {row[p]['median']:.1f}" for p in PHASES[1:]) + " ms)", flush=True)
        results["quiet"] = quiet = quiet_calls(running.address, args.model)
    results["bare_regressor_generator_ms"] = quiet["bare"]
    quiet["server_over_bare"], quiet["call_over_bare"] = quiet["server"] / quiet["bare"], quiet["call"] / quiet["bare"]
    results["torch_threads"] = torch.get_num_threads()
    for stack, row in results["stacks"].items():
        row["server_over_bare"] = row["server"]["median"] / results["bare_regressor_generator_ms"]
        row["call_over_bare"] = row["call"]["median"] / results["bare_regressor_generator_ms"]
    print(f"bare regressor + generator {results['bare_regressor_generator_ms']:.1f} ms; server/bare in GIMP "
          + ", ".join(f"{s} {r['server_over_bare']:.2f}" for s, r in results["stacks"].items())
          + f"; with GIMP gone: server {quiet['server']:.1f} ms ({quiet['server_over_bare']:.2f}), round trip "
          f"{quiet['call']:.1f} ms ({quiet['call_over_bare']:.2f})", flush=True)
    if args.out:
        save(args.out, results)
    return 0


def save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
