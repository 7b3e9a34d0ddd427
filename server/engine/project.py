"""Project a partly known image into a generator's latent space (W+ or a stylemap: see latents.py).

Methods (`ProjectOptions.method`):

* `regressor`: one forward pass of the latent regressor on `(image * mask, mask)`; the objective (and
  with it the discriminator) is evaluated for the loss metric only when `report_loss` asks for it.
* `optimize`: gradient descent on the masked losses from `init` (w_avg by default) in Z, W or W+,
  with Adam and NVIDIA's projector schedule (linear lr warm-up, cosine ramp-down, decaying
  Gaussian noise on w scaled by the W spread), or with L-BFGS (strong-Wolfe line search, a few
  iterations per step; the lr schedule and the w noise do not apply: a line search needs a
  deterministic objective). The w noise (`initial_noise_factor`) defaults to NVIDIA's 0.05 when
  the start is w_avg or a random z, where it helps to explore, and to 0 from a regressed or given
  latent, which is already in the right basin (on the interim embedded model, hybrid-100 gained
  about 1 dB on held-out renders and collages without it: docs/benchmark.md).
* `hybrid`: the regressor's output as the start, then optimisation in W+ with an extra
  encoder-consistency term: the regressor applied to the generated image should give the same
  W+ as the regressor applied to the masked target (In-Domain GAN inversion's idea, with the
  regressor as the encoder; this keeps the unknown region where the regressor believes it is).
* `scribble`: the mask holds the painted strokes only, so the constraints are sparse. It starts
  from the regressor when the model has one (else w_avg), optimises in W for the first half of the
  steps (a single style vector stays on the learned manifold) and in W+ for the second half, with
  the W+ deviation prior at least `SCRIBBLE_WPLUS_PRIOR`. It uses the pixel loss only: the features
  of a mostly blank stroke image say little, and the strokes' colours are the whole request.

`hybrid` always works in W+ and `scribble` follows its own W-then-W+ plan; both ignore `space`.
An explicit `init` overrides a method's default start.

When `optimize_noise` is set, the noise maps start from the generator's constant noise
(normalised), so that zero steps reproduce the `const` rendering; they are optimised with the
latent, penalised by NVIDIA's autocorrelation regulariser and re-normalised after every step. It is
off by default: per-pixel noise fits the covered pixels and does nothing for the unknown ones.

Restarts: restart r > 0 starts from the init plus Gaussian jitter of `RESTART_JITTER` times the
per-dimension W spread (in Z space: a new random z, or jitter of the given z), so that restarts
explore different basins even with a deterministic optimiser; the lowest final loss wins. All
randomness comes from generators seeded from `(seed, restart)`.

Stylemap models (StyleMapGAN): the regressor is the model's encoder; spaces `w` and `w+` both optimise
the stylemap itself (it is that family's W: there are no rows to tie), `z` goes through its mapping;
the W+ deviation prior is W+ only (a stylemap is one row), so `scribble` there is the stylemap fitted to
the strokes by the pixel loss alone; there are no noise inputs to optimise. Cells of the stylemap with
no covered pixel under them keep the start's value (the encoder's guess, for `hybrid`): optimising
them only smeared the covered pixels' loss into the hole.

Truncation (`truncation` psi < 1) pulls the final latent toward w_avg, `w_avg + psi (w - w_avg)`: the
regressor's W+ before its one rendering, an optimising method's best result after the optimisation
(rendered once more). The returned latent, image and metrics are the truncated ones.
"""
from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from server.models.model import MissingPart, Model

from .errors import InvalidInput, ModelUnavailable
from .latents import W_PLUS, mean_latent, truncate
from .losses import (
    DiscriminatorLoss,
    ImageLoss,
    MSSSIMLoss,
    PixelLoss,
    masked_psnr,
    masked_ssim,
    noise_regularization,
    normalize_noise_,
    wplus_prior,
)
from .pixels import to_uint8_hwc
from .progress import CancelToken, ProgressCallback, report
from .project_options import ProjectOptions, learning_rate, w_noise_scale

SCRIBBLE_WPLUS_PRIOR = 1.0
RESTART_JITTER = 0.5
DEFAULT_W_NOISE = 0.05
W_STD_SAMPLES = 10_000


@dataclass
class Projection:
    latent: Tensor  # [N, *latent_shape] (W+ or a stylemap), detached, CPU
    noise: list[Tensor] | None  # optimised noise maps [N, 1, r, r] (CPU), None when not optimised
    image: Tensor  # generated [N, 3, R, R], CPU
    metrics: dict = field(default_factory=dict)


