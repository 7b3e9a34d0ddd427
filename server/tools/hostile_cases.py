"""The hostile-client cases: `Case` (a call, its expected codes, time limit and checks), the
checks, and `CASES`, the hardening issue's items (and issue 24's), run by server/tools/hostile.py
and tests/server/tools/test_hostile.py."""
from __future__ import annotations

import collections
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Callable

import grpc

from server.jobs import EVENT_BUFFER
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.tools.hostile_calls import (
    CALL_DEADLINE,
    Outcome,
    answer_times,
    finish,
    opaque_layer,
    png_header_only,
    realize,
    rectangle_selection,
    regressor,
    small_canvas,
    stub,
    unary_request_paths,
    worker_free_after_cancel,
    worst_code,
)
from server.tools.server_process import ServerProcess
from server.tools.stalled_calls import StalledCalls

TRANSPORT_BYTES = 4 * 65536  # the reader's window, the server's, and what a write has in hand


# ------------------------------------------------------------------------------------- the cases


MAX_GROWTH_MB = 500.0
CANCEL_SECONDS = 0.5  # a cancelled job frees the worker within this


@dataclass
class Case:
    """`run(channel, server)` -> Outcome, against a server started with `flags`. The case meets its
    targets when the call ends with a code in `expect`, within `limit_seconds`, with the server's peak
    RSS growing at most MAX_GROWTH_MB, and `verify(outcome)` finds nothing wrong (it returns what is)."""

    name: str
    item: int  # the issue's item number
    run: Callable[[grpc.Channel, ServerProcess], Outcome]
    expect: tuple[str, ...]
    flags: tuple[str, ...] = ()
    limit_seconds: float = 5.0
    verify: Callable[[Outcome, float], str | None] = lambda outcome, time_slack: None
    issue: int | None = None  # the issue's number; None: the hardening issue the first cases came from

    @property
    def label(self) -> str:
        """`item`, or `issue.item` for a later issue's case."""
        return str(self.item) if self.issue is None else f"{self.issue}.{self.item}"

    def failures(self, outcome: Outcome, time_slack: float = 1.0) -> list[str]:
        """What misses the targets; time limits are multiplied by `time_slack` (the test suite runs
        on shared machines and allows more; this script measures the targets themselves)."""
        found = [f"ended {outcome.code}, expected {'/'.join(self.expect)}"] if outcome.code not in self.expect else []
        if outcome.seconds > self.limit_seconds * time_slack:
            found.append(f"took {outcome.seconds:.2f} s (limit {self.limit_seconds * time_slack:g})")
        if outcome.peak_growth_mb > MAX_GROWTH_MB:
            found.append(f"peak RSS grew {outcome.peak_growth_mb:.0f} MB (limit {MAX_GROWTH_MB:.0f})")
        extra = self.verify(outcome, time_slack)
        return found + ([extra] if extra else [])


def at_most(key: str, limit: float, seconds: bool = False):
    """A `verify` that `outcome.details[key]` is at most `limit` (times the slack, for `seconds`)."""
    def verify(outcome: Outcome, time_slack: float) -> str | None:
        value, bound = outcome.details.get(key), limit * (time_slack if seconds else 1.0)
        return None if value is not None and value <= bound else f"{key} = {value} (limit {bound:g})"
    return verify


def every(*verifies):
    """A `verify` that runs each of `verifies` and reports the first failure."""
    return lambda outcome, slack: next((found for found in (v(outcome, slack) for v in verifies) if found), None)


def is_false(key: str):
    def verify(outcome: Outcome, _slack: float) -> str | None:
        return f"{key} is {outcome.details.get(key)}" if outcome.details.get(key) is not False else None
    return verify


def _all_quick(outcome: Outcome, time_slack: float) -> str | None:
    slow = {name: t for name, t in outcome.details.items() if t["code"] != "OK" or t["seconds"] > time_slack}
    return f"not answered within {time_slack:g} s: {slow}" if slow else None


def _released(outcome: Outcome, _slack: float) -> str | None:
    kept = outcome.details["rss_after_mb"] - outcome.details["rss_before_mb"]
    return f"{kept:.0f} MB still held after the call" if kept > 60 else None


