"""The generator route of the supervised directions: a small CNN on a crop of the lower face and eyes
labels generator samples for the attributes the regressor's latents hardly encode; the generator's
colour subspace and the conditioning that projects colour out of a normal; and the edit figure
(how many held-out projections the CNN labels positive before and after a +`EDIT_STRENGTH` sigma edit)."""
from __future__ import annotations

import torch

from server.models.directions import Direction
from server.training.direction_attributes import Attribute, labels
from server.training.portrait_params import PortraitParams

GENERATOR_SAMPLES = 6000
SAMPLE_SEED = 1  # the generator samples the CNN labels (seed 0 draws the sigma samples)
EDIT_STRENGTH = 2  # sigma, for the generator route's edit figure
COLOUR_SUBSPACE = 16  # dimensions of the generator's colour subspace projected out as well
COLOUR_BLOCKS = 8  # the colour targets: an 8x8 grid of block means...
LOWER_FACE = (slice(4, 7), slice(2, 6))  # ...less the blocks of mouths and beards


# --------------------------------------------------------------------- the generator route


CROP = (slice(22, 54), slice(16, 48))  # rows, columns of a 64 px portrait: eyes down to the chin
CNN_EPOCHS = 8
CNN_BATCH = 64


class PixelClassifier(torch.nn.Module):
    """One logit per generator-route attribute from the `CROP` of a [-1, 1] image. Mouths are a few
    pixels wide at 64 px: on the whole image with global pooling they drown (chance for smiles), on
    the crop with a flattened 4x4 map the classifier keeps where things are."""

    def __init__(self, outputs: int):
        super().__init__()

        def conv(i, o):
            return [torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.BatchNorm2d(o), torch.nn.ReLU()]

        pool = torch.nn.MaxPool2d(2)
        self.net = torch.nn.Sequential(*conv(3, 24), *conv(24, 32), pool, *conv(32, 48), pool, *conv(48, 64), pool,
                                       torch.nn.Flatten(), torch.nn.Dropout(0.3), torch.nn.Linear(64 * 4 * 4, 64),
                                       torch.nn.ReLU(), torch.nn.Linear(64, outputs))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images[:, :, CROP[0], CROP[1]])


def blurred(images: torch.Tensor, gen: torch.Generator, max_sigma: float = 1.2) -> torch.Tensor:
    """Each image Gaussian-blurred with its own sigma in U(0, max_sigma), plus a little noise: renders
    are crisper than the generator's images, and the classifier has to label the latter."""
    n, channels = images.shape[:2]
    sigma = (torch.rand(n, generator=gen) * max_sigma).clamp_min(1e-3)
    taps = torch.arange(-2, 3, dtype=images.dtype)
    kernel = torch.exp(-taps[None] ** 2 / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(channels, 0)
    x = images.reshape(1, n * channels, *images.shape[2:])
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 0, 0), mode="replicate"),
                                   kernel[:, None, None, :], groups=n * channels)
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 0, 2, 2), mode="replicate"),
                                   kernel[:, None, :, None], groups=n * channels)
    return x.reshape(images.shape) + 0.03 * torch.randn(images.shape, generator=gen)


def label_matrix(attributes: list[Attribute], params: list[PortraitParams]) -> torch.Tensor:
    """[N, len(attributes)]: 1 / 0 labels, -1 where an attribute leaves the portrait out."""
    table = torch.full((len(params), len(attributes)), -1.0)
    for j, attribute in enumerate(attributes):
        idx, y = labels(attribute, params)
        table[idx, j] = torch.from_numpy(y)
    return table