_W_STD_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@torch.no_grad()
def w_spread(g, cancel: CancelToken | None = None) -> float:
    """NVIDIA's `w_std`: sqrt(E ||w - w_avg||^2) over seeded mapping samples, w one latent row (a W
    vector, or a whole stylemap); cached per generator, and the server computes it when it loads a
    model, so no request waits for it."""
    if g not in _W_STD_CACHE:
        total = 0.0
        w_avg = g.w_avg.reshape(-1)
        for w in g.sample_w(W_STD_SAMPLES, seed=0):
            if cancel is not None:
                cancel.check()
            total += float((w - w_avg).double().square().sum())
        _W_STD_CACHE[g] = math.sqrt(total / W_STD_SAMPLES)
    return _W_STD_CACHE[g]


# ----------------------------------------------------------------------------- plan


@dataclass
class _Plan:
    stage: str
    phases: list[tuple[str, int]]  # (space, steps)
    init: str | None  # None in Z space: a seeded random z
    init_latent: Tensor | None  # the checked `options.init_latent` when init is 'latent'
    wplus_prior_weight: float
    image_losses: list[tuple[float, ImageLoss]]
    consistency_weight: float
    w_noise_factor: float  # the resolved `initial_noise_factor`


def _part(model: Model, name: str, why: str):
    """`model.require` with the engine's error type."""
    if not isinstance(model, Model):
        raise InvalidInput("model", f"must be a server.models.Model, got {type(model).__name__}")
    try:
        return model.require(name, why)
    except MissingPart as exc:
        raise ModelUnavailable(str(exc)) from None


def resolve_perceptual(model: Model, options: ProjectOptions) -> str:
    if options.perceptual is not None:
        return options.perceptual
    return "discriminator" if model.discriminator is not None else "ms-ssim"


def _image_losses(model: Model, options: ProjectOptions, device, pixel_only: bool):
    losses: list[tuple[float, ImageLoss]] = []
    if options.pixel_weight:
        losses.append((options.pixel_weight, PixelLoss(options.pixel_loss)))
    if pixel_only:
        return losses
    name = resolve_perceptual(model, options)
    weight = 0.0 if name == "none" else options.perceptual_weight
    d_weight = weight if name == "discriminator" else 0.0
    if d_weight or options.style_weight:
        d = _part(model, "discriminator", "discriminator features and the style loss need one")
        losses.append((1.0, DiscriminatorLoss(d, d_weight, options.style_weight)))
    if weight and name == "lpips":
        if model.lpips is None:
            raise ModelUnavailable("the LPIPS loss needs VGG16 weights: start the server with --lpips-weights")
        losses.append((weight, model.lpips.to(device)))
    elif weight and name == "ms-ssim":
        losses.append((weight, MSSSIMLoss()))
    return losses


