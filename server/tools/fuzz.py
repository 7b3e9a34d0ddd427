"""Structured fuzzing: valid requests with a few fields mutated, so that most jobs really run.

    python -m server.tools.fuzz [--model MODEL] [--requests 10000] [--seed 0] [--clients 2] [--json OUT]

Starts `python -m server` on 127.0.0.1 (the embedded model unless --model is given), then sends
`--requests` calls drawn from every method. Each starts as a valid request for the served model and
gets one to three mutations chosen through the message descriptors: numbers at and past their limits
(0, -1, 2^31, 2^63, NaN, infinities, 3e38), strings empty, long or of the wrong choice, bytes cut,
grown or random, enums unknown, messages cleared, repeated fields emptied or stuffed; one request in
twenty is also garbled as bytes. Bounded: optimisation steps above MAX_FUZZ_STEPS and interpolation
frames above MAX_FUZZ_FRAMES are clamped (larger ones are refused before any work anyway: a few keep
their value), and every call has a deadline. The server must never answer UNKNOWN, INTERNAL or
UNAVAILABLE, must stay up, and its health check must answer; the report counts status codes per
method and keeps the first offending requests.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
from google.protobuf.descriptor import FieldDescriptor

from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.tools import hostile_calls
from server.tools.server_process import server

MAX_FUZZ_STEPS = 12
MAX_FUZZ_FRAMES = 6
CALL_DEADLINE = 30.0
BAD_CODES = ("UNKNOWN", "INTERNAL", "UNAVAILABLE")
KEPT_EXAMPLES = 5

INTS = (0, 1, -1, 2, 7, 255, 256, 1023, 1024, 16384, 16385, 2**31 - 1, -2**31, 2**32 - 1, 2**63 - 1, -2**63)
FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, 1e38, 3e38, -3e38, float("nan"), float("inf"), float("-inf"))
STRINGS = ("", "w", "w+", "z", "regressor", "default", "lpips", "ms-ssim", "discriminator", "none", "l1",
           "adam", "slerp", "linear", "latent", "w_avg", "random", "w_plus", "stylemap", "layers", "composite",
           "\u00e9\u4e2d\U0001F600", "x" * 10_000, "\0")
INT_KINDS = {FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
             FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
             FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
             FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
             FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}
FLOAT_KINDS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)


# ------------------------------------------------------------------------------------- valid requests


def _pixels(rng: random.Random, count: int) -> bytes:
    return np.random.default_rng(rng.getrandbits(32)).integers(0, 256, count, dtype=np.uint8).tobytes()


def _canvas(rng: random.Random) -> pb.Canvas:
    width, height = rng.choice((48, 64, 96)), rng.choice((40, 64, 80))
    layers = [pb.Layer(image=pb.Image(width=width, height=height, rgb=_pixels(rng, width * height * 3)))]
    for _ in range(rng.randint(0, 2)):
        w, h = rng.randint(4, width), rng.randint(4, height)
        layers.append(pb.Layer(image=pb.Image(width=w, height=h, rgba=_pixels(rng, w * h * 4)),
                               x=rng.randint(-8, width), y=rng.randint(-8, height), opacity=rng.random(),
                               mask=pb.Mask(width=w, height=h, data=_pixels(rng, w * h))))
    canvas = pb.Canvas(width=width, height=height, layers=layers)
    if rng.random() < 0.5:
        x0, y0 = rng.randint(0, width // 2), rng.randint(0, height // 2)
        w, h = rng.randint(1, width - x0), rng.randint(1, height - y0)
        canvas.selection.CopyFrom(pb.Mask(width=w, height=h, data=b"\xff" * (w * h)))
        canvas.selection_x, canvas.selection_y = x0, y0
    return canvas


def _options(rng: random.Random) -> pb.ProjectionOptions:
    method = rng.choice((pb.METHOD_REGRESSOR, pb.METHOD_REGRESSOR, pb.METHOD_HYBRID, pb.METHOD_OPTIMIZE))
    steps = 0 if method == pb.METHOD_REGRESSOR else rng.randint(1, 4)
    return pb.ProjectionOptions(method=method, steps=steps, seed=rng.randint(0, 1000),
                                preview_every=rng.choice((0, 0, 1)))


def _stylemap(info: pb.ModelInfo) -> bool:
    return info.latent_kind == "stylemap"


def _latent(rng: random.Random, info: pb.ModelInfo) -> pb.Latent:
    """A latent of the model's kind and shape (W+ rows, or a stylemap)."""
    shape = list(info.latent_shape) or [info.num_ws, info.w_dim]
    values = np.random.default_rng(rng.getrandbits(32)).standard_normal(int(np.prod(shape)))
    values = values.astype(np.float32).tolist()
    if _stylemap(info):
        return pb.Latent(kind="stylemap", shape=shape, values=values)
    return pb.Latent(num_ws=info.num_ws, w_dim=info.w_dim, values=values)


