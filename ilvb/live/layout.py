"""Where each view goes in a composite frame.

Cameras only: one view fills the frame; two to four share a 2 × 2 grid of cells with the
frame's own aspect ratio (two views sit side by side in the middle row band). A screen share:
the screen takes the left three quarters at full height, up to three cameras stack in the
right quarter. Inside its cell a picture keeps its aspect ratio, centred, black around it.

Rectangles are even-aligned (x, y, w, h) so that 4:2:0 chroma planes split exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_TILES = 4


@dataclass(frozen=True)
class Rect:
    """A rectangle in output pixels (even x, y, width, height)."""

    x: int
    y: int
    w: int
    h: int


def _even(v: float) -> int:
    return int(v) // 2 * 2


def cells(sources: Sequence[str], width: int, height: int) -> list[Rect]:
    """The cell of each view, given the views' sources (``"camera"`` / ``"screen"``) in order.

    At most :data:`MAX_TILES` views; the first screen share is shown large, a second one is
    treated as a camera.
    """
    n = min(len(sources), MAX_TILES)
    if n == 0:
        return []
    screen = next((i for i, s in enumerate(sources[:n]) if s == "screen"), None)
    if screen is not None and n > 1:
        main_w = _even(width * 3 / 4)
        side_w = width - main_w
        others = [i for i in range(n) if i != screen]
        side_h = _even(height / max(3, len(others)))
        out: list[Rect] = [Rect(0, 0, 0, 0)] * n
        out[screen] = Rect(0, 0, main_w, height)
        top = _even((height - side_h * len(others)) / 2)
        for k, i in enumerate(others):
            out[i] = Rect(main_w, top + k * side_h, side_w, side_h)
        return out
    if n == 1:
        return [Rect(0, 0, width, height)]
    cw, ch = _even(width / 2), _even(height / 2)
    if n == 2:
        top = _even((height - ch) / 2)
        return [Rect(0, top, cw, ch), Rect(cw, top, cw, ch)]
    return [Rect((i % 2) * cw, (i // 2) * ch, cw, ch) for i in range(n)]


def fit(cell: Rect, src_w: int, src_h: int) -> Rect:
    """The picture's rectangle inside ``cell``: scaled to fit, aspect kept, centred."""
    if src_w <= 0 or src_h <= 0:
        return cell
    scale = min(cell.w / src_w, cell.h / src_h)
    w = max(2, _even(src_w * scale))
    h = max(2, _even(src_h * scale))
    return Rect(cell.x + _even((cell.w - w) / 2), cell.y + _even((cell.h - h) / 2), w, h)
