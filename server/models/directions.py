"""Latent directions: what an attribute edit moves a latent along, and how they are found.

A `Direction` is a vector in W (one row, applied to a range of W+ rows) or in W+ (one vector per row),
with `sigma`, the standard deviation of the model's W samples along it: an edit of strength s adds
s x sigma x the unit vector, so strength 1.0 is the same amount for every kind of direction. A
StyleMapGAN model's latent is one row, the flattened stylemap (`latent_rows` (1, C L L)): its
directions are stylemaps, and its W samples are sampled stylemaps.

Kinds:
- "ganspace": principal components of W over seeded mapping samples (Harkonen et al. 2020), `pc1`,
  `pc2`, ... by decreasing variance; sigma is the component's standard deviation.
- "sefa": closed-form factorisation (Shen & Zhou 2021): eigenvectors of M^T M, M stacking the
  (row-normalised) weights of every synthesis convolution's style affine, `sefa1`, ... by
  decreasing eigenvalue. StyleGAN2 only: a stylemap reaches the convolutions through the resizer's
  non-linear convolutions, not through one linear map per layer, so there is nothing to factorise.
- "supervised": linear boundaries fitted on labelled latents (InterFaceGAN-style), shipped with a model.
- "file": read from a file the user brings (see direction_files.py).

Direction sets are stored as safetensors, one tensor per direction, the rest in the metadata.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load, save_file

from .generator import Generator
from .untrusted_files import open_regular

KINDS = ("ganspace", "sefa", "supervised", "file")
W_SAMPLES = 10_000  # mapping samples behind GANSpace and every sigma
COMPONENTS = 32  # GANSpace and SeFa directions kept (at most the row width)
EXACT_SVD_WIDTH = 2048  # wider rows (stylemaps) get a seeded randomised SVD of the leading components
_METADATA_KEY = "gancollage.directions"


@dataclass
class Direction:
    name: str
    kind: str
    vector: torch.Tensor  # [w_dim] unit length, or [num_ws, w_dim] whose mean row has unit length
    sigma: float  # std of the model's W samples along the (mean) unit vector
    first_layer: int = 0  # default W+ rows [first_layer, last_layer) an edit moves
    last_layer: int = 0
    description: str = ""
    extra: dict = field(default_factory=dict)  # e.g. a supervised direction's held-out accuracy

    @property
    def mean_row(self) -> torch.Tensor:
        return self.vector if self.vector.ndim == 1 else self.vector.mean(0)


def unit_direction(name: str, kind: str, vector: torch.Tensor, w_samples: torch.Tensor, num_ws: int,
                   description: str = "", rows: tuple[int, int] | None = None, **extra) -> Direction:
    """A Direction from any non-zero vector, scaled to unit length, with sigma measured on `w_samples`."""
    vector = vector.detach().float().cpu()
    mean_row = vector if vector.ndim == 1 else vector.mean(0)
    norm = float(mean_row.norm())
    if not norm > 0:
        raise ValueError(f"direction {name!r} has no length")
    vector = vector / norm
    unit = mean_row / norm
    sigma = float((w_samples.double() @ unit.double()).std())
    first, last = rows or (0, num_ws)
    return Direction(name, kind, vector, sigma, first, last, description, extra)


@torch.no_grad()
def w_samples(g: Generator, count: int = W_SAMPLES, seed: int = 0, cancel=None) -> torch.Tensor:
    """[count, w_dim] seeded W samples on the CPU, float32 (`cancel.check()` between batches)."""
    batches = []
    for w in g.sample_w(count, seed):
        if cancel is not None:
            cancel.check()
        batches.append(w.float().cpu())
    return torch.cat(batches)


def principal_components(samples: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(components [count, w_dim] by decreasing variance, their standard deviations [count]).

    Each component's sign is fixed so that its largest coordinate is positive (SVD signs are arbitrary).
    Rows wider than EXACT_SVD_WIDTH (a 16 x 16 x 64 stylemap is 16,384 wide) use a randomised SVD of
    the leading components, seeded, in float32: the full one would take minutes and gigabytes.
    """
    if samples.shape[1] > EXACT_SVD_WIDTH:
        centred = samples.float() - samples.float().mean(0)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            _, singular, v = torch.svd_lowrank(centred, q=count + 10, niter=4)
        vh = v.T
    else:
        centred = samples.double() - samples.double().mean(0)
        _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:count].double()
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    return (components * signs).float(), (singular[:count] / (samples.shape[0] - 1) ** 0.5).float()


def style_weights(g: Generator) -> torch.Tensor:
    """Every synthesis convolution's style-affine weight rows, each scaled to unit length: [rows, w_dim]."""
    rows = [layer.affine.weight.detach().double().cpu() for layer in g.synthesis.noise_layers]
    stacked = torch.cat(rows)
    return stacked / stacked.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sefa_factors(g: Generator, count: int) -> torch.Tensor:
    """[count, w_dim]: the eigenvectors of M^T M (M = `style_weights`) by decreasing eigenvalue,
    signs fixed as in `principal_components`."""
    m = style_weights(g)
    values, vectors = torch.linalg.eigh(m.T @ m)  # ascending
    factors = vectors.flip(1).T[:count]
    signs = torch.sign(factors.gather(1, factors.abs().argmax(1, keepdim=True)))
    return (factors * signs).float()


def computed_directions(g: Generator, samples: torch.Tensor | None = None) -> list[Direction]:
    """GANSpace and (W+ models) SeFa directions for `g` (seeded: the same generator gives the same
    directions)."""
    samples = w_samples(g) if samples is None else samples
    rows, width = g.latent_rows
    count = min(COMPONENTS, width)
    components, deviations = principal_components(samples, count)
    space = "W" if g.latent_kind == "w_plus" else "the stylemaps"
    found = []
    for index, (vector, deviation) in enumerate(zip(components, deviations), start=1):
        found.append(Direction(f"pc{index}", "ganspace", vector, float(deviation), 0, rows,
                               f"principal component {index} of {space} ({float(deviation):.3f} std)"))
    if g.latent_kind != "w_plus":
        return found
    for index, vector in enumerate(sefa_factors(g, count), start=1):
        found.append(unit_direction(f"sefa{index}", "sefa", vector, samples, g.num_ws,
                                    f"closed-form factor {index} of the style weights"))
    return found


# ------------------------------------------------------------------------------------- storage


def save_directions(path: Path, directions: list[Direction]) -> None:
    tensors = {d.name: d.vector.contiguous() for d in directions}
    described = [{k: v for k, v in asdict(d).items() if k != "vector"} for d in directions]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={_METADATA_KEY: json.dumps(described)})


def load_directions(path: Path) -> list[Direction]:
    """Directions saved by `save_directions` (safetensors: tensors only, no code), read from a regular
    file's bytes: safetensors opens only paths that are valid UTF-8."""
    with open_regular(path) as f:
        data = f.read()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])  # the safetensors layout
    described = json.loads(header["__metadata__"][_METADATA_KEY])
    tensors = load(data)
    return [Direction(vector=tensors[d["name"]], **d) for d in described]
