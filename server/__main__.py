"""Run the GAN Collage server.

    python -m server [--host 127.0.0.1] [--port 50051] [--model PATH] [--models-dir DIR] ...

Prints `listening on HOST:PORT` on stdout once it serves (with the actual port when --port is 0),
logs one line per call on stderr, and stops gracefully on SIGINT or SIGTERM. Binding to anything but
loopback needs a token (--token, or the GANCOLLAGE_TOKEN environment variable); clients then send
metadata `authorization: Bearer <token>`, so a token must be printable ASCII (refused at start-up
otherwise). Exit codes: 0 after a clean stop, 2 bad flags, 1 when it cannot start (port taken, the
--model checkpoint unreadable).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from server.memory import return_freed_memory, use_main_heap

log = logging.getLogger("server")


def parse_args(argv=None) -> argparse.Namespace:
    from server.rpc.network import DEFAULT_PORT, DEFAULT_READ_TIMEOUT, is_loopback  # light: torch comes later
    from server.rpc.pixel_budget import DEFAULT_MAX_REQUEST_PIXELS, DEFAULT_MAX_RESULT_PIXELS
    from server.shared.address import token_problem

    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port, 0 = any free one (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: %(default)s)")
    parser.add_argument("--model", default="default",
                        help="the default model: a model folder, .pt or .pkl (default: the embedded model)")
    parser.add_argument("--models-dir", type=Path,
                        help="more models: each model folder, .pt or .pkl inside is served under its name")
    parser.add_argument("--directions-dir", type=Path,
                        help="direction files for every model: InterFaceGAN .npy, GANSpace .npz, .pt tensors "
                             "(served by file name; read as arrays only)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for torch, 0 = torch's default (default: %(default)s)")
    parser.add_argument("--max-queue", type=int, default=8,
                        help="jobs that may wait behind the running one; more are refused (default: %(default)s)")
    parser.add_argument("--token", default=os.environ.get("GANCOLLAGE_TOKEN"),
                        help="require 'authorization: Bearer TOKEN' (default: $GANCOLLAGE_TOKEN); "
                             "required when --host is not loopback")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain, with --tls-key")
    parser.add_argument("--tls-key", type=Path, help="PEM private key, with --tls-cert")
    parser.add_argument("--max-message-mb", type=int, default=256,
                        help="largest request or response in MiB (default: %(default)s)")
    parser.add_argument("--max-request-megapixels", type=float, default=DEFAULT_MAX_REQUEST_PIXELS / 1e6,
                        help="decoded pixels one request may carry, all its images and masks together "
                             "(default: %(default).1f)")
    parser.add_argument("--max-result-megapixels", type=float, default=DEFAULT_MAX_RESULT_PIXELS / 1e6,
                        help="pixels one result may carry: a Realize layer, an Interpolate's frames "
                             "(default: %(default).1f)")
    parser.add_argument("--lpips-weights", type=Path, metavar="VGG16_FILE",
                        help="torchvision's VGG16 ImageNet weights (vgg16-397923af.pth): enables "
                             "perceptual 'lpips'; read as tensors only, never as code")
    parser.add_argument("--lpips-lin", type=Path, metavar="FILE",
                        help="LPIPS' learned per-channel weights (its vgg.pth), with --lpips-weights; "
                             "without it every channel weighs 1")
    parser.add_argument("--read-timeout", type=float, default=DEFAULT_READ_TIMEOUT, metavar="SECONDS",
                        help="seconds a call's request may take to arrive in full; calls still waiting for "
                             "theirs then end with DEADLINE_EXCEEDED (default: %(default)g)")
    parser.add_argument("--grace", type=float, default=5.0,
                        help="seconds running calls get to finish on shutdown (default: %(default)s)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    if not is_loopback(args.host) and not args.token:
        parser.error(f"--host {args.host} is not loopback: a --token is required")
    if args.token and (problem := token_problem(args.token)):
        parser.error(f"--token (or $GANCOLLAGE_TOKEN) cannot be used: clients could never send it, because {problem}")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.threads < 0 or args.max_queue < 0 or not 1 <= args.max_message_mb <= 2047:
        parser.error("--threads and --max-queue must be >= 0, --max-message-mb in [1, 2047]")
    if not 0 < args.read_timeout <= 3600:
        parser.error("--read-timeout must be in (0, 3600]")
    if not (0 < args.max_request_megapixels <= 1e4 and 0 < args.max_result_megapixels <= 1e4):
        parser.error("--max-request-megapixels and --max-result-megapixels must be in (0, 10000]")
    if args.lpips_lin is not None and args.lpips_weights is None:
        parser.error("--lpips-lin goes with --lpips-weights")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key),
                       ("--lpips-weights", args.lpips_weights), ("--lpips-lin", args.lpips_lin)):
        if path is not None and not path.is_file():
            parser.error(f"{flag} {path}: no such file")
    for flag, folder in (("--models-dir", args.models_dir), ("--directions-dir", args.directions_dir)):
        if folder is not None and not folder.is_dir():
            parser.error(f"{flag} {folder}: not a folder")
    return args


def resolve_device(spec: str):
    """`auto` -> cuda:0 when CUDA is available, else cpu; returns (torch.device, description)."""
    import torch

    if spec == "auto":
        spec = "cuda:0" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(f"--device {spec}: {exc}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"--device {spec}: there are {torch.cuda.device_count()} CUDA devices")
        device = torch.device("cuda", index)
        return device, f"{device} ({torch.cuda.get_device_name(index)})"
    if device.type != "cpu":
        raise ValueError(f"--device {spec}: expected auto, cpu, cuda or cuda:N")
    return device, "cpu"


def main(argv=None) -> int:
    args = parse_args(argv)
    use_main_heap()  # before the server's threads start allocating (server/memory.py)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    from server.models import DEFAULT_NAME
    from server.models.loading import embedded_beside
    from server.rpc.catalog import Catalog
    from server.rpc.network import address
    from server.rpc.server import ServerOptions, start_server

    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(1)  # loading; the jobs' worker thread gets `threads` (see rpc/server.worker_threads)
    try:
        device, description = resolve_device(args.device)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    lpips = None
    if args.lpips_weights is not None:
        from server.engine.errors import ModelUnavailable
        from server.engine.losses import LPIPS

        try:
            lpips = LPIPS.from_files(args.lpips_weights, args.lpips_lin).to(device)
        except ModelUnavailable as exc:
            log.error("cannot use --lpips-weights: %s", exc)
            return 1
    catalog = Catalog.load(args.model, args.models_dir, device, lpips=lpips, directions_dir=args.directions_dir,
                           named=embedded_beside(args.model))
    return_freed_memory()  # what loading freed: the server starts as small as it will be idle
    default = catalog.entries[DEFAULT_NAME]
    if default.model is None and args.model != DEFAULT_NAME:
        log.error("cannot load --model %s: %s", args.model, default.error)
        return 1
    options = ServerOptions(
        host=args.host, port=args.port, token=args.token, max_queue=args.max_queue, device=description,
        tls_cert=args.tls_cert.read_bytes() if args.tls_cert else None,
        tls_key=args.tls_key.read_bytes() if args.tls_key else None,
        max_message_bytes=args.max_message_mb << 20,
        max_request_pixels=int(args.max_request_megapixels * 1e6),
        max_result_pixels=int(args.max_result_megapixels * 1e6), read_timeout=args.read_timeout,
        torch_threads=threads)
    try:
        running = start_server(catalog, options)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return 1

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, frame: stop.set())
    where = address(args.host, running.port)
    log.info("serving on %s (%s, %s)", where, description, "token required" if args.token else "no token")
    print(f"listening on {where}", flush=True)
    while not stop.wait(1.0):
        pass
    log.info("shutting down (up to %.0f s for running calls)", args.grace)
    if not running.stop(args.grace):
        # Interpreter shutdown under a thread still inside torch can abort the process: skip it.
        log.warning("stopped; the worker was still busy, leaving without waiting for it")
        logging.shutdown()
        os._exit(0)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
