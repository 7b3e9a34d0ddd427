"""Run GAN Collage on Ray Serve: a local Ray cluster, or one that runs already (--address).

    python -m server.studio --port 50051 --replicas 2 --token SECRET [--address auto|HOST:PORT]
        [--model PATH] [--models-dir DIR] [--gpus-per-replica 1] [--cpus-per-replica 1]

Prints `listening on [::]:PORT` once the studio serves (with the actual port when --port is 0) and
stops it on SIGINT or SIGTERM (a local cluster goes with it). Ray Serve's gRPC proxy listens on
every interface (Ray 2.60 has no setting for it), so a token is always required (--token, or the
GANCOLLAGE_TOKEN environment variable). Exit codes: 0 after a clean stop, 2 bad flags, 1 when it
cannot start. Model paths must be readable at the same place on every machine of the cluster.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

log = logging.getLogger("server.studio")
PROXY_READY_SECONDS = 60


def parse_args(argv=None) -> argparse.Namespace:
    from server.shared.address import token_problem

    parser = argparse.ArgumentParser(prog="python -m server.studio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=50051, help="gRPC port, 0 = any free one (default: %(default)s)")
    parser.add_argument("--replicas", type=int, default=1, help="model replicas, one job at a time each (default: 1)")
    parser.add_argument("--address", help="join a running Ray cluster: auto, or the head's HOST:PORT "
                                          "(default: start a local one)")
    parser.add_argument("--num-cpus", type=int, help="CPUs a local cluster may use (default: all)")
    parser.add_argument("--cpus-per-replica", type=float, default=1.0,
                        help="CPUs each replica reserves; its torch threads (default: %(default)s)")
    parser.add_argument("--gpus-per-replica", type=float, default=0.0,
                        help="GPUs each replica reserves; > 0 runs the replica on its GPU (default: 0, CPU)")
    parser.add_argument("--model", default="default",
                        help="the default model: a model folder, .pt or .pkl (default: the embedded model)")
    parser.add_argument("--models-dir", type=Path, help="more models, served under their names")
    parser.add_argument("--models-per-replica", type=int, default=2,
                        help="models a replica keeps loaded; past it the least recently used goes (default: 2)")
    parser.add_argument("--max-queue", type=int, default=8,
                        help="job calls that may wait for a free replica; more are refused (default: %(default)s)")
    parser.add_argument("--max-message-mb", type=int, default=256,
                        help="largest request or response in MiB, for a local cluster (default: %(default)s)")
    parser.add_argument("--token", default=os.environ.get("GANCOLLAGE_TOKEN"),
                        help="required 'authorization: Bearer TOKEN' (default: $GANCOLLAGE_TOKEN)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a --token is required: Ray Serve's gRPC proxy listens on every interface")
    if problem := token_problem(args.token):
        parser.error(f"--token (or $GANCOLLAGE_TOKEN) cannot be used: clients could never send it, because {problem}")
    if args.replicas < 1 or args.models_per_replica < 1 or args.max_queue < 1:
        parser.error("--replicas, --models-per-replica and --max-queue must be >= 1")
    if args.cpus_per_replica <= 0 or args.gpus_per_replica < 0 or not 1 <= args.max_message_mb <= 2047:
        parser.error("--cpus-per-replica must be > 0, --gpus-per-replica >= 0, --max-message-mb in [1, 2047]")
    if args.models_dir is not None and not args.models_dir.is_dir():
        parser.error(f"--models-dir {args.models_dir}: not a folder")
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_for(args):
    """StudioSettings, with the model list read here once: each model is loaded on this machine's CPU
    for its description and then let go. None when the --model checkpoint cannot be read."""
    from server.models import DEFAULT_NAME
    from server.models.loading import embedded_beside
    from server.rpc.catalog import Catalog
    from server.rpc.server import ServerOptions, server_info
    from server.rpc.servicer import GanCollageServicer
    from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

    from .settings import StudioSettings

    catalog = Catalog.load(args.model, args.models_dir, "cpu", named=embedded_beside(args.model))
    default = catalog.entries[DEFAULT_NAME]
    if default.model is None and args.model != DEFAULT_NAME:
        log.error("cannot load --model %s: %s", args.model, default.error)
        return None
    device = f"cuda ({args.gpus_per_replica:g} GPU each)" if args.gpus_per_replica else "cpu"
    options = ServerOptions(max_queue=args.max_queue, max_message_bytes=args.max_message_mb << 20,
                            device=f"Ray Serve: {args.replicas} replicas, {device}")
    listing = GanCollageServicer(catalog, None, pb.ServerInfo(default_model=DEFAULT_NAME)).ListModels(None, None)
    return StudioSettings(
        sources={name: entry.source for name, entry in catalog.entries.items()},
        info=server_info(options).SerializeToString(), models=listing.SerializeToString(), token=args.token,
        max_queue=args.max_queue, models_per_replica=args.models_per_replica,
        cpus_per_replica=args.cpus_per_replica, gpus_per_replica=args.gpus_per_replica)


def start(args, settings) -> int:
    """Start (or join) the cluster and run the studio on it; the gRPC port."""
    import ray
    from ray import serve
    from ray.serve.config import gRPCOptions

    from .app import APP_NAME, application
    from .contract import SERVICER_FUNCTIONS

    port = args.port or free_port()
    if args.address is None:  # the proxy reads these when it starts: a local cluster inherits our environment
        os.environ.setdefault("RAY_SERVE_GRPC_MAX_MESSAGE_SIZE", str(args.max_message_mb << 20))
        # Serve kills a proxy not ready within 5 s, and serve.start then fails: a workstation whose cores
        # are busy (a training run, an evaluation) takes longer than that to start one
        os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", str(PROXY_READY_SECONDS))
    # "local": a cluster of our own even where RAY_ADDRESS names another (ray.init would join that one)
    ray.init(address=args.address or "local", num_cpus=args.num_cpus if args.address is None else None,
             include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": free_port()},  # unused; Ray Serve starts it anyway
                grpc_options=gRPCOptions(port=port, grpc_servicer_functions=SERVICER_FUNCTIONS))
    serve.run(application(settings, args.replicas), name=APP_NAME, route_prefix="/")
    return port


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_for(args)
    if settings is None:
        return 1
    try:
        port = start(args, settings)
    except Exception as exc:  # Ray's errors: no cluster at --address, a port taken, a replica that cannot start
        log.error("cannot start the studio: %s: %s", type(exc).__name__, exc)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, frame: stop.set())
    print(f"listening on [::]:{port}", flush=True)
    while not stop.wait(1.0):
        pass
    from ray import serve

    log.info("shutting down")
    serve.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
