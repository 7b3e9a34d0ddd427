"""One action's way to the server: its calls and their progress, over a connection that knows the server's
info and models (asked once per connection)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from server.shared import calls
from server.shared.calls import Progress, Status
from server.shared.errors import CallError

from .connection import Connection
from .errors import UserError
from .latent_parasite import STYLEMAP
from .layer_data import LayerData, Options
from .limits import Limits
from .models import model_kind, model_levels
from .requests import payload_bytes, project_request
from .timings import Timings


class ServerStopped(CallError):
    """The server went away while working on the action: a call failed UNAVAILABLE after the server had
    answered on this connection, so it was reachable a moment before (it crashed, or was closed: both gRPC
    stacks say UNAVAILABLE then, as when nothing listens)."""


Report = Callable[[str, float], None]  # (text, fraction done)


def describe(label: str, progress: Progress) -> tuple[str, float]:
    """Progress text and the fraction of the current stage done."""
    if progress.status is Status.QUEUED:
        return f"{label}: waiting for the server ({progress.jobs_ahead()})", 0.0
    return f"{label}: {progress.stage} {progress.step}/{progress.total}", progress.fraction


@dataclass
class Session:
    """One action's way to the server: a connection (its client GrpcioClient or GrpclibClient), settings,
    progress; `notes` collects what the artist should hear about a finished action (a stored latent that
    could not be used)."""
    connection: Connection
    model: str
    timeout: float
    report: Report
    timings: Timings = field(default_factory=Timings)
    notes: list = field(default_factory=list)

    def call(self, name: str, request: dict, label: str, part: int = 0, parts: int = 1) -> list:
        """The payloads of the call's results (Interpolate's frames); progress maps to [part, part + 1] / parts.
        A request past the server's limits is refused before it is sent."""
        self.limits().check_request(request)
        self.report(label, part / parts)
        started = time.perf_counter()
        self.timings.counts["request_bytes"] = self.timings.counts.get("request_bytes", 0) + payload_bytes(request)

        def progressed(progress: Progress) -> None:
            text, fraction = describe(label, progress)
            self.report(text, (part + fraction) / parts)

        try:
            answers = calls.payloads(self.connection.events(name, request, self.timeout), progressed)
        except CallError as error:
            if error.code == "UNAVAILABLE" and self.connection.answered:
                raise ServerStopped(error.code, error.message) from None
            raise
        self.timings.add("call", time.perf_counter() - started)
        return answers

    def limits(self) -> Limits:
        """The server's limits."""
        return Limits.of(self.connection.info(self.timeout))

    def model_info(self) -> dict:
        """The session's model as ListModels lists it (resolution, num_ws, has_regressor, ...)."""
        models = self.connection.models(self.timeout)
        for model in models:
            if (model["name"] == self.model) if self.model else model["is_default"]:
                if not model["available"]:
                    raise UserError(f"The server cannot use the model {model['name']!r}: {model['error']}")
                return model
        raise UserError(f"The model {self.model!r} is not on this server; pick one of "
                        f"{', '.join(m['name'] for m in models)} in Server settings.")

    def resolution(self) -> int:
        """The side of the images the session's model makes."""
        return self.model_info()["resolution"]

    def stylemap(self) -> bool:
        """Whether the session's model keeps its latents as stylemaps (StyleMapGAN)."""
        return model_kind(self.model_info()) == STYLEMAP

    def check_rows(self, label: str, value: int) -> None:
        """`value` must name a level boundary of the model (0..num_levels: W+ rows, or a stylemap model's
        resizer levels): checked before any projection."""
        model = self.model_info()
        levels = model_levels(model)
        if levels and not 0 <= value <= levels:
            what = "levels (coarse to fine)" if model_kind(model) == STYLEMAP else "latent rows"
            raise UserError(f"{label} is {value}, but the model {model['name']!r} has {levels} {what}: choose "
                            f"0 to {levels}.")

    def project(self, layer: LayerData, options: Options, part: int = 0, parts: int = 1) -> dict:
        (result,) = self.call("Project", project_request(layer, options, self.model),
                              f"Projecting {layer.name}", part, parts)
        return result
