"""Deterministic pixel judge for tiny-shapes renders. Fixed before any model was trained; never tuned.

Every pixel is assigned the nearest of the eight palette colours (RGB distance). The background is the
most common palette colour on the 2-pixel border. Object pixels are the pixels whose nearest palette
colour is not the background and lies within 60 RGB units (antialiased edge pixels are ignored); the
object colour is the most common of them. The object position is their centroid, in fractions of the
image width / height. A render with fewer than 0.5% object pixels has no object.
"""
from __future__ import annotations

import numpy as np

from .scenes import COLOUR_NAMES, COLOURS

_PALETTE = np.array([COLOURS[c] for c in COLOUR_NAMES], dtype=np.float32)
MAX_DISTANCE = 60.0
MIN_OBJECT_FRACTION = 0.005


def judge(image: np.ndarray) -> dict:
    """image: uint8 [H, W, 3] -> {background, object, x, y} (object None when none is found)."""
    h, w, _ = image.shape
    px = image.reshape(-1, 3).astype(np.float32)
    dist = np.linalg.norm(px[:, None, :] - _PALETTE[None, :, :], axis=2)
    nearest = dist.argmin(1).reshape(h, w)
    near_ok = (dist.min(1) <= MAX_DISTANCE).reshape(h, w)
    border = np.concatenate([nearest[:2].ravel(), nearest[-2:].ravel(), nearest[:, :2].ravel(), nearest[:, -2:].ravel()])
    bg = int(np.bincount(border, minlength=8).argmax())
    obj_mask = (nearest != bg) & near_ok
    result = {'background': COLOUR_NAMES[bg], 'object': None, 'x': None, 'y': None}
    if obj_mask.sum() < MIN_OBJECT_FRACTION * h * w:
        return result
    obj = int(np.bincount(nearest[obj_mask], minlength=8).argmax())
    ys, xs = np.nonzero(nearest == obj)
    result.update(object=COLOUR_NAMES[obj], x=float((xs.mean() + 0.5) / w), y=float((ys.mean() + 0.5) / h))
    return result


def horizontal_side(position: str) -> str | None:
    return 'left' if 'left' in position else 'right' if 'right' in position else None


def vertical_side(position: str) -> str | None:
    return 'top' if 'top' in position else 'bottom' if 'bottom' in position else None