def _png_bomb(channel, _server) -> Outcome:
    canvas = small_canvas()
    canvas.layers[0].image.CopyFrom(pb.Image(png=png_header_only(16384, 10000)))
    return Outcome(*realize(channel, regressor(canvas)))


def _png_bombs_within_side_limit(channel, _server) -> Outcome:
    canvas = small_canvas()
    del canvas.layers[:]
    canvas.layers.extend(pb.Layer(image=pb.Image(png=png_header_only(8192, 8192))) for _ in range(12))
    return Outcome(*realize(channel, regressor(canvas)), details={"request_bytes": canvas.ByteSize()})


def _huge_canvas_tiny_layer(side_w: int, side_h: int):
    def run(channel, _server) -> Outcome:
        canvas = pb.Canvas(width=side_w, height=side_h, layers=[opaque_layer(1, 1)])
        request = regressor(canvas)
        return Outcome(*realize(channel, request), details={"request_bytes": request.ByteSize()})
    return run


def _cancel_largest_request(channel, _server) -> Outcome:
    """A long optimisation of the largest request the pixel budget allows (8 layers of 2048 x 2048 on
    an 8192-px canvas), cancelled while it runs."""
    info = stub(channel).GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
    side = 2048
    count = max(1, info.max_request_pixels // (side * side))
    canvas = pb.Canvas(width=8192, height=8192, layers=[opaque_layer(side, side, 512 * i, 512 * i)
                                                        for i in range(count)])
    request = pb.RealizeRequest(canvas=canvas, skip_layer=True,
                                options=pb.ProjectionOptions(method=pb.METHOD_OPTIMIZE, steps=10_000))
    return Outcome("CANCELLED", details=dict(worker_free_after_cancel(channel, request, running_for=0.2),
                                             layers=count))


def _wide_feather(channel, _server) -> Outcome:
    canvas = pb.Canvas(width=2048, height=2048, layers=[opaque_layer(64, 64)])
    rectangle_selection(canvas, 0, 0, 2048, 2048)
    canvas.selection.data = bytes(b"\xff" * (2048 * 2047) + b"\0" * 2048)
    request = regressor(canvas, feather=1024, margin=0)
    started = time.monotonic()
    code, message = realize(channel, request)
    seconds = time.monotonic() - started
    details = worker_free_after_cancel(channel, request, running_for=0.1)
    return Outcome(code, message, details=dict(details, uncancelled_seconds=round(seconds, 3)))



def _idle_reflection_streams(count: int):
    def run(channel, server_) -> Outcome:
        channels = [grpc.insecure_channel(server_.address) for _ in range(count)]
        try:
            streams = []
            for extra in channels:  # each opens a reflection stream and never sends a request
                method = extra.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
                streams.append(method(iter(threading.Event().wait, True)))
            time.sleep(0.5)
            times = answer_times(channel)
            for call in streams:
                call.cancel()
            return Outcome(worst_code(times), details=times)
        finally:
            for extra in channels:
                extra.close()
    return run



STALL_DROP_SECONDS = 3.0  # the server's --read-timeout in the stalled-calls case


def _stalled_calls(count: int, per_connection: int):
    """`count` calls of every unary-request method in turn, `per_connection` on each connection, whose
    requests never arrive: health, GetServerInfo and Realize answer beside them as fast as before
    them, and the server ends every stalled call (within its --read-timeout, checked by `_dropped`)."""
    def run(channel, server_) -> Outcome:
        before = answer_times(channel)
        paths = list(itertools.islice(itertools.cycle(unary_request_paths()), count))
        with StalledCalls(server_.address, paths, per_connection) as calls:
            time.sleep(0.5)  # every call is open and waiting for its request
            beside = answer_times(channel)
            calls.wait_ended(STALL_DROP_SECONDS + 5)
            ended = dict(calls.ended)
        statuses = collections.Counter(_status_name(status) for _, status in ended.values())
        details = {f"{name}_s": before[name]["seconds"] for name in before}
        details.update({f"{name}_beside_s": t["seconds"] for name, t in beside.items()})
        details.update(stalled=count, dropped=len(ended),
                       dropped_within_s=max((t for t, _ in ended.values()), default=None),
                       dropped_as=", ".join(f"{name} {n}" for name, n in statuses.items()))
        return Outcome(worst_code(beside), details=details)
    return run


def _status_name(status: str) -> str:
    """A grpc-status number as its code's name ("4": DEADLINE_EXCEEDED); other notes as they are."""
    return next((code.name for code in grpc.StatusCode if str(code.value[0]) == status), status)


def _as_fast_beside(outcome: Outcome, time_slack: float) -> str | None:
    """Each answer beside the stalled calls within twice its time before them (plus 50 ms of noise)."""
    slow = {name: (outcome.details[f"{name}_s"], outcome.details[f"{name}_beside_s"])
            for name in ("health", "info", "realize")
            if outcome.details[f"{name}_beside_s"] > (2 * outcome.details[f"{name}_s"] + 0.05) * time_slack}
    return f"slower beside the stalled calls (before, beside): {slow}" if slow else None


def _dropped(outcome: Outcome, time_slack: float) -> str | None:
    d = outcome.details
    if d["dropped"] < d["stalled"] or d["dropped_within_s"] > STALL_DROP_SECONDS + time_slack:
        return f"{d['dropped']} of {d['stalled']} stalled calls dropped, the last after {d['dropped_within_s']} s " \
               f"(limit {STALL_DROP_SECONDS + time_slack:g})"
    return None


def _echo(make_request: Callable[[grpc.Channel], tuple[str, object]]):
    def run(channel, _server) -> Outcome:
        method, request = make_request(channel)
        code, message = finish(lambda: getattr(stub(channel), method)(request, timeout=CALL_DEADLINE))
        return Outcome(code, message[:200], details={"message_chars": len(message)})
    return run


def _latents(channel) -> tuple[pb.Latent, pb.Latent]:
    """Two zero latents sized for the server's default model."""
    info = next(m for m in stub(channel).ListModels(pb.ListModelsRequest(), timeout=10).models if m.is_default)
    values = [0.0] * (info.num_ws * info.w_dim)
    return tuple(pb.Latent(num_ws=info.num_ws, w_dim=info.w_dim, values=values) for _ in range(2))


def _slow_reader(channel, server_) -> Outcome:
    """A 1500-step job with a preview every step, read one event and then only after the job ended,
    on a channel whose HTTP/2 window stays at 64 KiB (so what is in transit is known)."""
    options = pb.ProjectionOptions(method=pb.METHOD_OPTIMIZE, steps=1500, preview_every=1,
                                   perceptual="none", lr=0.01)
    reader = grpc.insecure_channel(server_.address, options=[("grpc.http2.lookahead_bytes", 65536),
                                                             ("grpc.http2.bdp_probe", 0)])
    call = stub(reader).Realize(pb.RealizeRequest(canvas=small_canvas(), options=options, skip_layer=True),
                                timeout=CALL_DEADLINE * 4)
    first = next(call)
    info = stub(channel).GetServerInfo
    started = time.monotonic()
    while info(pb.GetServerInfoRequest(), timeout=5).queue_length and time.monotonic() - started < 200:
        time.sleep(0.05)
    job_seconds = time.monotonic() - started
    after_job_mb = server_.rss_mb()
    events = [first, *call]
    reader.close()
    preview_bytes = max(event.ByteSize() for event in events[:-1])
    # What may reach the client after the job ended: the server's bounded buffer plus what the
    # flow-control windows let into transit, never one event per step.
    bound = EVENT_BUFFER + 2 + TRANSPORT_BYTES // preview_bytes
    return Outcome("OK" if events[-1].HasField("result") else "UNKNOWN",
                   details={"events_received": len(events), "events_bound": bound, "steps": 1500,
                            "preview_bytes": preview_bytes, "job_seconds": round(job_seconds, 2),
                            "rss_when_job_ended_mb": round(after_job_mb, 1)})


def _within_bound(outcome: Outcome, _slack: float) -> str | None:
    received, bound = outcome.details["events_received"], outcome.details["events_bound"]
    return f"{received} events reached the slow reader (bound {bound})" if received > bound else None


def _unauthenticated_large(channel, _server) -> Outcome:
    width, height = 10_000, 5_000  # 200 MB of rgba, like a big document sent without the token
    canvas = pb.Canvas(width=width, height=height, layers=[
        pb.Layer(image=pb.Image(width=width, height=height, rgba=bytes(width * height * 4)))])
    return Outcome(*realize(channel, regressor(canvas)), details={"request_mb": round(width * height * 4 / 2**20)})


def _bursts(calls: int, rounds: int, method=pb.METHOD_REGRESSOR, steps: int = 0):
    """`rounds` bursts of `calls` concurrent Realize calls into an idle server: refusals counted."""
    def run(channel, _server) -> Outcome:
        refused, codes = 0, {}
        request = pb.RealizeRequest(canvas=small_canvas(), skip_layer=True,
                                    options=pb.ProjectionOptions(method=method, steps=steps))
        for _ in range(rounds):
            results: list[str] = [""] * calls
            threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, realize(channel, request)[0]))
                       for i in range(calls)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for code in results:
                codes[code] = codes.get(code, 0) + 1
            refused += results.count("RESOURCE_EXHAUSTED")
        return Outcome("RESOURCE_EXHAUSTED" if refused else "OK", details={"refused": refused, "codes": codes})
    return run


