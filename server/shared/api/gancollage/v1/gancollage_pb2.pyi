from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_UNSPECIFIED: _ClassVar[Method]
    METHOD_REGRESSOR: _ClassVar[Method]
    METHOD_OPTIMIZE: _ClassVar[Method]
    METHOD_HYBRID: _ClassVar[Method]
    METHOD_SCRIBBLE: _ClassVar[Method]
METHOD_UNSPECIFIED: Method
METHOD_REGRESSOR: Method
METHOD_OPTIMIZE: Method
METHOD_HYBRID: Method
METHOD_SCRIBBLE: Method

class Image(_message.Message):
    __slots__ = ("width", "height", "rgba", "png", "rgb")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RGBA_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    RGB_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    rgba: bytes
    png: bytes
    rgb: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., rgba: _Optional[bytes] = ..., png: _Optional[bytes] = ..., rgb: _Optional[bytes] = ...) -> None: ...

class Mask(_message.Message):
    __slots__ = ("width", "height", "data", "png")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    data: bytes
    png: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., data: _Optional[bytes] = ..., png: _Optional[bytes] = ...) -> None: ...

class Layer(_message.Message):
    __slots__ = ("image", "x", "y", "opacity", "hidden", "mask", "name", "canvas_width", "canvas_height")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    OPACITY_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CANVAS_WIDTH_FIELD_NUMBER: _ClassVar[int]
    CANVAS_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    image: Image
    x: int
    y: int
    opacity: float
    hidden: bool
    mask: Mask
    name: str
    canvas_width: int
    canvas_height: int
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., opacity: _Optional[float] = ..., hidden: _Optional[bool] = ..., mask: _Optional[_Union[Mask, _Mapping]] = ..., name: _Optional[str] = ..., canvas_width: _Optional[int] = ..., canvas_height: _Optional[int] = ...) -> None: ...

class Canvas(_message.Message):
    __slots__ = ("width", "height", "layers", "selection", "selection_x", "selection_y")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    SELECTION_X_FIELD_NUMBER: _ClassVar[int]
    SELECTION_Y_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    layers: _containers.RepeatedCompositeFieldContainer[Layer]
    selection: Mask
    selection_x: int
    selection_y: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., layers: _Optional[_Iterable[_Union[Layer, _Mapping]]] = ..., selection: _Optional[_Union[Mask, _Mapping]] = ..., selection_x: _Optional[int] = ..., selection_y: _Optional[int] = ...) -> None: ...

