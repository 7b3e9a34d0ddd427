"""A tiny random-weight model, small enough for fast unit tests."""
from __future__ import annotations


def make_tiny_model(resolution: int = 32, seed: int = 0):
    """A random-weight generator + discriminator + regressor as the `server.models.Model` that `load_model`
    returns."""
    import torch

    from server.models import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, Model
    from server.models.regressor import LatentRegressor

    torch.manual_seed(seed)
    channels = {r: 32 for r in (4, 8, 16, 32, 64, 128) if r <= resolution}
    g = Generator(GeneratorConfig(resolution=resolution, z_dim=32, w_dim=32, channels=channels,
                                  mapping_layers=2)).eval()
    g.mapping.w_avg.copy_(g.estimate_w_avg(1000, seed=0))
    d = Discriminator(DiscriminatorConfig(resolution=resolution, channels=channels)).eval()
    r = LatentRegressor(num_ws=g.num_ws, w_dim=g.w_dim, widths=(8, 16, 32, 32), input_size=resolution,
                        has_w_avg=True)
    r.set_w_avg(g.w_avg)
    return Model(g, d, r.eval(), card={"name": "tiny", "resolution": resolution, "num_ws": g.num_ws, "w_dim": g.w_dim})
