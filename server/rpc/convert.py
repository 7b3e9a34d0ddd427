"""Proto messages <-> engine types: requests in (checked, errors naming the request path), results out.

Pixels arrive as raw RGBA / mask bytes (or PNG files) and leave as raw RGBA; raw pixels reach the
engine as read-only numpy views of the request's bytes, without a copy.
"""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image as PILImage

from server.engine.attribute_edits import MAX_EDITS, AttributeEdit
from server.engine.canvas import MAX_CANVAS_SIDE, MAX_LAYERS, Canvas, Layer
from server.engine.edits import INTERPOLATION_MODES, MIX_SPACES
from server.engine.errors import InvalidInput, TooLarge, pixel_count
from server.engine.latents import KIND_WORDS, STYLEMAP, W_PLUS, shape_text
from server.engine.progress import ProgressEvent
from server.engine.project import Projection, ProjectOptions
from server.engine.realize import RealizeOptions, RealizeResult
from server.engine.validation import check_choice, check_int, check_number
from server.jobs import Queued
from server.models import Model
from server.shared.api.gancollage.v1 import gancollage_pb2 as pb
from server.shared.defaults import MAX_LATENT_SIDE, MAX_LATENT_VALUE
from server.shared.region import Square

from .catalog import ModelEntry
from .pixel_budget import pixel_kind, png_size

MAX_FRAMES = 256
METHODS = {pb.METHOD_REGRESSOR: "regressor", pb.METHOD_OPTIMIZE: "optimize",
           pb.METHOD_HYBRID: "hybrid", pb.METHOD_SCRIBBLE: "scribble"}
_STRING_OPTIONS = ("space", "init", "optimizer", "pixel_loss", "perceptual")
_WEIGHT_OPTIONS = ("perceptual_weight", "style_weight", "noise_reg_weight", "wplus_prior_weight",
                   "encoder_consistency_weight")

# ------------------------------------------------------------------------------------- pixels in


def _decode_png(data: bytes, mode: str, path: str) -> np.ndarray:
    """Decode after checking the header's size (the pixel budget counted it: see pixel_budget.py)."""
    width, height = png_size(data, path)
    if not 1 <= min(width, height) or max(width, height) > MAX_CANVAS_SIDE:
        raise InvalidInput(path, f"the PNG is {width}x{height}; sides must be in [1, {MAX_CANVAS_SIDE}]")
    try:
        with PILImage.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.size != (width, height):
                raise InvalidInput(path, "is not a readable PNG file (its header is inconsistent)")
            return np.asarray(image.convert(mode))
    except InvalidInput:
        raise
    except PILImage.UnidentifiedImageError:
        raise InvalidInput(path, "is not a PNG file") from None
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise InvalidInput(path, f"is not a readable PNG file ({exc})") from None


RAW_CHANNELS = {"rgba": 4, "rgb": 3, "data": 1}


def _pixels(message, path: str, raw: str, mode: str) -> np.ndarray:
    """An Image (raw = 'rgba', or 'rgb') or Mask (raw = 'data') as uint8 (h, w, 4), (h, w, 3) or (h, w)."""
    kind = pixel_kind(message)
    if kind is None:
        raise InvalidInput(path, f"holds no pixels: set {raw} (with width and height) or png")
    if kind == "png":
        array = _decode_png(message.png, mode, f"{path}.png")
        height, width = array.shape[:2]
        for name, given, actual in (("width", message.width, width), ("height", message.height, height)):
            if given and given != actual:
                raise InvalidInput(f"{path}.{name}", f"is {given} but the PNG is {width}x{height}")
        return array
    width = check_int(f"{path}.width", message.width, 1, MAX_CANVAS_SIDE)
    height = check_int(f"{path}.height", message.height, 1, MAX_CANVAS_SIDE)
    data = getattr(message, kind)
    channels = RAW_CHANNELS[kind]
    expected = width * height * channels
    if len(data) != expected:
        raise InvalidInput(f"{path}.{kind}", f"must hold width x height x {channels} = {expected} bytes "
                                             f"for {width}x{height}, got {len(data)}")
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.frombuffer(data, np.uint8).reshape(shape)


