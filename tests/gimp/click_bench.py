"""Click-to-layer benchmark of "Realize collage - fast" in a real GIMP 3, split into phases.

    python tests/gimp/click_bench.py --out docs/benchmark/click-to-layer.json [--checkout OLD ...]

For each checkout (this one, plus any given with --checkout, e.g. a `git worktree` of an older
commit), its server (`python -m server`, embedded model, on a free loopback port) and its plug-in (laid
out by its install.py) run in the GIMP 3 chroot that the end-to-end tests build (root needed). The
batch (tests/gimp/click_batch.py) builds each document, clicks once to warm up, then `--repeats` times.

Phases, from the plug-in's own timing line (GAN_COLLAGE_TIMINGS; checkouts whose plug-in writes none
get the total only): start (the click until the plug-in's run function is entered: GIMP starting the
plug-in process and its imports), read (GIMP image to request data), call (the gRPC call, split into
server work from the result's metrics and transport: serialising, sending, queueing, answering),
write (new layer, scaling, mask), and the total as the batch measured it around the PDB call. Also
the request's pixel bytes and the server's peak RSS growth over the case (VmHWM reset at its start).
Medians over the repeats.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: `tests` and `server` import from there
from server.tools.server_process import ServerProcess, server  # noqa: E402
from tests.gimp.gimp_run import prepare_root, run_gimp  # noqa: E402
from tests.support.paths import REPO  # noqa: E402

CASES = [
    {"name": "1024 x 1024, 2 layers, no selection", "side": 1024, "layers": 2, "selection": None},
    {"name": "4096 x 4096, 8 layers, 512 x 512 selection", "side": 4096, "layers": 8,
     "selection": [1800, 1500, 512, 512]},
]
TIMINGS = "/tmp/gan-collage-timings.jsonl"  # inside the chroot


def watch_memory(root: Path, running: ServerProcess, names: list[str]):
    """While GIMP runs: at each case's "ready" marker reset the server's peak RSS, at its "done" marker
    read it; {case: MB of growth}."""
    def during(gimp) -> dict:
        growth, base = {}, {}
        while gimp.poll() is None:
            for name in names:
                if name not in base and list(root.glob(f"tmp/gimp-batch.*/out/ready-{name}")):
                    base[name] = running.reset_peak()
                if name in base and name not in growth and list(root.glob(f"tmp/gimp-batch.*/out/done-{name}")):
                    growth[name] = running.peak_mb() - base[name]
            time.sleep(0.05)
        return growth

    return during


def summarise(runs: list[dict]) -> dict:
    def median(values):
        return statistics.median(values) if values else None

    out = {"total": median([r["seconds"] for r in runs]), "runs": len(runs), "layer": runs[0]["layer"]}
    lines = [r["plugin"] for r in runs if r["plugin"]]
    if lines:
        phases = {
            "start": [line["entered"] - r["clicked"] for r, line in zip(runs, lines)],
            "read": [line["seconds"].get("read", 0.0) for line in lines],
            "server": [line["seconds"].get("server", 0.0) for line in lines],
            "transport": [line["seconds"]["call"] - line["seconds"].get("server", 0.0) for line in lines],
            "write": [line["seconds"].get("write", 0.0) for line in lines],
        }
        out.update({name: median(values) for name, values in phases.items()})
        out["request_bytes"] = median([line.get("request_bytes", 0) for line in lines])
    return out


def installed_plugin(checkout: Path, workdir: Path) -> Path:
    """`checkout`'s plug-in folder, as its install.py lays it out in a profile under `workdir`."""
    profile = workdir / "profile"
    profile.mkdir(exist_ok=True)
    (profile / "pluginrc").touch()  # a profile as GIMP makes it: install.py refuses other folders
    subprocess.run([sys.executable, str(checkout / "install.py"), "--plugin-only", "--gimp-profile", str(profile)],
                   check=True, capture_output=True, timeout=120)
    return profile / "plug-ins" / "gan_collage"


def bench_checkout(root: Path, checkout: Path, repeats: int, workdir: Path) -> dict:
    plugin = installed_plugin(checkout, workdir)
    timings = root / TIMINGS.lstrip("/")
    timings.unlink(missing_ok=True)
    with server(checkout=checkout, threads=0) as running:
        params = {"server": running.address, "cases": [dict(case, name=str(i)) for i, case in enumerate(CASES)],
                  "repeats": repeats, "timings": TIMINGS}
        report, growth = run_gimp(root, plugin, "click_batch.py", params, workdir,
                                  f"PYTHONPATH=/opt/direct-site GAN_COLLAGE_TIMINGS={TIMINGS}",
                                  watch_memory(root, running, [str(i) for i in range(len(CASES))]),
                                  timeout=1800)
    return {case["name"]: dict(summarise(report[str(i)]), server_peak_rss_growth_mb=growth.get(str(i)))
            for i, case in enumerate(CASES)}


def commit_of(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, action="append", default=[],
                        help="another checkout to measure the same way (e.g. a git worktree of an older commit)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    root = prepare_root()
    results = {}
    for checkout in [REPO, *args.checkout]:
        checkout = checkout.resolve()
        with tempfile.TemporaryDirectory() as workdir:
            label = f"{commit_of(checkout)} ({checkout.name})"
            results[label] = bench_checkout(root, checkout, args.repeats, Path(workdir))
        for case, row in results[label].items():
            phases = ", ".join(f"{name} {row[name]:.3f} s" for name in ("start", "read", "transport", "server",
                                                                         "write") if row.get(name) is not None)
            print(f"{label} | {case}: click-to-layer {row['total']:.3f} s ({phases or 'no phases'}); request "
                  f"{(row.get('request_bytes') or 0) / 2**20:.2f} MiB; server peak RSS "
                  f"+{row['server_peak_rss_growth_mb'] or 0:.0f} MB", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