class Latent(_message.Message):
    __slots__ = ("num_ws", "w_dim", "values", "model", "kind", "shape")
    NUM_WS_FIELD_NUMBER: _ClassVar[int]
    W_DIM_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    num_ws: int
    w_dim: int
    values: _containers.RepeatedScalarFieldContainer[float]
    model: str
    kind: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, num_ws: _Optional[int] = ..., w_dim: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ..., kind: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Square(_message.Message):
    __slots__ = ("x", "y", "size")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    size: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class ProjectionOptions(_message.Message):
    __slots__ = ("method", "steps", "space", "init", "init_latent", "optimizer", "lr", "pixel_loss", "perceptual", "perceptual_weight", "style_weight", "noise_reg_weight", "optimize_noise", "wplus_prior_weight", "encoder_consistency_weight", "restarts", "seed", "preview_every", "preview_size", "report_loss", "truncation")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    INIT_LATENT_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    PIXEL_LOSS_FIELD_NUMBER: _ClassVar[int]
    PERCEPTUAL_FIELD_NUMBER: _ClassVar[int]
    PERCEPTUAL_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STYLE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    NOISE_REG_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZE_NOISE_FIELD_NUMBER: _ClassVar[int]
    WPLUS_PRIOR_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODER_CONSISTENCY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_EVERY_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    REPORT_LOSS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    method: Method
    steps: int
    space: str
    init: str
    init_latent: Latent
    optimizer: str
    lr: float
    pixel_loss: str
    perceptual: str
    perceptual_weight: float
    style_weight: float
    noise_reg_weight: float
    optimize_noise: bool
    wplus_prior_weight: float
    encoder_consistency_weight: float
    restarts: int
    seed: int
    preview_every: int
    preview_size: int
    report_loss: bool
    truncation: float
    def __init__(self, method: _Optional[_Union[Method, str]] = ..., steps: _Optional[int] = ..., space: _Optional[str] = ..., init: _Optional[str] = ..., init_latent: _Optional[_Union[Latent, _Mapping]] = ..., optimizer: _Optional[str] = ..., lr: _Optional[float] = ..., pixel_loss: _Optional[str] = ..., perceptual: _Optional[str] = ..., perceptual_weight: _Optional[float] = ..., style_weight: _Optional[float] = ..., noise_reg_weight: _Optional[float] = ..., optimize_noise: _Optional[bool] = ..., wplus_prior_weight: _Optional[float] = ..., encoder_consistency_weight: _Optional[float] = ..., restarts: _Optional[int] = ..., seed: _Optional[int] = ..., preview_every: _Optional[int] = ..., preview_size: _Optional[int] = ..., report_loss: _Optional[bool] = ..., truncation: _Optional[float] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "step", "total", "queue_position", "preview")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    stage: str
    step: int
    total: int
    queue_position: int
    preview: Image
    def __init__(self, stage: _Optional[str] = ..., step: _Optional[int] = ..., total: _Optional[int] = ..., queue_position: _Optional[int] = ..., preview: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class Metrics(_message.Message):
    __slots__ = ("masked_psnr", "masked_ssim", "steps", "seconds", "queue_seconds", "method", "loss", "restarts")
    MASKED_PSNR_FIELD_NUMBER: _ClassVar[int]
    MASKED_SSIM_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    masked_psnr: float
    masked_ssim: float
    steps: int
    seconds: float
    queue_seconds: float
    method: str
    loss: float
    restarts: int
    def __init__(self, masked_psnr: _Optional[float] = ..., masked_ssim: _Optional[float] = ..., steps: _Optional[int] = ..., seconds: _Optional[float] = ..., queue_seconds: _Optional[float] = ..., method: _Optional[str] = ..., loss: _Optional[float] = ..., restarts: _Optional[int] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "api_version", "device", "default_model", "max_queue", "max_message_bytes", "max_layers", "max_canvas_side", "queue_length", "max_frames", "max_request_pixels", "max_result_pixels")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_LAYERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CANVAS_SIDE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULT_PIXELS_FIELD_NUMBER: _ClassVar[int]
    version: str
    api_version: str
    device: str
    default_model: str
    max_queue: int
    max_message_bytes: int
    max_layers: int
    max_canvas_side: int
    queue_length: int
    max_frames: int
    max_request_pixels: int
    max_result_pixels: int
    def __init__(self, version: _Optional[str] = ..., api_version: _Optional[str] = ..., device: _Optional[str] = ..., default_model: _Optional[str] = ..., max_queue: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_layers: _Optional[int] = ..., max_canvas_side: _Optional[int] = ..., queue_length: _Optional[int] = ..., max_frames: _Optional[int] = ..., max_request_pixels: _Optional[int] = ..., max_result_pixels: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "resolution", "num_ws", "w_dim", "has_regressor", "has_discriminator", "description", "is_default", "available", "error", "latent_kind", "latent_shape", "num_levels")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    NUM_WS_FIELD_NUMBER: _ClassVar[int]
    W_DIM_FIELD_NUMBER: _ClassVar[int]
    HAS_REGRESSOR_FIELD_NUMBER: _ClassVar[int]
    HAS_DISCRIMINATOR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENT_KIND_FIELD_NUMBER: _ClassVar[int]
    LATENT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    NUM_LEVELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    resolution: int
    num_ws: int
    w_dim: int
    has_regressor: bool
    has_discriminator: bool
    description: str
    is_default: bool
    available: bool
    error: str
    latent_kind: str
    latent_shape: _containers.RepeatedScalarFieldContainer[int]
    num_levels: int
    def __init__(self, name: _Optional[str] = ..., resolution: _Optional[int] = ..., num_ws: _Optional[int] = ..., w_dim: _Optional[int] = ..., has_regressor: _Optional[bool] = ..., has_discriminator: _Optional[bool] = ..., description: _Optional[str] = ..., is_default: _Optional[bool] = ..., available: _Optional[bool] = ..., error: _Optional[str] = ..., latent_kind: _Optional[str] = ..., latent_shape: _Optional[_Iterable[int]] = ..., num_levels: _Optional[int] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class RealizeRequest(_message.Message):
    __slots__ = ("model", "canvas", "options", "margin", "feather", "region", "skip_layer", "collage")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CANVAS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    FEATHER_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    SKIP_LAYER_FIELD_NUMBER: _ClassVar[int]
    COLLAGE_FIELD_NUMBER: _ClassVar[int]
    model: str
    canvas: Canvas
    options: ProjectionOptions
    margin: float
    feather: float
    region: Square
    skip_layer: bool
    collage: str
    def __init__(self, model: _Optional[str] = ..., canvas: _Optional[_Union[Canvas, _Mapping]] = ..., options: _Optional[_Union[ProjectionOptions, _Mapping]] = ..., margin: _Optional[float] = ..., feather: _Optional[float] = ..., region: _Optional[_Union[Square, _Mapping]] = ..., skip_layer: _Optional[bool] = ..., collage: _Optional[str] = ...) -> None: ...

class RealizeResult(_message.Message):
    __slots__ = ("layer", "x", "y", "latent", "metrics", "generated", "region")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    layer: Image
    x: int
    y: int
    latent: Latent
    metrics: Metrics
    generated: Image
    region: Square
    def __init__(self, layer: _Optional[_Union[Image, _Mapping]] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ..., metrics: _Optional[_Union[Metrics, _Mapping]] = ..., generated: _Optional[_Union[Image, _Mapping]] = ..., region: _Optional[_Union[Square, _Mapping]] = ...) -> None: ...

class RealizeEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: RealizeResult
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[RealizeResult, _Mapping]] = ...) -> None: ...