def image_from_proto(message: pb.Image, path: str) -> np.ndarray:
    return _pixels(message, path, "rgba", "RGBA")


def mask_from_proto(message: pb.Mask, path: str, shape: tuple[int, int] | None = None,
                    like: str = "") -> np.ndarray:
    """A mask, which must be (height, width) = `shape` (the size of `like`) when given."""
    mask = _pixels(message, path, "data", "L")
    if shape is not None and mask.shape != shape:
        raise InvalidInput(path, f"must be {shape[1]}x{shape[0]} like {like}, got {mask.shape[1]}x{mask.shape[0]}")
    return mask


def _layer(message: pb.Layer, path: str) -> Layer:
    if not message.HasField("image"):
        raise InvalidInput(f"{path}.image", "is missing")
    pixels = image_from_proto(message.image, f"{path}.image")
    mask = None
    if message.HasField("mask"):
        mask = mask_from_proto(message.mask, f"{path}.mask", pixels.shape[:2], "the layer's image")
    opacity = check_number(f"{path}.opacity", message.opacity, 0.0, 1.0) if message.HasField("opacity") else 1.0
    return Layer(pixels, message.x, message.y, opacity, not message.hidden, mask, message.name,
                 message.canvas_width, message.canvas_height)


def canvas_from_proto(message: pb.Canvas, path: str = "canvas") -> Canvas:
    width = check_int(f"{path}.width", message.width, 1, MAX_CANVAS_SIDE)
    height = check_int(f"{path}.height", message.height, 1, MAX_CANVAS_SIDE)
    count = len(message.layers)
    if not 1 <= count <= MAX_LAYERS:
        raise InvalidInput(f"{path}.layers", f"must hold 1 to {MAX_LAYERS} layers, got {count}")
    layers = [_layer(layer, f"{path}.layers[{i}]") for i, layer in enumerate(message.layers)]
    selection = None
    if message.HasField("selection"):
        selection = mask_from_proto(message.selection, f"{path}.selection")
    return Canvas(width, height, layers, selection, message.selection_x, message.selection_y)


# ------------------------------------------------------------------------------------- latents


LATENT_KINDS = (W_PLUS, STYLEMAP)


def _latent_shape(message: pb.Latent, path: str) -> tuple[str, tuple[int, ...]]:
    """(kind, shape without the batch) as the message states them."""
    kind = check_choice(f"{path}.kind", message.kind or W_PLUS, LATENT_KINDS)
    if kind == W_PLUS:
        shape = (check_int(f"{path}.num_ws", message.num_ws, 1, MAX_LATENT_SIDE),
                 check_int(f"{path}.w_dim", message.w_dim, 1, MAX_LATENT_SIDE))
        if message.shape and tuple(message.shape) != shape:
            raise InvalidInput(f"{path}.shape", f"must be empty or [num_ws, w_dim] = {list(shape)}, "
                                                f"got {list(message.shape)}")
        return kind, shape
    if len(message.shape) != 3:
        raise InvalidInput(f"{path}.shape", f"a stylemap needs its shape [C, L, L], got {list(message.shape)}")
    return kind, tuple(check_int(f"{path}.shape[{i}]", side, 1, MAX_LATENT_SIDE)
                       for i, side in enumerate(message.shape))


