"""What one request may carry, as the server says (GetServerInfo): checked before anything is read or sent."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError
from .requests import payload_bytes, request_pixels


@dataclass(frozen=True)
class Limits:
    """What one request may carry (GetServerInfo; 0 = unknown, from an older server)."""
    max_canvas_side: int = 0
    max_layers: int = 0
    max_request_pixels: int = 0
    max_message_bytes: int = 0
    max_frames: int = 0

    @classmethod
    def of(cls, info: dict) -> "Limits":
        return cls(**{name: info.get(name, 0) for name in cls.__dataclass_fields__})

    def check_canvas(self, width: int, height: int) -> None:
        side = self.max_canvas_side
        if side and max(width, height) > side:
            raise UserError(f"This image is {width} x {height} pixels; the GAN Collage server takes images up to "
                            f"{side} pixels on a side. Scale it down (Image > Scale Image) or crop it, then try again.")

    def check_request(self, request: dict) -> None:
        layers = len(request.get("canvas", {}).get("layers", []))
        if self.max_layers and layers > self.max_layers:
            raise UserError(f"The collage has {layers} layers inside the region; the GAN Collage server takes at most "
                            f"{self.max_layers}. Merge some layers, or choose \"Selected layers only\".")
        pixels = request_pixels(request)
        if self.max_request_pixels and pixels > self.max_request_pixels:
            raise UserError(f"This would send {pixels / 1e6:.1f} million pixels; the GAN Collage server takes at most "
                            f"{self.max_request_pixels / 1e6:.1f} million at once. Use a smaller selection or layer, "
                            "or fewer layers.")
        size = payload_bytes(request)
        if self.max_message_bytes and size > self.max_message_bytes:
            raise UserError(f"This would send {size / 2**20:.0f} MiB; the GAN Collage server takes at most "
                            f"{self.max_message_bytes / 2**20:.0f} MiB at once. Use a smaller selection or layer.")

    def check_frames(self, frames: int) -> None:
        if self.max_frames and frames > self.max_frames:
            raise UserError(f"The GAN Collage server makes at most {self.max_frames} frames; ask for fewer.")
