"""What `python -m server.studio` hands every deployment (pickled by Ray, so plain data only)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudioSettings:
    sources: dict[str, str]  # served model names -> checkpoint paths (the same on every machine)
    info: bytes  # GetServerInfo's static part, a serialized ServerInfo
    models: bytes  # ListModels' answer, a serialized ListModelsResponse (read once at start-up)
    token: str | None = None
    max_queue: int = 8  # job calls that may wait for a replica, across the studio
    models_per_replica: int = 2  # loaded models a replica keeps (least recently used dropped)
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0
