"""Structured fuzzing in the suite: a few hundred mutated requests against a server process on the
tiny model (server/tools/fuzz.py runs the long version)."""
from __future__ import annotations

from server.tools import fuzz

REQUESTS = 1000


def test_structured_fuzz_gets_no_unknown_internal_or_unavailable(model_paths):
    default, _ = model_paths
    summary = fuzz.run(["--model", str(default)], REQUESTS, seed=7, clients=2)
    assert summary["bad"] == 0, summary["examples"]
    assert summary["server_alive"] and summary["health_answers"]
    assert sum(summary["codes"].values()) == REQUESTS
    assert summary["peak_rss_growth_mb"] <= 500
    # Mutated, but still valid often enough that the jobs behind every method really run.
    for method in ("Realize", "Project", "Interpolate", "LocalBlend"):
        assert summary["by_method"].get(f"{method} OK", 0) >= 2, (method, summary["by_method"])


def test_structured_fuzz_of_a_stylemap_model():
    """The same on the shared StyleMapGAN checkpoint: stylemap latents, collage modes, mix spaces."""
    from tests.support.paths import conformance_file

    summary = fuzz.run(["--model", str(conformance_file("stylemapgan_s32.pt"))], REQUESTS // 2, seed=11, clients=2)
    assert summary["bad"] == 0, summary["examples"]
    assert summary["server_alive"] and summary["health_answers"]
    for method in ("Realize", "Interpolate", "StyleMix", "LocalBlend"):
        assert summary["by_method"].get(f"{method} OK", 0) >= 2, (method, summary["by_method"])


def test_mutations_are_seeded():
    import random

    from server.shared.api.gancollage.v1 import gancollage_pb2 as pb

    info = pb.ModelInfo(num_ws=4, w_dim=8)

    def changes(seed: int) -> list[str]:
        rng = random.Random(seed)
        method, request = fuzz.valid_request(rng, info)
        return [method] + [fuzz.mutate(rng, request) for _ in range(3)]

    assert changes(3) == changes(3) and changes(3) != changes(4)
