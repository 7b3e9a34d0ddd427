"""Server work for one Realize call against the bare networks, on growing canvases.

    python server/tools/region_bench.py --out docs/benchmark/region-server.json

For each canvas side (512, 2048, 8192 by default) three layers are built: an opaque RGB photo covering
the canvas, a half-size RGBA piece with a soft round alpha, and a full-size RGBA stroke layer that is
mostly transparent. No selection: the region is the whole canvas. Two requests are timed:

* `plug-in`: what the GIMP plug-in sends, each layer read at 1/step of its size (the shared rule's
  step, premultiplied box averages like GIMP's scaled reads), the region given, no pasted layer wanted;
* `full`: every layer whole at full resolution, as the CLI sends it, with the pasted layer answered.

Server work is the request conversion (`convert.realize_from_proto`) plus the Realize job
(`engine.realize.realize`) with the regressor; the bare pass is the regressor plus one generator
forward on the same composed input. Both are medians of `--repeats` runs in this one process, so their
ratio holds on a noisy machine. Peak memory growth is the process's peak RSS (VmHWM, reset through
/proc/self/clear_refs) during one call, over its RSS before it. Run it with another checkout's
`server` package first on PYTHONPATH to measure that version with the same script (fields its
contract lacks are left out of the requests).

`--model stylemapgan-256` times a StyleMapGAN instead of the embedded model: random weights at the
widths of the official 256 px release (8 x 8 x 64 stylemap, channel multiplier 2: G 79.7 M, E 17.6 M
parameters), with the encoder as the regressor; the request's collage mode is the default,
"composite" (`--collage layers` times the other).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from server.engine.compose import compose
from server.engine.realize import realize
from server.models import load_model
from server.rpc import convert
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

LAYER_FIELDS = pb.Layer.DESCRIPTOR.fields_by_name
# the server's result-pixel limit, for a contract that has one (older checkouts' convert takes no limit)
RESULT_LIMIT = (1 << 30,) if "max_result_pixels" in pb.ServerInfo.DESCRIPTOR.fields_by_name else ()
REQUEST_FIELDS = pb.RealizeRequest.DESCRIPTOR.fields_by_name


def layers(side: int, seed: int = 0) -> list[tuple[np.ndarray, int, int]]:
    """(uint8 pixels (h, w, 3 or 4), x, y) bottom to top; see the module docstring."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    photo = np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1), np.full((side, side), 90.0)], -1)
    photo = (photo + rng.normal(0, 12, (side, side, 3))).clip(0, 255).astype(np.uint8)
    half = side // 2
    yy, xx = np.mgrid[:half, :half]
    disc = np.clip((half * 0.45 - np.hypot(yy - half / 2, xx - half / 2)) / (half * 0.05), 0, 1)
    piece = np.concatenate([rng.integers(0, 256, (half, half, 3), dtype=np.uint8),
                            (disc * 255).astype(np.uint8)[..., None]], -1)
    strokes = np.zeros((side, side, 4), np.uint8)
    for row in range(side // 8, side, side // 4):
        strokes[row:row + max(side // 64, 1), side // 8:side - side // 8] = (250, 240, 20, 255)
    return [(photo, 0, 0), (piece, side // 4, side // 5), (strokes, 0, 0)]


def box_reduced(pixels: np.ndarray, step: int) -> np.ndarray:
    """pixels at 1/step scale, premultiplied box averages (sides padded with transparency)."""
    h, w, c = pixels.shape
    H, W = -(-h // step) * step, -(-w // step) * step
    padded = np.zeros((H, W, 4), np.float64)
    padded[:h, :w, :c] = pixels
    if c == 3:
        padded[:h, :w, 3] = 255
    alpha = padded[..., 3:] / 255.0
    planes = np.concatenate([padded[..., :3] * alpha, alpha], -1)
    sums = planes.reshape(H // step, step, W // step, step, 4).mean(axis=(1, 3))
    a = sums[..., 3:]
    colour = np.divide(sums[..., :3], a, out=np.zeros_like(sums[..., :3]), where=a > 0)
    out = np.floor(np.concatenate([colour, a * 255], -1) + 0.5).clip(0, 255).astype(np.uint8)
    return out[..., :3] if c == 3 and h % step == 0 and w % step == 0 else out


def image_message(pixels: np.ndarray) -> pb.Image:
    h, w, c = pixels.shape
    if c == 3 and "rgb" not in pb.Image.DESCRIPTOR.fields_by_name:  # an older contract: RGBA only
        pixels, c = np.concatenate([pixels, np.full((h, w, 1), 255, np.uint8)], -1), 4
    kind = "rgb" if c == 3 else "rgba"
    return pb.Image(width=w, height=h, **{kind: np.ascontiguousarray(pixels).tobytes()})


def request(side: int, resolution: int, plugin: bool) -> pb.RealizeRequest:
    message = pb.RealizeRequest(canvas=pb.Canvas(width=side, height=side),
                                options=pb.ProjectionOptions(method=pb.METHOD_REGRESSOR))
    step = 1
    if plugin and "canvas_width" in LAYER_FIELDS:  # a contract with reduced-scale layers has server.shared.region
        from server.shared.region import read_step

        step = read_step(side, resolution)
    for pixels, x, y in layers(side):
        h, w = pixels.shape[:2]
        layer = message.canvas.layers.add(x=x, y=y)
        if step > 1:
            layer.image.CopyFrom(image_message(box_reduced(pixels, step)))
            layer.canvas_width, layer.canvas_height = -(-w // step) * step, -(-h // step) * step
        else:
            layer.image.CopyFrom(image_message(pixels))
    if plugin and "region" in REQUEST_FIELDS:
        message.region.CopyFrom(pb.Square(x=0, y=0, size=side))
        message.skip_layer = True
    return message


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_growth(work) -> int:
    """Bytes the process's peak RSS rose above its RSS before `work()`."""
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    work()
    return _status("VmHWM") - before


def median_seconds(work, repeats: int) -> float:
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def official_stylemapgan_256():
    """A StyleMapGAN at the official 256 px widths, random weights (speed only), as a Model."""
    from server.models import Model
    from server.models.stylemapgan import StyleMapConfig, StyleMapEncoder, StyleMapEncoderConfig, StyleMapGenerator

    torch.manual_seed(0)
    widths = {8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    g = StyleMapGenerator(StyleMapConfig(resolution=256, latent_channels=64, latent_size=8, channels=widths,
                                         stylecode_channels=widths))
    e = StyleMapEncoder(StyleMapEncoderConfig(resolution=256, latent_channels=64, latent_size=8, channels=widths))
    return Model(g, None, e, {"name": "stylemapgan-256"}).to("cpu")


def measure(model: dict, side: int, plugin: bool, repeats: int, collage: str = "") -> dict:
    g, r = model.generator, model.regressor
    message = request(side, g.resolution, plugin)
    if collage:
        message.collage = collage

    def converted():
        return convert.realize_from_proto(message, model, "default", *RESULT_LIMIT)

    def server_work():
        canvas, options = converted()
        return realize(model, canvas, options)

    result = server_work()
    canvas, options = converted()
    composed, size = compose(canvas, g.resolution), g.resolution
    image = torch.as_tensor(composed.image).reshape(1, 3, size, size)  # numpy in older checkouts
    mask = torch.as_tensor(composed.mask).reshape(1, 1, size, size)

    @torch.no_grad()
    def bare():
        g.synthesis(r(image * mask, mask), noise_mode="const")

    work_s, bare_s = median_seconds(server_work, repeats), median_seconds(bare, repeats)
    return {"canvas": side, "request": "plug-in" if plugin else "full", "request_bytes": message.ByteSize(),
            "server_seconds": work_s, "bare_seconds": bare_s, "ratio": work_s / bare_s,
            "peak_rss_growth_mb": peak_growth(server_work) / 2 ** 20,
            "layer": None if result.layer is None else list(result.layer.pixels.shape)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--requests", nargs="+", choices=("plug-in", "full"), default=["plug-in", "full"],
                        help="which requests to time (an older contract has only 'full')")
    parser.add_argument("--model", choices=("default", "stylemapgan-256"), default="default")
    parser.add_argument("--collage", choices=("composite", "layers"), help="a stylemap model's collage mode "
                        "[the server's default, composite]")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = official_stylemapgan_256() if args.model == "stylemapgan-256" else load_model("default")
    rows = []
    for side in args.sides:
        for plugin in [kind == "plug-in" for kind in args.requests]:
            row = measure(model, side, plugin, args.repeats, args.collage or "")
            rows.append(row)
            print(f"{side:>5} {row['request']:>7}: request {row['request_bytes'] / 2**20:8.2f} MiB, server "
                  f"{row['server_seconds'] * 1000:8.1f} ms, bare {row['bare_seconds'] * 1000:6.1f} ms, ratio "
                  f"{row['ratio']:6.2f}, peak RSS +{row['peak_rss_growth_mb']:.0f} MB", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"torch_threads": torch.get_num_threads(), "model": args.model,
                                        "collage": args.collage, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