def valid_request(rng: random.Random, info: pb.ModelInfo) -> tuple[str, object]:
    """(method, request): a request the server should serve as it is."""
    method = rng.choice(("Realize", "Realize", "Realize", "Project", "Interpolate", "StyleMix", "LocalBlend",
                         "GetServerInfo", "ListModels"))
    if method == "Realize":
        request = pb.RealizeRequest(canvas=_canvas(rng), options=_options(rng), skip_layer=rng.random() < 0.5,
                                    collage=rng.choice(("", "layers", "composite")) if _stylemap(info) else "")
        if rng.random() < 0.3:
            request.feather = rng.uniform(0, 16)
    elif method == "Project":
        side = rng.choice((16, 32, 64))
        request = pb.ProjectRequest(image=pb.Image(width=side, height=side, rgba=_pixels(rng, side * side * 4)),
                                    options=_options(rng))
    elif method == "Interpolate":
        request = pb.InterpolateRequest(a=_latent(rng, info), b=_latent(rng, info), frames=rng.randint(2, 4),
                                        mode=rng.choice(("linear", "slerp")))
    elif method == "StyleMix":
        request = pb.StyleMixRequest(content=_latent(rng, info), style=_latent(rng, info),
                                     split=rng.randint(0, info.num_levels or info.num_ws))
    elif method == "LocalBlend":
        side = rng.choice((8, 16, 32))
        request = pb.LocalBlendRequest(a=_latent(rng, info), b=_latent(rng, info),
                                       mask=pb.Mask(width=side, height=side, data=_pixels(rng, side * side)))
        if _stylemap(info):
            request.mix_space = rng.choice(("", "w", "w_plus"))
        if request.mix_space == "w_plus" or not _stylemap(info):
            request.start_layer = rng.randint(0, info.num_levels or info.num_ws)
    elif method == "GetServerInfo":
        request = pb.GetServerInfoRequest()
    else:
        request = pb.ListModelsRequest()
    return method, request


# ------------------------------------------------------------------------------------- mutations


def _slots(message, path: str = "") -> list[tuple[str, object, FieldDescriptor]]:
    """Every (path, parent message, field) a mutation may change: set fields, nested messages'
    fields (set or not), at most a few elements deep into repeated messages."""
    found = []
    for field in message.DESCRIPTOR.fields:
        where = f"{path}{field.name}"
        found.append((where, message, field))
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.is_repeated:
            for index, item in enumerate(getattr(message, field.name)[:3]):
                found += _slots(item, f"{where}[{index}].")
        elif message.HasField(field.name) or len(path) < 40:
            found += _slots(getattr(message, field.name), f"{where}.")
    return found


def _mutate_scalar(rng: random.Random, value, field: FieldDescriptor):
    kind = field.type
    if kind in INT_KINDS:
        low, high = INT_KINDS[kind]
        candidate = rng.choice(INTS + (value + 1, value - 1, value * 2, rng.randint(low, high)))
        return min(max(candidate, low), high)
    if kind in FLOAT_KINDS:
        return rng.choice(FLOATS + (value * 10, -value))
    if kind == FieldDescriptor.TYPE_BOOL:
        return not value
    if kind == FieldDescriptor.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values] + [99, -1, 2**31 - 1])
    if kind == FieldDescriptor.TYPE_STRING:
        return rng.choice(STRINGS + (value * 3,))
    if kind == FieldDescriptor.TYPE_BYTES:
        cut = rng.randint(0, len(value)) if value else 0
        return rng.choice((b"", value[:cut], value + bytes(rng.randint(1, 64)), value[::-1],
                           hostile_calls.png_header_only(rng.choice((1, 64, 20000)), rng.choice((1, 64, 9000))),
                           bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 256)))))
    raise ValueError(f"unexpected field type {kind}")


def mutate(rng: random.Random, request) -> str:
    """Change one field of `request` in place; a description of what changed."""
    slots = _slots(request)
    if not slots:
        return "no fields"
    path, parent, field = rng.choice(slots)
    name = field.name
    if field.is_repeated:
        items = getattr(parent, name)
        choice = rng.random()
        if choice < 0.3 or not len(items):
            parent.ClearField(name)
            return f"{path}: cleared"
        if choice < 0.6:
            count = rng.choice((1, 2, 300))
            for _ in range(count):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    items.add().CopyFrom(items[0])
                else:
                    items.append(items[0])
            return f"{path}: {count} more"
        index = rng.randrange(len(items))
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            items[index].Clear()
            return f"{path}[{index}]: cleared"
        items[index] = _mutate_scalar(rng, items[index], field)
        return f"{path}[{index}]: changed"
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if parent.HasField(name) and rng.random() < 0.5:
            parent.ClearField(name)
            return f"{path}: cleared"
        getattr(parent, name).SetInParent()
        return f"{path}: set empty"
    value = _mutate_scalar(rng, getattr(parent, name), field)
    setattr(parent, name, value)
    return f"{path} = {value!r}"[:120]


