"""StyleGAN2 and StyleMapGAN networks, the latent regressors, and checkpoint readers (no engine, jobs or
gRPC here)."""
from .discriminator import Discriminator, DiscriminatorConfig
from .generator import Generator, GeneratorConfig
from .loading import DEFAULT_NAME, load_discriminator, load_generator, load_model, load_regressor
from .model import MissingPart, Model
from .regressor import LatentRegressor
from .stylemapgan import StyleMapConfig, StyleMapEncoder, StyleMapEncoderConfig, StyleMapGenerator

__all__ = [
    "DEFAULT_NAME", "Discriminator", "DiscriminatorConfig", "Generator", "GeneratorConfig",
    "LatentRegressor", "MissingPart", "Model", "StyleMapConfig", "StyleMapEncoder", "StyleMapEncoderConfig",
    "StyleMapGenerator", "load_discriminator", "load_generator", "load_model", "load_regressor",
]