def latent_from_proto(message: pb.Latent, path: str, model_name: str, g=None) -> torch.Tensor:
    """[1, *shape]; kind and shape must be generator `g`'s latent's when given."""
    if message.model and message.model != model_name:
        raise InvalidInput(f"{path}.model", f"the latent comes from model {message.model!r}, "
                                            f"but this request uses {model_name!r}")
    kind, shape = _latent_shape(message, path)
    if g is not None and kind != g.latent_kind:
        raise InvalidInput(f"{path}.kind", f"is a {KIND_WORDS[kind]}, but model {model_name!r} takes a "
                                           f"{KIND_WORDS[g.latent_kind]}")
    if g is not None and shape != tuple(g.latent_shape):
        raise InvalidInput(path, f"must have the shape {shape_text(g.latent_shape)} for model {model_name!r}, "
                                 f"got {shape_text(shape)}")
    count = int(np.prod(shape, dtype=np.int64))
    if len(message.values) != count:
        raise InvalidInput(f"{path}.values", f"must hold {shape_text(shape)} = {count} numbers, "
                                             f"got {len(message.values)}")
    values = torch.tensor(message.values, dtype=torch.float32)
    if not bool(torch.isfinite(values).all()):
        raise InvalidInput(f"{path}.values", "holds NaN or infinite numbers")
    if bool((values.abs() > MAX_LATENT_VALUE).any()):
        raise InvalidInput(f"{path}.values", f"holds numbers beyond +-{MAX_LATENT_VALUE:g}, far outside any "
                                             f"model's latent space")
    return values.view(1, *shape)


def _required_latent(request, field: str, model: Model, model_name: str) -> torch.Tensor:
    """A latent field of an edit request, shaped for the model."""
    if not request.HasField(field):
        raise InvalidInput(field, "is missing")
    return latent_from_proto(getattr(request, field), field, model_name, model.generator)


def latent_to_proto(latent: torch.Tensor, model_name: str) -> pb.Latent:
    """A latent [1, *shape]: a 2-d shape is W+ (num_ws x w_dim), a 3-d one a stylemap."""
    values = latent.detach().to("cpu", torch.float32)
    shape = tuple(values.shape[1:])
    message = pb.Latent(values=values.flatten().tolist(), model=model_name, shape=shape,
                        kind=W_PLUS if len(shape) == 2 else STYLEMAP)
    if len(shape) == 2:
        message.num_ws, message.w_dim = shape
    return message


# ------------------------------------------------------------------------------------- options


def options_from_proto(message: pb.ProjectionOptions, model: Model, model_name: str,
                       path: str = "options") -> ProjectOptions:
    """ProjectOptions with the proto's defaults resolved, validated (so a bad one never waits in the queue)."""
    options = ProjectOptions()
    if message.method == pb.METHOD_UNSPECIFIED:
        options.method = "regressor" if model.regressor is not None else "optimize"
    elif message.method in METHODS:
        options.method = METHODS[message.method]
    else:
        raise InvalidInput(f"{path}.method", f"unknown method {message.method}; expected one of "
                                             f"{[pb.Method.Name(m) for m in METHODS]}")
    for name in _STRING_OPTIONS:
        if getattr(message, name):
            setattr(options, name, getattr(message, name))
    for name in ("steps", "lr", "restarts", "preview_every", "preview_size"):
        if getattr(message, name):
            setattr(options, name, getattr(message, name))
    for name in _WEIGHT_OPTIONS:
        if message.HasField(name):
            setattr(options, name, getattr(message, name))
    options.optimize_noise = message.optimize_noise
    options.report_loss = message.report_loss
    options.seed = message.seed
    if message.HasField("truncation"):
        options.truncation = message.truncation
    if message.HasField("init_latent"):
        z_space = options.space == "z"
        latent = latent_from_proto(message.init_latent, f"{path}.init_latent", model_name,
                                   None if z_space else model.generator)
        options.init_latent = latent[:, 0] if z_space else latent
    options.validate()
    return options