def train_pixel_classifier(images: torch.Tensor, y: torch.Tensor, epochs: int = CNN_EPOCHS,
                           seed: int = 0) -> PixelClassifier:
    """Adam on the masked, class-balanced (pos_weight) binary cross-entropy of every head, on
    blurred `images`; seeded, so a rerun gives the same classifier."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = PixelClassifier(y.shape[1])
    optimiser = torch.optim.Adam(net.parameters(), 2e-3)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, 0.7)
    known = (y >= 0).float()
    pos_weight = ((y == 0).sum(0) / (y == 1).sum(0).clamp_min(1)).float()
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for start in range(0, len(images), CNN_BATCH):
            i = order[start:start + CNN_BATCH]
            losses = torch.nn.functional.binary_cross_entropy_with_logits(
                net(blurred(images[i], gen)), y[i].clamp_min(0), reduction="none", pos_weight=pos_weight)
            loss = (losses * known[i]).sum() / known[i].sum().clamp_min(1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        schedule.step()
    return net.eval()


@torch.no_grad()
def pixel_positive(net: PixelClassifier, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """[N, heads] bool: the classifier's thresholded labels (probability above 0.5)."""
    return torch.cat([net(images[s:s + batch]) > 0 for s in range(0, len(images), batch)])


def block_colours(images: torch.Tensor) -> torch.Tensor:
    """[N, 3 * blocks]: the mean colour of each `COLOUR_BLOCKS` x `COLOUR_BLOCKS` block outside
    `LOWER_FACE`: skin, hair, hat, clothes and background, not the parts the route edits."""
    means = torch.nn.functional.adaptive_avg_pool2d(images, COLOUR_BLOCKS)
    keep = torch.ones(COLOUR_BLOCKS, COLOUR_BLOCKS, dtype=torch.bool)
    keep[LOWER_FACE] = False
    return means[:, :, keep].flatten(1)


@torch.no_grad()
def labelled_generator_samples(g, net: PixelClassifier, count: int = GENERATOR_SAMPLES, seed: int = SAMPLE_SEED,
                               batch: int = 250) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(seeded W samples [count, w_dim], the classifier's labels of their images [count, heads],
    their `block_colours`)."""
    ws = torch.cat([w.float().cpu() for w in g.sample_w(count, seed)])
    found, colours = [], []
    for s in range(0, count, batch):
        images = g.synthesis(ws[s:s + batch, None].repeat(1, g.num_ws, 1), noise_mode="const")
        found.append(pixel_positive(net, images))
        colours.append(block_colours(images))
    return ws, torch.cat(found), torch.cat(colours)


def colour_subspace(ws: torch.Tensor, colours: torch.Tensor, count: int = COLOUR_SUBSPACE,
                    ridge: float = 0.1) -> torch.Tensor:
    """[count, w_dim]: the W directions that move `colours` most. A ridge regression maps W to the
    colours; its leading left singular vectors span the colour edits. The latent-route colour
    directions alone are not enough: they come from regressor latents, and along them the generator's
    own colour axes still differ (the mouth and beard edits then recolour skin and hair)."""
    x = ws.double() - ws.double().mean(0)
    y = colours.double() - colours.double().mean(0)
    weights = torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y)
    left, _, _ = torch.linalg.svd(weights, full_matrices=False)
    return left[:, :count].T.float()


def conditioned(normal: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
    """`normal` less its projection on the span of `conditions` (InterFaceGAN's conditional
    editing): moving along it leaves the conditions' scores unchanged."""
    basis, _ = torch.linalg.qr(torch.stack([c.double() for c in conditions], 1))
    normal = normal.double()
    return normal - basis @ (basis.T @ normal)


@torch.no_grad()
def edit_positive_rates(g, net: PixelClassifier, head: int, direction: Direction, latents: torch.Tensor,
                        strength: float = EDIT_STRENGTH) -> tuple[float, float]:
    """Fractions of `latents` [N, num_ws, w_dim] the classifier labels positive before and after an
    edit of `strength` sigma on the direction's default rows."""
    edited = latents.clone()
    edited[:, direction.first_layer:direction.last_layer] += strength * direction.sigma * direction.mean_row
    rates = [pixel_positive(net, g.synthesis(x, noise_mode="const"))[:, head].double().mean()
             for x in (latents, edited)]
    return float(rates[0]), float(rates[1])


