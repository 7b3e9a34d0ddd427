"""Small picture folders for the tests of real-image training."""
from __future__ import annotations

from PIL import Image


def write_pictures(folder, count: int, size=(40, 30)) -> None:
    """`count` pictures of one flat colour each (`i * 10` red), PNG and JPEG, not square, one in a subfolder."""
    (folder / "more").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = Image.new("RGB", size, (i * 10, 100, 200))
        target = folder / "more" if i == 0 else folder
        image.save(target / f"{i:03d}.{'png' if i % 2 else 'jpg'}", quality=95)
