"""Optical flow between consecutive frames and where it can be trusted: one definition shared by the
flicker measure (tessera.flicker) and the flow-guided blending of restyled frames (tessera.temporal_blend).

Flow convention: an HxWx2 float32 array `flow` from frame a to frame b says that the pixel at p in a
is at p + flow(p) in b (x then y, in pixels). Two engines from OpenCV (opencv-python-headless, the
video extra): DIS (Kroeger et al. 2016; the presets trade speed for accuracy, and a frame can be
shrunk first and the flow enlarged back) and Farneback's polynomial expansion (2003), a different
family, for a check that does not share the blending's errors.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def grey(rgb: np.ndarray) -> np.ndarray:
    """HxW uint8 luma of an HxWx3 uint8 RGB frame."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


# OpenCV's DIS fails on frames under about 32 px a side: an assertion under 16 px, and with the fast and
# ultrafast presets a segmentation fault at 20-31 px (opencv-python-headless 4.x; a 1280x64 clip shrunk to
# 480x24 for the blending killed the gateway). Such frames are padded to this side first.
MIN_FLOW_SIDE = 64


def dis_flow(a_grey: np.ndarray, b_grey: np.ndarray, preset: str = "medium", max_side: int | None = None) -> np.ndarray:
    """HxWx2 float32 DIS flow from a to b (HxW uint8 each). With `max_side`, frames whose longer side
    exceeds it are shrunk to it first (area average) and the flow is enlarged and scaled back. A frame
    with a side under MIN_FLOW_SIDE is padded to it (its last row and column repeated) and the flow of
    its own pixels kept."""
    height, width = a_grey.shape[:2]
    scale = 1.0 if max_side is None or max(height, width) <= max_side else max_side / max(height, width)
    if scale < 1.0:
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        a_grey = cv2.resize(a_grey, size, interpolation=cv2.INTER_AREA)
        b_grey = cv2.resize(b_grey, size, interpolation=cv2.INTER_AREA)
    rows, columns = a_grey.shape[:2]
    flow = cv2.DISOpticalFlow_create(DIS_PRESETS[preset]).calc(_at_least(a_grey), _at_least(b_grey), None)
    flow = np.ascontiguousarray(flow[:rows, :columns])
    if scale < 1.0:
        ratio_x, ratio_y = width / flow.shape[1], height / flow.shape[0]
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= ratio_x
        flow[..., 1] *= ratio_y
    return flow


def _at_least(frame: np.ndarray, side: int = MIN_FLOW_SIDE) -> np.ndarray:
    """The frame with its last rows and columns repeated until both sides are at least `side`."""
    bottom, right = max(0, side - frame.shape[0]), max(0, side - frame.shape[1])
    if not bottom and not right:
        return frame
    return cv2.copyMakeBorder(frame, 0, bottom, 0, right, cv2.BORDER_REPLICATE)


def farneback_flow(a_grey: np.ndarray, b_grey: np.ndarray) -> np.ndarray:
    """HxWx2 float32 Farneback flow from a to b (5 pyramid levels, 15 px window, 3 iterations)."""
    return cv2.calcOpticalFlowFarneback(a_grey, b_grey, None, 0.5, 5, 15, 3, 5, 1.2, 0)


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y), HxW float32 each; read-only, shared between calls of one frame size."""
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid_x.flags.writeable = grid_y.flags.writeable = False
    return grid_x, grid_y


def sample(image: np.ndarray, flow: np.ndarray, cubic: bool = False) -> np.ndarray:
    """`image` (HxW or HxWxC) read at p + flow(p) for every pixel p, bilinear (or bicubic), edges
    replicated; float32 for float input, else the input's dtype."""
    height, width = flow.shape[:2]
    grid_x, grid_y = _grid(height, width)
    source = image if image.dtype in (np.uint8, np.float32) else image.astype(np.float32)
    return cv2.remap(source, grid_x + flow[..., 0], grid_y + flow[..., 1],
                     interpolation=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def trusted(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """HxW bool: where the flow from the later frame back to the earlier one (`backward`) can be
    followed: it agrees with the forward flow found where it points (Sundaram, Brox and Keutzer 2010:
    |b + f|^2 < 0.01 (|b|^2 + |f|^2) + 0.5, which fails at occlusions and disocclusions) and it lands
    inside the earlier frame."""
    forward_there = sample(forward, backward)
    mismatch = np.sum((backward + forward_there) ** 2, axis=2)
    bound = 0.01 * (np.sum(backward ** 2, axis=2) + np.sum(forward_there ** 2, axis=2)) + 0.5
    height, width = backward.shape[:2]
    grid_x, grid_y = _grid(height, width)
    target_x, target_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    return (mismatch < bound) & inside