def realize_from_proto(request: pb.RealizeRequest, model: Model, model_name: str,
                       max_result_pixels: int) -> tuple[Canvas, RealizeOptions]:
    if not request.HasField("canvas"):
        raise InvalidInput("canvas", "is missing")
    canvas = canvas_from_proto(request.canvas)
    options = RealizeOptions(options_from_proto(request.options, model, model_name),
                             skip_layer=request.skip_layer, max_layer_pixels=max_result_pixels)
    if request.HasField("margin"):
        options.margin = request.margin
    if request.HasField("feather"):
        options.feather = request.feather
    if request.HasField("region"):
        options.region = Square(request.region.x, request.region.y, request.region.size)
    options.collage = request.collage
    options.validate()
    return canvas, options


def project_from_proto(request: pb.ProjectRequest, model: Model, model_name: str) -> tuple[Canvas, ProjectOptions]:
    """The image as a one-layer canvas whose layer mask is the known-pixel mask."""
    if not request.HasField("image"):
        raise InvalidInput("image", "is missing")
    pixels = image_from_proto(request.image, "image")
    mask = None
    if request.HasField("mask"):
        mask = mask_from_proto(request.mask, "mask", pixels.shape[:2], "the image")
    canvas = Canvas(pixels.shape[1], pixels.shape[0], [Layer(pixels, mask=mask)])
    return canvas, options_from_proto(request.options, model, model_name)


def interpolate_from_proto(request: pb.InterpolateRequest, model: Model, model_name: str, max_result_pixels: int):
    """(a, b, frames, mode); all the frames together must fit in `max_result_pixels`."""
    frames = check_int("frames", request.frames, 2, MAX_FRAMES)
    side = model.generator.resolution
    if frames * side * side > max_result_pixels:
        raise TooLarge("frames", f"{frames} frames of {side}x{side} would hold more than this server's limit of "
                                 f"{pixel_count(max_result_pixels)} (ServerInfo.max_result_pixels); "
                                 f"ask for at most {max_result_pixels // (side * side)}")
    return (_required_latent(request, "a", model, model_name), _required_latent(request, "b", model, model_name),
            frames, check_choice("mode", request.mode or "linear", INTERPOLATION_MODES))


def style_mix_from_proto(request: pb.StyleMixRequest, model: Model, model_name: str):
    """(content, style, split)."""
    return (_required_latent(request, "content", model, model_name),
            _required_latent(request, "style", model, model_name),
            check_int("split", request.split, 0, model.generator.num_levels))


def local_blend_from_proto(request: pb.LocalBlendRequest, model: Model, model_name: str):
    """(a, b, mask [1, 1, h, w] in [0, 1], start_layer, mix_space)."""
    a = _required_latent(request, "a", model, model_name)
    b = _required_latent(request, "b", model, model_name)
    if not request.HasField("mask"):
        raise InvalidInput("mask", "is missing")
    mask = torch.from_numpy(mask_from_proto(request.mask, "mask").astype(np.float32) / 255.0)[None, None]
    mix_space = request.mix_space and check_choice("mix_space", request.mix_space, MIX_SPACES)
    return a, b, mask, check_int("start_layer", request.start_layer, 0, model.generator.num_levels), mix_space


def edit_latent_from_proto(request: pb.EditLatentRequest, model: Model, model_name: str):
    """(latent, [AttributeEdit]); names and rows are checked against the model's directions in the job."""
    latent = _required_latent(request, "latent", model, model_name)
    if not 1 <= len(request.edits) <= MAX_EDITS:
        raise InvalidInput("edits", f"must hold 1 to {MAX_EDITS} edits, got {len(request.edits)}")
    g = model.generator
    edits = []
    for index, message in enumerate(request.edits):
        where = f"edits[{index}]"
        pair = None
        if not message.direction:
            if not (message.HasField("source") and message.HasField("target")):
                raise InvalidInput(f"{where}.direction", "is empty: name a direction, or give source and target")
            pair = tuple(latent_from_proto(getattr(message, side), f"{where}.{side}", model_name, g)
                         for side in ("source", "target"))
        edits.append(AttributeEdit(
            message.strength, message.direction, pair,
            message.first_layer if message.HasField("first_layer") else None,
            message.last_layer if message.HasField("last_layer") else None))
    return latent, edits