class ProjectRequest(_message.Message):
    __slots__ = ("model", "image", "mask", "options")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    image: Image
    mask: Mask
    options: ProjectionOptions
    def __init__(self, model: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., mask: _Optional[_Union[Mask, _Mapping]] = ..., options: _Optional[_Union[ProjectionOptions, _Mapping]] = ...) -> None: ...

class ProjectResult(_message.Message):
    __slots__ = ("latent", "image", "metrics")
    LATENT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    latent: Latent
    image: Image
    metrics: Metrics
    def __init__(self, latent: _Optional[_Union[Latent, _Mapping]] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., metrics: _Optional[_Union[Metrics, _Mapping]] = ...) -> None: ...

class ProjectEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: ProjectResult
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[ProjectResult, _Mapping]] = ...) -> None: ...

class InterpolateRequest(_message.Message):
    __slots__ = ("model", "a", "b", "frames", "mode")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    model: str
    a: Latent
    b: Latent
    frames: int
    mode: str
    def __init__(self, model: _Optional[str] = ..., a: _Optional[_Union[Latent, _Mapping]] = ..., b: _Optional[_Union[Latent, _Mapping]] = ..., frames: _Optional[int] = ..., mode: _Optional[str] = ...) -> None: ...

class InterpolateFrame(_message.Message):
    __slots__ = ("index", "image", "latent")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    index: int
    image: Image
    latent: Latent
    def __init__(self, index: _Optional[int] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ...) -> None: ...

class InterpolateEvent(_message.Message):
    __slots__ = ("progress", "frame")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    frame: InterpolateFrame
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., frame: _Optional[_Union[InterpolateFrame, _Mapping]] = ...) -> None: ...

class StyleMixRequest(_message.Message):
    __slots__ = ("model", "content", "style", "split")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    model: str
    content: Latent
    style: Latent
    split: int
    def __init__(self, model: _Optional[str] = ..., content: _Optional[_Union[Latent, _Mapping]] = ..., style: _Optional[_Union[Latent, _Mapping]] = ..., split: _Optional[int] = ...) -> None: ...

class LocalBlendRequest(_message.Message):
    __slots__ = ("model", "a", "b", "mask", "start_layer", "mix_space")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    START_LAYER_FIELD_NUMBER: _ClassVar[int]
    MIX_SPACE_FIELD_NUMBER: _ClassVar[int]
    model: str
    a: Latent
    b: Latent
    mask: Mask
    start_layer: int
    mix_space: str
    def __init__(self, model: _Optional[str] = ..., a: _Optional[_Union[Latent, _Mapping]] = ..., b: _Optional[_Union[Latent, _Mapping]] = ..., mask: _Optional[_Union[Mask, _Mapping]] = ..., start_layer: _Optional[int] = ..., mix_space: _Optional[str] = ...) -> None: ...

class ImageResponse(_message.Message):
    __slots__ = ("image", "latent")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    image: Image
    latent: Latent
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ...) -> None: ...

class ListDirectionsRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class DirectionInfo(_message.Message):
    __slots__ = ("name", "kind", "first_layer", "last_layer", "description", "sigma", "accuracy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIRST_LAYER_FIELD_NUMBER: _ClassVar[int]
    LAST_LAYER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SIGMA_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    first_layer: int
    last_layer: int
    description: str
    sigma: float
    accuracy: float
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., first_layer: _Optional[int] = ..., last_layer: _Optional[int] = ..., description: _Optional[str] = ..., sigma: _Optional[float] = ..., accuracy: _Optional[float] = ...) -> None: ...

class ListDirectionsResponse(_message.Message):
    __slots__ = ("directions",)
    DIRECTIONS_FIELD_NUMBER: _ClassVar[int]
    directions: _containers.RepeatedCompositeFieldContainer[DirectionInfo]
    def __init__(self, directions: _Optional[_Iterable[_Union[DirectionInfo, _Mapping]]] = ...) -> None: ...

class Edit(_message.Message):
    __slots__ = ("direction", "strength", "first_layer", "last_layer", "source", "target")
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    FIRST_LAYER_FIELD_NUMBER: _ClassVar[int]
    LAST_LAYER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    direction: str
    strength: float
    first_layer: int
    last_layer: int
    source: Latent
    target: Latent
    def __init__(self, direction: _Optional[str] = ..., strength: _Optional[float] = ..., first_layer: _Optional[int] = ..., last_layer: _Optional[int] = ..., source: _Optional[_Union[Latent, _Mapping]] = ..., target: _Optional[_Union[Latent, _Mapping]] = ...) -> None: ...

class EditLatentRequest(_message.Message):
    __slots__ = ("model", "latent", "edits")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    model: str
    latent: Latent
    edits: _containers.RepeatedCompositeFieldContainer[Edit]
    def __init__(self, model: _Optional[str] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ..., edits: _Optional[_Iterable[_Union[Edit, _Mapping]]] = ...) -> None: ...