def bound_work(rng: random.Random, request) -> None:
    """Clamp what would make a served job long; a few requests keep their value."""
    if rng.random() < 0.05:
        return
    options = getattr(request, "options", None)
    if options is not None and MAX_FUZZ_STEPS < options.steps <= 10_000:
        options.steps = MAX_FUZZ_STEPS
    if isinstance(request, pb.InterpolateRequest) and MAX_FUZZ_FRAMES < request.frames <= 256:
        request.frames = MAX_FUZZ_FRAMES


def garble(rng: random.Random, data: bytes) -> bytes:
    """Bytes that are mostly a valid message: some flipped, cut or repeated."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.getrandbits(8)
    if rng.random() < 0.3:
        data = data[:rng.randint(0, len(data))]
    return bytes(data)


# ------------------------------------------------------------------------------------- the run


class Report:
    def __init__(self):
        self.lock = threading.Lock()
        self.codes: Counter = Counter()  # (method, code)
        self.bad: list[dict] = []

    def record(self, method: str, code: str, changes: list[str], message: str) -> None:
        with self.lock:
            self.codes[method, code] += 1
            if code in BAD_CODES and len(self.bad) < KEPT_EXAMPLES:
                self.bad.append({"method": method, "code": code, "changes": changes, "message": message[:300]})

    def totals(self) -> Counter:
        totals: Counter = Counter()
        for (_, code), count in self.codes.items():
            totals[code] += count
        return totals


def one_request(channel: grpc.Channel, rng: random.Random, info: pb.ModelInfo, report: Report) -> None:
    method, request = valid_request(rng, info)
    changes = [mutate(rng, request) for _ in range(rng.choices((1, 2, 3), weights=(6, 3, 1))[0])]
    bound_work(rng, request)
    data = request.SerializeToString()
    if rng.random() < 0.05:
        data = garble(rng, data)
        changes.append("garbled bytes")
    streaming = method in ("Realize", "Project", "Interpolate")
    path = f"/gancollage.v1.GanCollage/{method}"
    call = (channel.unary_stream if streaming else channel.unary_unary)(path)  # raw bytes both ways
    code, message = hostile_calls.finish(lambda: call(data, timeout=CALL_DEADLINE))
    report.record(method, code, changes, message)


def fuzz(address: str, requests: int, seed: int, clients: int) -> Report:
    report = Report()
    options = [("grpc.max_receive_message_length", 1 << 30), ("grpc.max_send_message_length", 1 << 30)]
    with grpc.insecure_channel(address, options=options) as channel:
        info = next(m for m in hostile_calls.stub(channel).ListModels(pb.ListModelsRequest(), timeout=30).models
                    if m.is_default)
        counter = iter(range(requests))
        lock = threading.Lock()
        failures: list[BaseException] = []

        def client(index: int):
            rng = random.Random(seed * 1000 + index)
            try:
                while True:
                    with lock:
                        if next(counter, None) is None:
                            return
                    one_request(channel, rng, info, report)
            except BaseException as exc:  # a bug of the fuzzer itself: the run must not look clean
                failures.append(exc)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return report


def health_answers(address: str, timeout: float = 1.0) -> bool:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def run(flags: list[str], requests: int, seed: int, clients: int) -> dict:
    """Fuzz a fresh server; the summary (codes, offending examples, time, peak RSS growth, health)."""
    with server(*flags) as running:
        before = running.reset_peak()
        started = time.monotonic()
        report = fuzz(running.address, requests, seed, clients)
        seconds = time.monotonic() - started
        alive = running.process.poll() is None
        healthy = alive and health_answers(running.address)
        growth = running.peak_mb() - before
    totals = report.totals()
    return {"requests": requests, "seed": seed, "clients": clients, "seconds": round(seconds, 1),
            "codes": dict(totals), "bad": sum(totals[c] for c in BAD_CODES), "examples": report.bad,
            "by_method": {f"{m} {c}": n for (m, c), n in sorted(report.codes.items())},
            "server_alive": alive, "health_answers": healthy, "peak_rss_growth_mb": round(growth, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="the server's --model (default: the embedded model)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 16 or not 1 <= args.requests <= 1_000_000:
        parser.error("--clients in [1, 16], --requests in [1, 1000000]")
    summary = run(["--model", args.model] if args.model else [], args.requests, args.seed, args.clients)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if summary["bad"] == 0 and summary["health_answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