def _plan(model: Model, g, options: ProjectOptions, device, n: int) -> _Plan:
    method, steps = options.method, options.steps
    has_regressor = model.regressor is not None
    consistency = 0.0
    prior = options.wplus_prior_weight
    if method == "regressor":
        _part(model, "regressor", "the 'regressor' method needs one")
        phases, init = [], "regressor"
    elif method == "scribble":
        phases = [(space, n) for space, n in (("w", steps // 2), ("w+", steps - steps // 2)) if n]
        init = options.init or ("regressor" if has_regressor else "w_avg")
        prior = max(prior, SCRIBBLE_WPLUS_PRIOR)
    elif method == "hybrid":
        _part(model, "regressor", "the 'hybrid' method starts from it")
        phases, init = [("w+", steps)], options.init or "regressor"
        consistency = options.encoder_consistency_weight
    else:
        phases, init = [(options.space, steps)], options.init
        if options.space == "z":
            if g.c_dim:
                raise InvalidInput("options.space", "Z space is not supported for conditional models")
            if init not in (None, "latent"):
                raise InvalidInput("options.init", "Z space starts from a seeded random z or a given "
                                   "z (init 'latent'), not from a W latent")
        else:
            init = init or "w_avg"
    if init == "regressor":
        _part(model, "regressor", "init 'regressor' needs one")
    if options.optimize_noise and not g.synthesis.noise_layers:
        raise InvalidInput("options.optimize_noise", "this model has no noise inputs to optimise")
    given = _check_init_latent(g, options.init_latent, phases[0][0], device, n) if init == "latent" else None
    losses = _image_losses(model, options, device, pixel_only=method == "scribble")
    w_noise = options.initial_noise_factor
    if w_noise is None:
        w_noise = DEFAULT_W_NOISE if init in (None, "w_avg") else 0.0
    return _Plan(method, phases, init, given, prior, losses, consistency, w_noise)


# ----------------------------------------------------------------------------- inputs


def _check_inputs(g, image, mask, device) -> tuple[Tensor, Tensor]:
    r = g.resolution
    if not (isinstance(image, Tensor) and image.is_floating_point() and image.ndim == 4
            and image.shape[0] >= 1 and tuple(image.shape[1:]) == (3, r, r)):
        got = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise InvalidInput("image", f"must be a float tensor of shape (N, 3, {r}, {r}) at the generator's "
                           f"resolution, got {got}")
    n = image.shape[0]
    if not isinstance(mask, Tensor) or not mask.is_floating_point() or tuple(mask.shape) != (n, 1, r, r):
        got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise InvalidInput("mask", f"must be a float tensor of shape ({n}, 1, {r}, {r}), got {got}")
    if not bool(torch.isfinite(image).all()):
        raise InvalidInput("image", "holds NaN or infinite values")
    if not bool(((mask >= 0) & (mask <= 1)).all()):
        raise InvalidInput("mask", "values must lie in [0, 1]")
    if float(mask.sum()) <= 0:
        raise InvalidInput("mask", "covers no pixel: there is nothing to project")
    return image.to(device, torch.float32), mask.to(device, torch.float32)


def _check_init_latent(g, latent: Tensor, space: str, device, n: int) -> Tensor:
    shape = (n, g.z_dim) if space == "z" else (n, *g.latent_shape)
    if tuple(latent.shape) != shape:
        raise InvalidInput("options.init_latent", f"must have shape {shape} here, got {tuple(latent.shape)}")
    return latent.to(device, torch.float32)


# ----------------------------------------------------------------------------- optimisation


class _Latent:
    """The optimised variable and how it becomes the generator's latent (W: one W+ row shared by all).
    `held` (bool, broadcast against a stylemap): cells that keep their start value whatever the loss says."""

    def __init__(self, g, space: str, start: Tensor, held: Tensor | None = None):
        self.g, self.space = g, space
        self.tied_rows = space == "w" and g.latent_kind == W_PLUS
        if self.tied_rows:
            start = start.mean(dim=1, keepdim=True)
        self.param = start.detach().clone().requires_grad_(True)
        self.held = held if space != "z" else None
        self.anchor = start.detach() if self.held is not None else None

    def ws(self, offset: Tensor | None = None) -> Tensor:
        p = self.param if offset is None else self.param + offset
        if self.space == "z":
            return self.g.mapping(p, None)
        if self.held is not None:
            p = torch.where(self.held, self.anchor, p)
        return p.expand(-1, self.g.num_ws, -1) if self.tied_rows else p


class _Objective:
    """Weighted image terms (target side precomputed) plus the latent and noise priors."""

    def __init__(self, terms, wplus_weight: float, noise_weight: float):
        self.terms, self.wplus_weight, self.noise_weight = terms, wplus_weight, noise_weight

    def __call__(self, img: Tensor, ws: Tensor, noises: list[Tensor] | None) -> Tensor:
        loss = sum(weight * term(img) for weight, term in self.terms)
        if self.wplus_weight and ws.ndim == 3:  # W+ only: a stylemap has no rows to keep together
            loss = loss + self.wplus_weight * wplus_prior(ws)
        if noises and self.noise_weight:
            loss = loss + self.noise_weight * noise_regularization(noises)
        return loss


def _preview(img: Tensor, size: int) -> np.ndarray:
    x = img[:1].detach().float()
    if x.shape[-1] > size:
        x = F.interpolate(x, size=(size, size), mode="area")
    return to_uint8_hwc(x)[0]


def _restart_seed(seed: int, restart: int) -> int:
    return int(np.random.SeedSequence([seed, restart]).generate_state(1, dtype=np.uint64)[0])


class _Run:
    """One projection request: the bound objective, progress counting, and the optimisation runs."""

    def __init__(self, model, g, target, mask, options, plan, device, progress, cancel, regress=None):
        self.model, self.g, self.options, self.plan = model, g, options, plan
        self.target, self.mask = target, mask
        self.batch = target.shape[0]
        self.device = device
        self.progress, self.cancel = progress, cancel
        self.total = options.steps * options.restarts
        self.done = 0
        self._regress = regress
        self._regressed: Tensor | None = None
        self._objective: _Objective | None = None

    def regressed(self) -> Tensor:
        """The regressor's latent for the masked target (one forward pass, reused), or what the
        `regress` given to `project` computes in its place (a stylemap collage encoded layer by layer)."""
        if self._regressed is None:
            r = _part(self.model, "regressor", "this method needs one")
            with torch.no_grad():
                if self._regress is None:
                    self._regressed = r(self.target * self.mask, self.mask).float()
                else:
                    self._regressed = _check_init_latent(self.g, self._regress(), "w+", self.device, self.batch)
        return self._regressed

    @property
    def objective(self) -> _Objective:
        """The bound objective, built on first use (binding runs the discriminator on the target)."""
        if self._objective is None:
            terms = [(w, loss.bind(self.target, self.mask)) for w, loss in self.plan.image_losses]
            if self.plan.consistency_weight:
                r, goal = self.model.regressor, self.regressed()
                terms.append((self.plan.consistency_weight, lambda img: (r(img) - goal).square().mean()))
            noise_weight = self.options.noise_reg_weight if self.options.optimize_noise else 0.0
            self._objective = _Objective(terms, self.plan.wplus_prior_weight, noise_weight)
        return self._objective

    def held_cells(self) -> Tensor | None:
        """A stylemap's cells whose footprint holds no covered pixel (bool [N, 1, h, w]), or None. The
        loss reaches them only through the convolutions' spread from covered pixels nearby, which paints
        blotches into a hole; they keep the start's value (the encoder's guess) instead. None for W+, and
        when every cell or none is covered."""
        if self.g.latent_kind == W_PLUS:
            return None
        held = F.adaptive_max_pool2d(self.mask, self.g.latent_shape[-2:]) == 0
        return held if bool(held.any()) and not bool(held.all()) else None

    def check_cancel(self):
        if self.cancel is not None:
            self.cancel.check()

    def evaluate(self, ws: Tensor, noises: list[Tensor] | None, with_loss: bool = True) -> tuple[Tensor, float]:
        """The image of `ws` and the objective's value there (0.0 when not `with_loss`)."""
        with torch.no_grad():
            img = self.g.synthesis(ws, noise_mode="const", noise=noises)
            return img, float(self.objective(img, ws, noises)) if with_loss else 0.0

    # -- one optimisation run

    def _start(self, restart: int, gen: torch.Generator) -> Tensor:
        """The plan's start (z in Z space, else W+), jittered for restarts after the first."""
        g, plan = self.g, self.plan
        if plan.phases[0][0] == "z":
            if plan.init != "latent":
                return torch.randn(self.batch, g.z_dim, generator=gen, device=self.device)
            start, per_dim = plan.init_latent, 1.0
        else:
            if plan.init == "latent":
                start = plan.init_latent
            elif plan.init == "regressor":
                start = self.regressed()
            else:
                start = mean_latent(g, self.batch)
            per_dim = w_spread(g, self.cancel) / math.sqrt(g.latent_rows[1]) if restart else 0.0
        if restart:
            jitter = torch.randn(start.shape, generator=gen, device=self.device)
            start = start + RESTART_JITTER * per_dim * jitter
        return start

    def _initial_noise(self) -> list[Tensor] | None:
        if not self.options.optimize_noise:
            return None
        noises = [layer.noise_const.detach().float().view(1, 1, *layer.noise_const.shape[-2:])
                  .repeat(self.batch, 1, 1, 1) for layer in self.g.synthesis.noise_layers]
        normalize_noise_(noises)
        return [n.requires_grad_(True) for n in noises]

    def _optimizer(self, params):
        if self.options.optimizer == "lbfgs":
            return torch.optim.LBFGS(params, lr=1.0, max_iter=self.options.lbfgs_iterations,
                                     line_search_fn="strong_wolfe")
        return torch.optim.Adam(params, lr=self.options.lr, betas=(0.9, 0.999))

    def optimize(self, restart: int) -> tuple[Tensor, list[Tensor] | None, Tensor, float]:
        """One run through the plan's phases; returns (W+, noise maps, image, final loss)."""
        o = self.options
        gen = torch.Generator(device=self.device).manual_seed(_restart_seed(o.seed, restart))
        start = self._start(restart, gen)
        noises = self._initial_noise()
        spread = w_spread(self.g, self.cancel) if o.optimizer == "adam" and self.plan.w_noise_factor > 0 else 0.0
        step, held = 0, self.held_cells()
        for space, n in self.plan.phases:
            start = self._phase(_Latent(self.g, space, start, held), range(step, step + n), noises, gen, spread)
            step += n
        img, loss = self.evaluate(start, noises)
        return start, noises, img, loss

    def _phase(self, latent: _Latent, steps: range, noises, gen: torch.Generator, spread: float) -> Tensor:
        """Optimise `latent` (and `noises`) over the global step indices `steps`; return the final W+."""
        o, g = self.options, self.g
        params = [latent.param] + (noises or [])
        opt = self._optimizer(params)
        noisy = spread > 0 and latent.space != "z"
        buffer = torch.empty_like(latent.param) if noisy else None
        state: dict[str, Tensor | None] = {"offset": None, "image": None}

        def closure():
            opt.zero_grad(set_to_none=True)
            ws = latent.ws(state["offset"])
            img = g.synthesis(ws, noise_mode="const", noise=noises)
            loss = self.objective(img, ws, noises)
            loss.backward(inputs=params)
            state["image"] = img
            return loss

        for step in steps:
            self.check_cancel()
            t = step / o.steps
            if o.optimizer == "adam":
                for group in opt.param_groups:
                    group["lr"] = learning_rate(o, t)
            scale = w_noise_scale(o, self.plan.w_noise_factor, spread, t) if noisy else 0.0
            state["offset"] = buffer.normal_(0.0, scale, generator=gen) if scale > 0 else None
            opt.step(closure)
            if noises:
                normalize_noise_(noises)
            self._report(state["image"])
        return latent.ws().detach()

    def _report(self, img: Tensor):
        self.done += 1
        every = self.options.preview_every
        preview = None
        if every and (self.done % every == 0 or self.done == self.total):
            preview = _preview(img, self.options.preview_size)
        report(self.progress, self.plan.stage, self.done, self.total, preview)


def project(model: Model, image: Tensor, mask: Tensor, options: ProjectOptions | None = None,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
            regress: Callable[[], Tensor] | None = None) -> Projection:
    """Find a W+ latent whose image matches `image` on the covered pixels of `mask`.

    `model` is a `server.models.Model` (as `load_model` returns);
    `image` [N, 3, R, R] in [-1, 1] and `mask` [N, 1, R, R] in [0, 1] at the generator's resolution R
    (a batch is N independent projections sharing one schedule; the server sends N = 1, evaluation
    scripts more; restarts need N = 1, and the metrics pool the batch). `perceptual='lpips'` needs
    `model.lpips`. `regress()`, when given, computes the latent [N, *latent_shape] that stands in for
    the regressor's pass on the masked image (the regressor method's result, the other methods'
    'regressor' start), called only when the method needs it: a stylemap collage encoded layer by layer.
    Raises InvalidInput, ModelUnavailable, Cancelled; as part of a server job (jobs.py) also OutOfMemory.
    """
    if options is None:
        options = ProjectOptions()
    if not isinstance(options, ProjectOptions):
        raise InvalidInput("options", f"must be ProjectOptions, got {type(options).__name__}")
    options.validate()
    started = time.perf_counter()
    g = _part(model, "generator", "projection needs one")
    device = g.w_avg.device
    target, mask = _check_inputs(g, image, mask, device)
    if options.restarts > 1 and target.shape[0] > 1:
        raise InvalidInput("options.restarts", "best-of-N restarts need a single image, not a batch")
    plan = _plan(model, g, options, device, target.shape[0])
    run = _Run(model, g, target, mask, options, plan, device, progress, cancel, regress)
    if options.method == "regressor":
        run.check_cancel()
        ws, noises = truncate(g, run.regressed(), options.truncation), None
        img, loss = run.evaluate(ws, None, with_loss=options.report_loss)
        preview = _preview(img, options.preview_size) if options.preview_every else None
        report(progress, "regressor", 1, 1, preview)
        steps, restarts = 0, 1
    else:
        best = None
        for restart in range(options.restarts):
            result = run.optimize(restart)
            if best is None or result[3] < best[3]:
                best = result
        ws, noises, img, loss = best
        if options.truncation < 1:
            run.check_cancel()
            ws = truncate(g, ws, options.truncation)
            img, loss = run.evaluate(ws, noises)
        steps, restarts = options.steps, options.restarts
    metrics = {
        "masked_psnr": masked_psnr(img, target, mask),
        "masked_ssim": masked_ssim(img, target, mask),
        "steps": steps,
        "seconds": time.perf_counter() - started,
        "loss": loss,
        "method": options.method,
        "restarts": restarts,
    }
    return Projection(
        latent=ws.detach().to("cpu", copy=True),
        noise=None if noises is None else [n.detach().to("cpu", copy=True) for n in noises],
        image=img.detach().to("cpu", copy=True),
        metrics=metrics,
    )
