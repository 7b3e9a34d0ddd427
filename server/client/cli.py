"""GAN Collage command-line client (imports no torch).

    python -m server.client health | info | models
    python -m server.client realize --layer FILE[@X,Y][:OPACITY] ... [--selection MASK.png]
        [--method regressor|optimize|hybrid|scribble] [--steps N] [--seed S] [--truncation PSI] -o OUT.png
        [--composite OUT2.png] [--latent OUT.npy]
    python -m server.client project IMAGE [--mask MASK.png] ... -o RECONSTRUCTION.png [--latent OUT.npy]
    python -m server.client interpolate A.npy B.npy [--frames N] [--mode linear|slerp] -o DIR
    python -m server.client mix CONTENT.npy STYLE.npy --split K -o OUT.png [--latent OUT.npy]
    python -m server.client blend A.npy B.npy --mask MASK.png [--start-layer K] [--mix-space w|w_plus] -o OUT.png
        [--latent OUT.npy]
    python -m server.client directions [--json]
    python -m server.client edit LATENT.npy --edit NAME=STRENGTH[@FIRST:LAST] ... -o OUT.png [--latent OUT.npy]

Latents are .npy files: W+ (num_ws, w_dim) for StyleGAN2 models, a stylemap (C, L, L) for StyleMapGAN
models, each with or without a batch of one in front (written with it).

Every command takes --server HOST:PORT (default $GANCOLLAGE_SERVER or 127.0.0.1:50051), --token
(default $GANCOLLAGE_TOKEN), --tls-ca CA.pem (use TLS) and --timeout SECONDS (the gRPC deadline).
Progress goes to stderr. Exit codes:

    0    success
    2    usage: bad arguments, unreadable input or unwritable output file
    3    server unreachable (UNAVAILABLE)
    4    invalid request (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE)
    5    server error (FAILED_PRECONDITION: model unavailable, INTERNAL, ...) or server not serving
    6    authentication refused (UNAUTHENTICATED, PERMISSION_DENIED)
    7    too big, server busy or out of memory: the message says which (RESOURCE_EXHAUSTED)
    124  the --timeout deadline passed (DEADLINE_EXCEEDED)
    130  cancelled (Ctrl-C, or CANCELLED)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from server.shared import calls
from server.shared.address import DEFAULT_SERVER
from server.shared.errors import CallError
from server.shared.grpcio_client import GrpcioClient

from . import images
from .progress import ProgressBar

EXIT_USAGE, EXIT_SERVER, EXIT_CANCELLED = 2, 5, 130
EXIT_CODES = {
    "UNAVAILABLE": 3, "INVALID_ARGUMENT": 4, "NOT_FOUND": 4, "OUT_OF_RANGE": 4,
    "UNAUTHENTICATED": 6, "PERMISSION_DENIED": 6, "RESOURCE_EXHAUSTED": 7, "DEADLINE_EXCEEDED": 124,
    "CANCELLED": EXIT_CANCELLED,
}
METHODS = ("regressor", "optimize", "hybrid", "scribble")


def exit_code(status: str) -> int:
    return EXIT_CODES.get(status, EXIT_SERVER)


class UsageError(Exception):
    """Bad input files or arguments found after parsing (exit code 2)."""


# ------------------------------------------------------------------------------------- calls


def run(client: GrpcioClient, args, name: str, request: dict) -> list[dict]:
    """Run a call with a progress bar; the payloads of its result/frame events, in order."""
    bar = ProgressBar(sys.stderr, enabled=not args.quiet)
    try:
        return calls.payloads(calls.events(client, name, request, args.timeout), bar.update)
    finally:
        bar.close()


def projection_options(args) -> dict:
    return {"method": args.method, "steps": args.steps, "seed": args.seed, "truncation": args.truncation}


def save(write, value, path: Path) -> None:
    try:
        write(value, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None


def cmd_health(client, args) -> int:
    status = client.health(timeout=args.timeout or 10.0)
    print(status)
    return 0 if status == "SERVING" else EXIT_SERVER


def cmd_info(client, args) -> int:
    (info,) = run(client, args, "GetServerInfo", {})
    print(json.dumps(info, indent=2))
    return 0


def latent_text(model: dict) -> str:
    """"W+ 18x512" or "stylemap 64x8x8" (an older server names no kind: W+)."""
    if model.get("latent_kind") == "stylemap":
        return "stylemap " + "x".join(map(str, model.get("latent_shape", [])))
    return f"W+ {model['num_ws']}x{model['w_dim']}"


def cmd_models(client, args) -> int:
    (answer,) = run(client, args, "ListModels", {})
    if args.json:
        print(json.dumps(answer["models"], indent=2))
        return 0
    for m in answer["models"]:
        mark = "*" if m["is_default"] else " "
        if m["available"]:
            parts = "G" + "+D" * m["has_discriminator"] + "+R" * m["has_regressor"]
            print(f"{mark} {m['name']:<20} {m['resolution']:>5}px  {latent_text(m):<16} {parts:<6} "
                  f"{m['description']}")
        else:
            print(f"{mark} {m['name']:<20} unavailable: {m['error']}")
    return 0


def cmd_realize(client, args) -> int:
    specs = [images.parse_layer(spec) for spec in args.layer]
    layers = [(spec, images.read_image(spec.file)) for spec in specs]
    selection = images.read_mask(args.selection) if args.selection else None
    if args.canvas:
        width, height = args.canvas
    elif selection is not None:
        width, height = selection["width"], selection["height"]
    else:
        width = max(spec.x + image["width"] for spec, image in layers)
        height = max(spec.y + image["height"] for spec, image in layers)
    request = {
        "model": args.model,
        "canvas": {"width": width, "height": height, "selection": selection,
                   "layers": [{"image": image, "x": spec.x, "y": spec.y, "opacity": spec.opacity,
                               "name": spec.file.name} for spec, image in layers]},
        "options": projection_options(args), "margin": args.margin, "feather": args.feather,
        "collage": args.collage or "",
    }
    (result,) = run(client, args, "Realize", request)
    save(images.write_image, result["layer"], args.output)
    if args.composite:
        placed = [(images.rgba_array(image), spec.x, spec.y, spec.opacity) for spec, image in layers]
        placed.append((images.rgba_array(result["layer"]), result["x"], result["y"], 1.0))
        save(lambda flat, path: flat.save(path), images.flatten(width, height, placed), args.composite)
    if args.latent:
        save(images.write_latent, result["latent"], args.latent)
    metrics = result["metrics"]
    print(f"layer {result['layer']['width']}x{result['layer']['height']} at ({result['x']}, {result['y']}) "
          f"-> {args.output}; {metrics['method']}, {metrics['steps']} steps, masked PSNR "
          f"{metrics['masked_psnr']:.2f} dB, {metrics['seconds']:.1f} s", file=sys.stderr)
    return 0


def save_image_and_latent(result: dict, args, without: str = "") -> int:
    """Write the result image to -o and, when --latent was given, its latent; `without`: why an answer may
    carry none (then --latent is refused with that reason, after the image is written)."""
    save(images.write_image, result["image"], args.output)
    if args.latent and "latent" not in result:
        raise UsageError(f"--latent {args.latent}: the server answered no latent ({without or 'none was made'}); "
                         f"the image was written to {args.output}")
    if args.latent:
        save(images.write_latent, result["latent"], args.latent)
    return 0


def cmd_project(client, args) -> int:
    request = {"model": args.model, "image": images.read_image(args.image),
               "mask": images.read_mask(args.mask) if args.mask else None, "options": projection_options(args)}
    (result,) = run(client, args, "Project", request)
    return save_image_and_latent(result, args)


def cmd_interpolate(client, args) -> int:
    request = {"model": args.model, "a": images.read_latent(args.a), "b": images.read_latent(args.b),
               "frames": args.frames, "mode": args.mode}
    frames = run(client, args, "Interpolate", request)
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {args.output}: {exc}") from None
    for frame in frames:
        save(images.write_image, frame["image"], args.output / f"frame_{frame['index']:03d}.png")
    print(f"{len(frames)} frames -> {args.output}", file=sys.stderr)
    return 0


def cmd_mix(client, args) -> int:
    request = {"model": args.model, "content": images.read_latent(args.content),
               "style": images.read_latent(args.style), "split": args.split}
    (result,) = run(client, args, "StyleMix", request)
    return save_image_and_latent(result, args, "a stylemap model's style mix exists per resizer level only")


def cmd_blend(client, args) -> int:
    request = {"model": args.model, "a": images.read_latent(args.a), "b": images.read_latent(args.b),
               "mask": images.read_mask(args.mask), "start_layer": args.start_layer, "mix_space": args.mix_space}
    (result,) = run(client, args, "LocalBlend", request)
    return save_image_and_latent(result, args, "only a stylemap model's --mix-space w blend is a latent; a W+ "
                                               "model's and a w_plus blend are made level by level")


def cmd_directions(client, args) -> int:
    (answer,) = run(client, args, "ListDirections", {"model": args.model})
    if args.json:
        print(json.dumps(answer["directions"], indent=2))
        return 0
    for d in answer["directions"]:
        accuracy = f", accuracy {d['accuracy']:.2f}" if d.get("accuracy") else ""
        print(f"{d['name']:<20} {d['kind']:<10} rows {d['first_layer']}-{d['last_layer'] - 1:<3} "
              f"sigma {d['sigma']:.3f}{accuracy}  {d['description']}")
    return 0


def parse_edit(text: str) -> dict:
    """NAME=STRENGTH[@FIRST:LAST] -> an Edit (rows FIRST to LAST-1, like a slice)."""
    try:
        name, rest = text.split("=", 1)
        strength, _, rows = rest.partition("@")
        edit = {"direction": name, "strength": float(strength)}
        if rows:
            first, last = rows.split(":")
            edit.update(first_layer=int(first), last_layer=int(last))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=STRENGTH[@FIRST:LAST], got {text!r}") from None
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME=STRENGTH[@FIRST:LAST], got {text!r}")
    return edit


def cmd_edit(client, args) -> int:
    request = {"model": args.model, "latent": images.read_latent(args.latent_in), "edits": args.edit}
    (result,) = run(client, args, "EditLatent", request)
    return save_image_and_latent(result, args)


# ------------------------------------------------------------------------------------- arguments


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default=os.environ.get("GANCOLLAGE_SERVER", DEFAULT_SERVER),
                        help="HOST:PORT (default: $GANCOLLAGE_SERVER or %(default)s)")
    common.add_argument("--token", default=os.environ.get("GANCOLLAGE_TOKEN"),
                        help="bearer token (default: $GANCOLLAGE_TOKEN)")
    common.add_argument("--tls-ca", type=Path, help="connect with TLS, trusting this PEM CA certificate")
    common.add_argument("--timeout", type=float, help="deadline for the call in seconds")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", default="", help="model name (default: the server's default)")

    projection = argparse.ArgumentParser(add_help=False, parents=[model])
    projection.add_argument("--method", choices=METHODS, help="default: the server's choice for the model")
    projection.add_argument("--steps", type=int, help="optimisation steps")
    projection.add_argument("--seed", type=int, help="random seed (default 0)")
    projection.add_argument("--truncation", type=float, metavar="PSI",
                            help="pull the result toward the model's average latent, 0..1 (default 1: none)")

    parser = argparse.ArgumentParser(prog="python -m server.client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, handler, help, parents=()):
        sub = commands.add_parser(name, help=help, parents=[common, *parents])
        sub.set_defaults(handler=handler)
        return sub

    command("health", cmd_health, "check the server's grpc.health.v1 status (no token needed)")
    command("info", cmd_info, "print the server's info")
    command("models", cmd_models, "list the served models").add_argument("--json", action="store_true")

    p = command("realize", cmd_realize, "realise a collage: layers in, a new layer out", [projection])
    p.add_argument("--layer", action="append", required=True, metavar="FILE[@X,Y][:OPACITY]",
                   help="a layer, bottom first; repeat for each layer")
    p.add_argument("--selection", type=Path, help="greyscale selection mask, canvas-sized")
    p.add_argument("--canvas", type=_size, metavar="WxH", help="canvas size (default: the selection's size, "
                   "else the layers' extent)")
    p.add_argument("--margin", type=float, help="region margin, a fraction of the selection's longer side")
    p.add_argument("--feather", type=float, help="paste-back edge width in pixels")
    p.add_argument("--collage", choices=("composite", "layers"), help="stylemap models: encode the composite "
                   "once (the default), or each layer laid over it")
    p.add_argument("-o", "--output", type=Path, required=True, help="the result layer (PNG)")
    p.add_argument("--composite", type=Path, help="also write the canvas with the result pasted (PNG)")
    p.add_argument("--latent", type=Path, help="also write the latent (.npy)")

    p = command("project", cmd_project, "project an image: its latent and reconstruction", [projection])
    p.add_argument("image", type=Path)
    p.add_argument("--mask", type=Path, help="known-pixel mask, the image's size (default: all known)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the reconstruction (PNG)")
    p.add_argument("--latent", type=Path, help="also write the latent (.npy)")

    p = command("interpolate", cmd_interpolate, "frames between two latents", [model])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--frames", type=int, default=8, help="frames including both ends (default: %(default)s)")
    p.add_argument("--mode", choices=("linear", "slerp"), default="linear")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for frame_000.png ...")

    p = command("mix", cmd_mix, "style mixing: coarse rows from CONTENT, fine rows from STYLE", [model])
    p.add_argument("content", type=Path)
    p.add_argument("style", type=Path)
    p.add_argument("--split", type=int, required=True, help="first W+ row (a stylemap model's resizer level) "
                   "taken from STYLE")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--latent", type=Path, help="also write the mixed latent (.npy)")

    p = command("blend", cmd_blend, "local blend: B inside the mask, A outside", [model])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--mask", type=Path, required=True, help="greyscale mask, any size (255 = B)")
    p.add_argument("--start-layer", type=int, default=0, help="first W+ row (a stylemap model's resizer level, "
                   "with --mix-space w_plus) blended (default: %(default)s)")
    p.add_argument("--mix-space", choices=("w", "w_plus"), help="stylemap models only: blend the stylemaps once "
                   "(w, the server's default; its latent can be written with --latent) or every resizer level from "
                   "--start-layer on (w_plus)")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--latent", type=Path, help="also write the blended stylemap (.npy; --mix-space w only)")

    command("directions", cmd_directions, "list the model's attribute directions",
            [model]).add_argument("--json", action="store_true")

    p = command("edit", cmd_edit, "move a latent along attribute directions", [model])
    p.add_argument("latent_in", type=Path, metavar="LATENT.npy")
    p.add_argument("--edit", type=parse_edit, action="append", required=True, metavar="NAME=STRENGTH[@FIRST:LAST]",
                   help="strength in standard deviations (e.g. smile=2, pc1=-1.5@0:4); repeat to combine")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--latent", type=Path, help="also write the edited latent (.npy)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tls_ca = args.tls_ca.read_bytes() if args.tls_ca else None
        with GrpcioClient(args.server, args.token, tls_ca) as client:
            return args.handler(client, args)
    except CallError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return exit_code(exc.code)
    except (UsageError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