def _clients_looping(clients: int, calls_each: int):
    """`clients` threads each making `calls_each` Realize calls back to back."""
    def run(channel, _server) -> Outcome:
        request = pb.RealizeRequest(canvas=small_canvas(), skip_layer=True,
                                    options=pb.ProjectionOptions(method=pb.METHOD_REGRESSOR))
        codes: dict[str, int] = {}
        lock = threading.Lock()

        def client():
            for _ in range(calls_each):
                code = realize(channel, request)[0]
                with lock:
                    codes[code] = codes.get(code, 0) + 1

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        refused = codes.get("RESOURCE_EXHAUSTED", 0)
        return Outcome("RESOURCE_EXHAUSTED" if refused else "OK", details={"refused": refused, "codes": codes})
    return run


def _memory_released(channel, server_) -> Outcome:
    side = 4096
    canvas = pb.Canvas(width=side, height=side, layers=[opaque_layer(side, side)])
    before = server_.rss_mb()
    code, message = realize(channel, regressor(canvas, skip_layer=True))
    time.sleep(1.0)
    return Outcome(code, message, details={"rss_before_mb": round(before, 1),
                                           "rss_after_mb": round(server_.rss_mb(), 1)})


def _huge_latent(method: str):
    def run(channel, _server) -> Outcome:
        a, b = _latents(channel)
        a.values[:] = [3e38] * len(a.values)
        request = {"Realize": lambda: pb.RealizeRequest(canvas=small_canvas(), options=pb.ProjectionOptions(
                       method=pb.METHOD_OPTIMIZE, steps=1, init_latent=a)),
                   "Interpolate": lambda: pb.InterpolateRequest(a=a, b=b, frames=2),
                   "StyleMix": lambda: pb.StyleMixRequest(content=a, style=b, split=1)}[method]()
        code, message = finish(lambda: getattr(stub(channel), method)(request, timeout=CALL_DEADLINE))
        return Outcome(code, message[:200])
    return run