# ------------------------------------------------------------------------------------- results out


def image_to_proto(pixels: np.ndarray) -> pb.Image:
    """uint8 (h, w, 4) or (h, w, 3) (given alpha 255) -> raw RGBA Image."""
    if pixels.shape[2] == 3:
        pixels = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return pb.Image(width=pixels.shape[1], height=pixels.shape[0], rgba=np.ascontiguousarray(pixels).tobytes())


def image_response(image: np.ndarray, latent: torch.Tensor | None, model_name: str) -> pb.ImageResponse:
    """An edit's answer: its image, and its latent when it has one."""
    response = pb.ImageResponse(image=image_to_proto(image))
    if latent is not None:
        response.latent.CopyFrom(latent_to_proto(latent, model_name))
    return response


def progress_to_proto(event: Queued | ProgressEvent) -> pb.Progress:
    if isinstance(event, Queued):
        return pb.Progress(stage="queued", queue_position=event.position)
    progress = pb.Progress(stage=event.stage, step=event.step, total=event.total)
    if event.preview is not None:
        progress.preview.CopyFrom(image_to_proto(event.preview))
    return progress


def metrics_to_proto(metrics: dict, queue_seconds: float) -> pb.Metrics:
    return pb.Metrics(masked_psnr=metrics.get("masked_psnr", 0.0), masked_ssim=metrics.get("masked_ssim", 0.0),
                      steps=metrics.get("steps", 0), seconds=metrics.get("seconds", 0.0),
                      queue_seconds=queue_seconds, method=metrics.get("method", ""),
                      loss=metrics.get("loss", 0.0), restarts=metrics.get("restarts", 0))


def realize_result_to_proto(result: RealizeResult, model_name: str, queue_seconds: float) -> pb.RealizeResult:
    region = result.region
    message = pb.RealizeResult(
        latent=latent_to_proto(result.latent, model_name),
        metrics=metrics_to_proto(result.metrics, queue_seconds),
        generated=image_to_proto(result.generated),
        region=pb.Square(x=region.x, y=region.y, size=region.size))
    if result.layer is not None:
        message.layer.CopyFrom(image_to_proto(result.layer.pixels))
        message.x, message.y = result.layer.x, result.layer.y
    return message


def project_result_to_proto(projection: Projection, image: np.ndarray, model_name: str,
                            queue_seconds: float) -> pb.ProjectResult:
    return pb.ProjectResult(latent=latent_to_proto(projection.latent, model_name), image=image_to_proto(image),
                            metrics=metrics_to_proto(projection.metrics, queue_seconds))


def frame_to_proto(index: int, latent: torch.Tensor, image: np.ndarray, model_name: str) -> pb.InterpolateFrame:
    return pb.InterpolateFrame(index=index, image=image_to_proto(image), latent=latent_to_proto(latent, model_name))


def direction_to_proto(direction) -> pb.DirectionInfo:
    return pb.DirectionInfo(name=direction.name, kind=direction.kind, first_layer=direction.first_layer,
                            last_layer=direction.last_layer, description=direction.description,
                            sigma=direction.sigma, accuracy=direction.extra.get("accuracy", 0.0))


def model_info_to_proto(entry: ModelEntry, is_default: bool) -> pb.ModelInfo:
    """A catalog entry; the sizes and parts only when the model is loaded."""
    info = pb.ModelInfo(name=entry.name, description=entry.card.get("description", ""), is_default=is_default,
                        available=entry.model is not None, error=entry.error)
    if entry.model is not None:
        g = entry.model.generator
        info.resolution, info.latent_kind, info.num_levels = g.resolution, g.latent_kind, g.num_levels
        info.latent_shape.extend(g.latent_shape)
        if g.latent_kind == W_PLUS:
            info.num_ws, info.w_dim = g.latent_shape
        info.has_regressor = entry.model.regressor is not None
        info.has_discriminator = entry.model.discriminator is not None
    return info
