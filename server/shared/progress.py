"""The words for a queued job's place, which the command-line client and the GIMP plug-in both show."""
from __future__ import annotations


def jobs_ahead(progress: dict) -> str:
    """"1 job ahead", "3 jobs ahead": a queued Progress event's position."""
    ahead = progress.get("queue_position", 0)
    return f"{ahead} job{'s' if ahead != 1 else ''} ahead"