def _not_protobuf(channel, server_) -> Outcome:
    lines_before = len(server_.log_lines)
    method = channel.unary_stream("/gancollage.v1.GanCollage/Realize")
    code, message = finish(lambda: method(b"\xff\xff\xff\xff not a protobuf", timeout=10))
    time.sleep(0.3)
    logged = server_.log_lines[lines_before:]
    return Outcome(code, message[:200], details={"log_lines": len(logged),
                                                 "traceback": any("Traceback" in line for line in logged)})


def _paths_in_messages(channel, server_) -> Outcome:
    models = stub(channel).ListModels(pb.ListModelsRequest(), timeout=10).models
    broken = next((m for m in models if not m.available), None)
    code, message = realize(channel, pb.RealizeRequest(canvas=small_canvas(), model=broken.name))
    shown = " ".join([message, *(m.error + " " + m.description for m in models)])
    return Outcome(code, message[:200], details={"server_path_shown": "/" in shown})


def _lpips_without_weights(channel, _server) -> Outcome:
    options = pb.ProjectionOptions(method=pb.METHOD_OPTIMIZE, steps=1, perceptual="lpips")
    return Outcome(*realize(channel, pb.RealizeRequest(canvas=small_canvas(), options=options, skip_layer=True)))


CASES = [
    Case("png_bomb", 1, _png_bomb, ("RESOURCE_EXHAUSTED", "INVALID_ARGUMENT")),
    Case("png_bombs_12_layers", 1, _png_bombs_within_side_limit, ("RESOURCE_EXHAUSTED",)),
    Case("canvas_16384_square_1px_layer", 2, _huge_canvas_tiny_layer(16384, 16384), ("OK", "RESOURCE_EXHAUSTED")),
    Case("canvas_8192_square_1px_layer", 2, _huge_canvas_tiny_layer(8192, 8192), ("OK", "RESOURCE_EXHAUSTED")),
    Case("canvas_16384x1", 2, _huge_canvas_tiny_layer(16384, 1), ("OK", "RESOURCE_EXHAUSTED")),
    Case("cancel_largest_request", 2, _cancel_largest_request, ("CANCELLED",), limit_seconds=10,
         verify=every(at_most("worker_free_seconds", CANCEL_SECONDS, seconds=True), is_false("ended_first"))),
    Case("feather_1024_on_2048", 2, _wide_feather, ("OK", "RESOURCE_EXHAUSTED"), limit_seconds=10,
         verify=every(at_most("uncancelled_seconds", 5, seconds=True),
                      at_most("worker_free_seconds", CANCEL_SECONDS, seconds=True),
                      is_false("ended_first"))),
    Case("idle_reflection_streams_64", 3, _idle_reflection_streams(64), ("OK",), verify=_all_quick),
    Case("echo_model_name", 4,
         _echo(lambda _: ("Realize", pb.RealizeRequest(canvas=small_canvas(), model="x" * 100_000))),
         ("INVALID_ARGUMENT",),
         verify=at_most("message_chars", 600)),
    Case("echo_options_space", 4, _echo(lambda _: ("Realize", pb.RealizeRequest(
        canvas=small_canvas(), options=pb.ProjectionOptions(space="x" * 100_000)))), ("INVALID_ARGUMENT",),
         verify=at_most("message_chars", 600)),
    Case("echo_interpolate_mode", 4, _echo(lambda channel: ("Interpolate", pb.InterpolateRequest(
        a=_latents(channel)[0], b=_latents(channel)[1], frames=2, mode="x" * 100_000))), ("INVALID_ARGUMENT",),
         verify=at_most("message_chars", 600)),
    Case("slow_reader_1500_previews", 5, _slow_reader, ("OK",), limit_seconds=300, verify=_within_bound),
    Case("unauthenticated_200mb", 6, _unauthenticated_large, ("UNAUTHENTICATED",),
         flags=("--token", "hostile-test-token")),
    Case("bursts_of_2_max_queue_1", 7, _bursts(2, 30), ("OK",), flags=("--max-queue", "1"), limit_seconds=60,
         verify=at_most("refused", 0)),
    Case("9_clients_max_queue_8", 7, _clients_looping(9, 12), ("OK",), limit_seconds=120, verify=at_most("refused", 0)),
    Case("memory_released_after_job", 8, _memory_released, ("OK",), verify=_released),
    Case("huge_latent_realize", 9, _huge_latent("Realize"), ("INVALID_ARGUMENT",)),
    Case("huge_latent_interpolate", 9, _huge_latent("Interpolate"), ("INVALID_ARGUMENT",)),
    Case("huge_latent_style_mix", 9, _huge_latent("StyleMix"), ("INVALID_ARGUMENT",)),
    Case("not_protobuf", 9, _not_protobuf, ("INVALID_ARGUMENT",), verify=is_false("traceback")),
    Case("server_paths_in_messages", 9, _paths_in_messages, ("FAILED_PRECONDITION",), flags=("--models-dir",),
         verify=is_false("server_path_shown")),
    Case("lpips_without_weights", 10, _lpips_without_weights, ("FAILED_PRECONDITION",)),
    Case("stalled_unary_calls_40", 1, _stalled_calls(40, per_connection=4), ("OK",), issue=24,
         flags=("--read-timeout", f"{STALL_DROP_SECONDS:g}"), limit_seconds=STALL_DROP_SECONDS + 5,
         verify=every(_as_fast_beside, _dropped)),
]


