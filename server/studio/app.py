"""The studio's deployments: one front (no CPU of its own: it only waits) and N replicas, each one
job at a time on its CPUs or GPUs, with at most `max_queue` job calls waiting for one."""
from __future__ import annotations

from ray import serve

from .front import Front
from .replica import Replica
from .settings import StudioSettings

APP_NAME = "gancollage"
FRONT_CALLS = 1000  # calls the front holds at once: it only waits on replicas, the jobs are bounded there


def application(settings: StudioSettings, replicas: int):
    replica = serve.deployment(Replica, name="Replica", num_replicas=replicas, max_ongoing_requests=1,
                               max_queued_requests=settings.max_queue,
                               ray_actor_options={"num_cpus": settings.cpus_per_replica,
                                                  "num_gpus": settings.gpus_per_replica})
    front = serve.deployment(Front, name="Front", max_ongoing_requests=FRONT_CALLS, ray_actor_options={"num_cpus": 0})
    return front.bind(replica.bind(settings), settings)
