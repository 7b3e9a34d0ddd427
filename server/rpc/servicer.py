"""The GanCollage service: check and convert each request, queue its job, stream its events back.

Every call that touches a model runs as a job (server/engine/calls.py) on the device's worker
(server/jobs.py); the job is cancelled when the RPC ends early (client cancel, client gone,
deadline), so the worker is free again within one engine step. Projections that optimise for more
than INTERACTIVE_STEPS steps are long jobs; everything else (regressor passes, short hybrid previews,
edits) is interactive and runs between a long job's steps.
"""
from __future__ import annotations

import inspect
import logging
import time
import weakref
from functools import wraps

import grpc

from server.engine.calls import (
    edit_latent_job,
    interpolate_job,
    list_directions_job,
    local_blend_job,
    project_job,
    realize_job,
    style_mix_job,
)
from server.engine.errors import Cancelled
from server.engine.progress import Work
from server.engine.project_options import ProjectOptions
from server.jobs import DeadlineExceeded, Job, JobQueue
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.shared.api.gancollage.v1 import gancollage_pb2_grpc as pb_grpc

from . import convert, status
from .catalog import Catalog
from .pixel_budget import check_request_pixels

log = logging.getLogger(__name__)
NO_DEADLINE = 1e8  # seconds; grpc reports an "infinite" time remaining when the call has no deadline
INTERACTIVE_STEPS = 20  # optimisation steps (all restarts) a job may take and still be interactive


def is_long(options: ProjectOptions) -> bool:
    """Whether a projection is a long job: Live preview's hybrid (8 steps by default) stays interactive."""
    return options.method != "regressor" and options.steps * options.restarts > INTERACTIVE_STEPS


def _abort(context: grpc.ServicerContext, exc: Exception, renames: status.Renames):
    mapped = status.status_of(exc, renames)
    if mapped is None:
        log.exception("internal error")
        mapped = grpc.StatusCode.INTERNAL, status.short(f"internal error: {type(exc).__name__}: {exc}")
    context.abort(*mapped)


def maps_errors(renames: status.Renames = ()):
    """Turn the errors a method raises into status codes, with engine fields renamed to request paths."""

    def decorate(method):
        if inspect.isgeneratorfunction(method):
            @wraps(method)
            def streaming(self, request, context):
                try:
                    yield from method(self, request, context)
                except Exception as exc:
                    _abort(context, exc, renames)
            return streaming

        @wraps(method)
        def unary(self, request, context):
            try:
                return method(self, request, context)
            except Exception as exc:
                _abort(context, exc, renames)
        return unary

    return decorate


class GanCollageServicer(pb_grpc.GanCollageServicer):
    def __init__(self, catalog: Catalog, jobs: JobQueue, info: pb.ServerInfo):
        self._catalog = catalog
        self._jobs = jobs
        self._info = info  # the static part of GetServerInfo's answer

    def _submit(self, context: grpc.ServicerContext, work: Work, long: bool = False) -> Job:
        """Queue an engine job's `work` (server/engine/calls.py), tied to the RPC: it ends when the RPC does."""
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None and remaining < NO_DEADLINE else None
        job = self._jobs.submit(work, deadline, long)
        ended_job = weakref.ref(job)  # gRPC keeps its callbacks past the call: they must not keep the result

        def rpc_ended():
            job = ended_job()
            if job is None:
                return
            if deadline is not None and time.monotonic() >= deadline:
                job.cancel(DeadlineExceeded("the deadline passed before the job finished"))
            else:
                job.cancel(Cancelled("the client cancelled or went away"))

        if not context.add_callback(rpc_ended):
            rpc_ended()
        return job

    def _image_edit(self, request, context: grpc.ServicerContext, from_proto, entry) -> pb.ImageResponse:
        """An edit answered with one image, and its latent when it has one: `entry(model, *inputs)`
        with the inputs `from_proto(request, model, name)` converts."""
        name, model = self._catalog.get(request.model)
        latent, image = self._submit(context, entry(model, *from_proto(request, model, name))).result()
        return convert.image_response(image, latent, name)

    def _progress(self, job: Job, event_class):
        for event in job.events():
            yield event_class(progress=convert.progress_to_proto(event))

    # ----------------------------------------------------------------------------- info

    def GetServerInfo(self, request, context):
        info = pb.ServerInfo()
        info.CopyFrom(self._info)
        info.queue_length = self._jobs.length
        return info

    def ListModels(self, request, context):
        return pb.ListModelsResponse(models=[
            convert.model_info_to_proto(entry, entry.name == self._info.default_model)
            for entry in self._catalog.entries.values()])

    # ----------------------------------------------------------------------------- projection

    @maps_errors(status.REALIZE)
    def Realize(self, request, context):
        check_request_pixels(request, self._info.max_request_pixels)
        name, model = self._catalog.get(request.model)
        canvas, options = convert.realize_from_proto(request, model, name, self._info.max_result_pixels)
        job = self._submit(context, realize_job(model, canvas, options), is_long(options.projection))
        yield from self._progress(job, pb.RealizeEvent)
        result = convert.realize_result_to_proto(job.result(), name, job.queue_seconds)
        yield pb.RealizeEvent(result=result)

    @maps_errors(status.PROJECT)
    def Project(self, request, context):
        check_request_pixels(request, self._info.max_request_pixels)
        name, model = self._catalog.get(request.model)
        canvas, options = convert.project_from_proto(request, model, name)
        job = self._submit(context, project_job(model, canvas, options), is_long(options))
        yield from self._progress(job, pb.ProjectEvent)
        projection, image = job.result()
        yield pb.ProjectEvent(result=convert.project_result_to_proto(projection, image, name, job.queue_seconds))

    # ----------------------------------------------------------------------------- edits

    @maps_errors()
    def Interpolate(self, request, context):
        name, model = self._catalog.get(request.model)
        inputs = convert.interpolate_from_proto(request, model, name, self._info.max_result_pixels)
        job = self._submit(context, interpolate_job(model, *inputs))
        yield from self._progress(job, pb.InterpolateEvent)
        for index, (latent, image) in enumerate(job.result()):
            yield pb.InterpolateEvent(frame=convert.frame_to_proto(index, latent, image, name))

    @maps_errors()
    def StyleMix(self, request, context):
        return self._image_edit(request, context, convert.style_mix_from_proto, style_mix_job)

    @maps_errors()
    def LocalBlend(self, request, context):
        check_request_pixels(request, self._info.max_request_pixels)
        return self._image_edit(request, context, convert.local_blend_from_proto, local_blend_job)

    # ----------------------------------------------------------------------------- attribute edits

    @maps_errors()
    def ListDirections(self, request, context):
        _, model = self._catalog.get(request.model)
        found = self._submit(context, list_directions_job(model)).result()
        return pb.ListDirectionsResponse(directions=[convert.direction_to_proto(d) for d in found])

    @maps_errors()
    def EditLatent(self, request, context):
        return self._image_edit(request, context, convert.edit_latent_from_proto, edit_latent_job)
