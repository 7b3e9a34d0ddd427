"""The linear boundaries of the supervised directions (InterFaceGAN-style): a class-balanced,
L2-regularised logistic regression, its balanced accuracy, the regularisation chosen on a seeded
validation split, and the latent features (mean W+ row) the latent route fits on."""
from __future__ import annotations

from dataclasses import dataclass

import torch

L2_CHOICES = (1e-4, 1e-3, 1e-2, 1e-1)
VALIDATION_FRACTION = 0.2


# ------------------------------------------------------------------------------------- fitting


@dataclass
class Boundary:
    normal: torch.Tensor  # [dim]: the classifier's weight vector in latent coordinates
    bias: float  # offset of the boundary, for latents x: score = (x - centre) @ normal + bias
    centre: torch.Tensor
    l2: float

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - self.centre) @ self.normal + self.bias) > 0


def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float) -> Boundary:
    """Class-balanced logistic regression with L2 weight penalty `l2`, by full-batch L-BFGS.

    Classes are weighted to equal total weight, so rare attributes (hats) get a boundary through
    the middle rather than one that calls everyone hatless. Deterministic: no random start.
    """
    x, y = x.double(), y.double()
    centre = x.mean(0)
    xc = x - centre
    positives = y.sum().clamp_min(1)
    weights = torch.where(y > 0, 0.5 / positives, 0.5 / (len(y) - positives).clamp_min(1))
    params = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([params], lr=1, max_iter=500, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def loss():
        optimiser.zero_grad()
        logits = xc @ params[:-1] + params[-1]
        value = (weights * torch.nn.functional.softplus(-(2 * y - 1) * logits)).sum()
        value = value + l2 * params[:-1].square().sum()
        value.backward()
        return value

    optimiser.step(loss)
    normal = params[:-1].detach()
    return Boundary(normal, float(params[-1].detach()), centre, l2)


def balanced_hits(predicted: torch.Tensor, y: torch.Tensor) -> float:
    """Mean of the per-class recalls of 0/1 `predicted`: 0.5 is chance whatever the class balance."""
    hit = predicted.bool() == (y > 0)
    return float((hit[y > 0].double().mean() + hit[y <= 0].double().mean()) / 2)


def balanced_accuracy(boundary: Boundary, x: torch.Tensor, y: torch.Tensor) -> float:
    return balanced_hits(boundary.predict(x), y)


def fit_direction(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> Boundary:
    """The boundary for the best `L2_CHOICES` on a seeded validation split, refitted on all of x."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    held = order[:int(len(x) * VALIDATION_FRACTION)]
    fit = order[len(held):]
    scores = {l2: balanced_accuracy(fit_logistic(x[fit], y[fit], l2), x[held], y[held]) for l2 in L2_CHOICES}
    best = max(L2_CHOICES, key=lambda l2: (scores[l2], l2))  # ties: the stronger penalty
    return fit_logistic(x, y, best)


def latent_features(latents: torch.Tensor) -> torch.Tensor:
    """The mean W+ row: a direction in W, applicable to any row range, whose sigma means the same
    as GANSpace's and SeFa's. The mean row holds about 90% of the regressor's offset from w_avg.
    A classifier on the flattened W+ scores a little higher on held-out renders, but its per-row
    normals are about 3x longer than their mean: it separates the classes by differences between
    rows, which a generator's W never has, and moving along it recolours the whole portrait."""
    return latents.mean(1)


