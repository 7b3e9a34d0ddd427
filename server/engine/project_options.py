"""What a projection may be asked for: `ProjectOptions` with its checks, and the optimiser's schedules.

The fields and their meaning are documented in project.py's module docstring (the methods) and beside
each field; `validate` names a bad field as `options.<name>`, as the request path reads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from server.shared.defaults import DEFAULT_STEPS, MAX_STEPS

from .errors import InvalidInput
from .validation import check_choice, check_int, check_number

METHODS = ("regressor", "optimize", "hybrid", "scribble")
SPACES = ("z", "w", "w+")
INITS = ("w_avg", "regressor", "latent")
OPTIMIZERS = ("adam", "lbfgs")
PIXEL_LOSSES = ("l2", "l1")
PERCEPTUAL_LOSSES = ("discriminator", "lpips", "ms-ssim", "none")
MAX_RESTARTS = 16


@dataclass
class ProjectOptions:
    method: str = "optimize"
    steps: int = DEFAULT_STEPS
    space: str = "w+"
    init: str | None = None  # None: the method's default (see project.py's docstring)
    init_latent: Tensor | None = None  # W+ [N, num_ws, w_dim], or z [N, z_dim] in Z space
    optimizer: str = "adam"
    lr: float = 0.1  # Adam's peak learning rate
    lr_rampup: float = 0.05  # fraction of the steps for the linear warm-up
    lr_rampdown: float = 0.25  # fraction of the steps for the cosine ramp-down
    lbfgs_iterations: int = 4  # L-BFGS iterations per step
    # w noise at step 0, in units of the W spread; None: the start's default (see project.py's docstring)
    initial_noise_factor: float | None = None
    noise_ramp_length: float = 0.75  # fraction of the steps over which the w noise decays to 0
    pixel_loss: str = "l2"
    pixel_weight: float = 1.0
    perceptual: str | None = None  # None: 'discriminator' when the model has a D, else 'ms-ssim'
    perceptual_weight: float = 1.0
    style_weight: float = 0.0  # Gram matrices of D features
    noise_reg_weight: float = 1e5
    optimize_noise: bool = False
    wplus_prior_weight: float = 0.0
    encoder_consistency_weight: float = 1.0  # hybrid only
    restarts: int = 1
    seed: int = 0
    preview_every: int = 0  # 0: no previews
    preview_size: int = 64
    report_loss: bool = False  # regressor: also evaluate the objective (the other methods always do)
    truncation: float = 1.0  # psi: the final latent becomes w_avg + psi (w - w_avg); 1 = none

    def validate(self) -> None:
        """Raise InvalidInput naming the first bad field (`options.<name>`)."""
        check_choice("options.method", self.method, METHODS)
        check_int("options.steps", self.steps, 1, MAX_STEPS)
        check_choice("options.space", self.space, SPACES)
        if self.init is not None:
            check_choice("options.init", self.init, INITS)
        if self.init_latent is not None or self.init == "latent":
            t = self.init_latent
            if not isinstance(t, Tensor) or not t.is_floating_point() or not bool(torch.isfinite(t).all()):
                raise InvalidInput("options.init_latent", "must be a finite floating-point tensor "
                                   "(required when init is 'latent')")
        check_choice("options.optimizer", self.optimizer, OPTIMIZERS)
        check_number("options.lr", self.lr, 0.0, 10.0, low_open=True)
        check_number("options.lr_rampup", self.lr_rampup, 0.0, 1.0)
        check_number("options.lr_rampdown", self.lr_rampdown, 0.0, 1.0)
        check_int("options.lbfgs_iterations", self.lbfgs_iterations, 1, 100)
        if self.initial_noise_factor is not None:
            check_number("options.initial_noise_factor", self.initial_noise_factor, 0.0, 10.0)
        check_number("options.noise_ramp_length", self.noise_ramp_length, 0.0, 1.0, low_open=True)
        check_choice("options.pixel_loss", self.pixel_loss, PIXEL_LOSSES)
        if self.perceptual is not None:
            check_choice("options.perceptual", self.perceptual, PERCEPTUAL_LOSSES)
        for name in ("pixel_weight", "perceptual_weight", "style_weight", "noise_reg_weight",
                     "wplus_prior_weight", "encoder_consistency_weight"):
            check_number(f"options.{name}", getattr(self, name), 0.0, math.inf)
        for name in ("optimize_noise", "report_loss"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"options.{name}", f"must be a bool, got {getattr(self, name)!r}")
        check_int("options.restarts", self.restarts, 1, MAX_RESTARTS)
        check_int("options.seed", self.seed, 0, 2 ** 63 - 1)
        check_int("options.preview_every", self.preview_every, 0, MAX_STEPS)
        check_int("options.preview_size", self.preview_size, 8, 1024)
        check_number("options.truncation", self.truncation, 0.0, 1.0)
        no_perceptual = self.perceptual == "none" or self.perceptual_weight == 0
        if self.method != "regressor" and self.pixel_weight == 0 and no_perceptual and self.style_weight == 0:
            raise InvalidInput("options.pixel_weight", "every image loss has weight 0: nothing to fit")


def learning_rate(options: ProjectOptions, t: float) -> float:
    """NVIDIA's projector schedule at progress t in [0, 1): linear warm-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / options.lr_rampdown) if options.lr_rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if options.lr_rampup > 0:
        ramp *= min(1.0, t / options.lr_rampup)
    return options.lr * ramp


def w_noise_scale(options: ProjectOptions, factor: float, spread: float, t: float) -> float:
    return spread * factor * max(0.0, 1.0 - t / options.noise_ramp_length) ** 2
