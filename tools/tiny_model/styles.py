"""Style renderings of the procedural scenes (scenes.py geometry) for the LoRA adapters, the object masks
the adapter evaluation needs, and the pixel style metrics.

Styles: 'outline' (each shape drawn with a thick dark outline inside its silhouette) and 'striped'
(wide diagonal stripes across the fill: white on dark colours, dark grey on light ones, never the
background colour). Both are
coarse enough for the tiny VAE to reconstruct (finer stripes or thinner outlines are lost in its latents).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from . import scenes
from .judge import MAX_DISTANCE, _PALETTE

STYLES = ('outline', 'striped')
STYLE_VERSION = 2  # bump when a rendering changes: latent caches are keyed on it
OUTLINE_COLOUR = (25, 25, 25)
OUTLINE_FRACTION = 0.055        # outline width as a fraction of the image's shorter side
STRIPE_PERIOD_FRACTION = 0.25   # stripe period (perpendicular to the stripes), same unit
STRIPE_LIGHT = (245, 245, 245)
STRIPE_DARK = (45, 45, 45)


def _shape_polygon(o: scenes.ShapeSpec, W: int, H: int, inset: float = 0.0):
    """('ellipse', bbox) or ('polygon', points) of one object at pixel size W x H, shrunk by `inset`
    pixels perpendicular to every edge (same construction as scenes.render)."""
    fx, fy = scenes.POSITIONS[o.position]
    cx, cy = (fx + o.jitter[0]) * W, (fy + o.jitter[1]) * H
    r = scenes.SIZE_FRACTION[o.size] * min(W, H) / 2
    if o.shape == 'circle':
        rr = max(r - inset, 0.0)
        return 'ellipse', [cx - rr, cy - rr, cx + rr, cy + rr]
    if o.shape == 'square':
        half = max(r * 0.9 - inset, 0.0)
        return 'polygon', scenes._rotated([(-half, -half), (half, -half), (half, half), (-half, half)], cx, cy,
                                          o.rotation)
    # The triangle's inradius is half its circumradius: an inset of d shrinks the circumradius by 2d
    # around the same centre.
    rr = max(r - 2 * inset, 0.0)
    pts = [(0.0, -rr), (rr * 0.866, rr * 0.5), (-rr * 0.866, rr * 0.5)]
    return 'polygon', scenes._rotated(pts, cx, cy + r * 0.25, o.rotation)


def _draw(draw: ImageDraw.ImageDraw, kind: str, geom, fill) -> None:
    if kind == 'ellipse':
        draw.ellipse(geom, fill=fill)
    else:
        draw.polygon(geom, fill=fill)


def _luma(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def render_styled(scene: scenes.Scene, style: str | None, supersample: int = 4) -> np.ndarray:
    """uint8 [H, W, 3]; style None gives exactly scenes.render's image."""
    if style is None:
        return scenes.render(scene, supersample)
    if style not in STYLES:
        raise ValueError(f'unknown style {style!r}')
    s = supersample
    W, H = scene.width * s, scene.height * s
    short = min(W, H)
    img = Image.new('RGB', (W, H), scenes.COLOURS[scene.background])
    draw = ImageDraw.Draw(img)
    if style == 'striped':
        yy, xx = np.mgrid[0:H, 0:W]
        period = STRIPE_PERIOD_FRACTION * short * np.sqrt(2.0)
    for o in scene.objects:
        fill = scenes.COLOURS[o.colour]
        if style == 'outline':
            width = OUTLINE_FRACTION * short
            _draw(draw, *_shape_polygon(o, W, H), OUTLINE_COLOUR)
            _draw(draw, *_shape_polygon(o, W, H, inset=width), fill)
        else:
            mask = Image.new('L', (W, H), 0)
            _draw(ImageDraw.Draw(mask), *_shape_polygon(o, W, H), 255)
            m = np.asarray(mask) > 127
            # Stripes anchored at the object's centre, so small shapes get both colours too.
            fx, fy = scenes.POSITIONS[o.position]
            phase = (fx + o.jitter[0]) * W + (fy + o.jitter[1]) * H
            stripe = ((xx + yy - phase) % period) < period / 2
            arr = np.array(img)
            arr[m] = fill
            colour = STRIPE_LIGHT if _luma(fill) < 150 else STRIPE_DARK
            if np.abs(np.subtract(colour, scenes.COLOURS[scene.background])).sum() < 60:
                colour = STRIPE_DARK if colour == STRIPE_LIGHT else STRIPE_LIGHT  # keep stripes off the background colour
            arr[m & stripe] = colour
            img = Image.fromarray(arr)
            draw = ImageDraw.Draw(img)
    img = img.resize((scene.width, scene.height), Image.BOX)
    return np.asarray(img, dtype=np.uint8)


def scene_mask(scene: scenes.Scene, supersample: int = 4) -> np.ndarray:
    """bool [H, W]: pixels at least half covered by an object."""
    s = supersample
    W, H = scene.width * s, scene.height * s
    mask = Image.new('L', (W, H), 0)
    draw = ImageDraw.Draw(mask)
    for o in scene.objects:
        _draw(draw, *_shape_polygon(o, W, H), 255)
    return np.asarray(mask.resize((scene.width, scene.height), Image.BOX)) >= 128


# ------------------------------------------------------------------------------------------ metrics

def background_index(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """judge.py's rule: (nearest palette index [H, W], distance to it [H, W], background index)."""
    h, w, _ = image.shape
    px = image.reshape(-1, 3).astype(np.float32)
    dist = np.linalg.norm(px[:, None, :] - _PALETTE[None, :, :], axis=2)
    nearest = dist.argmin(1).reshape(h, w)
    border = np.concatenate([nearest[:2].ravel(), nearest[-2:].ravel(), nearest[:, :2].ravel(),
                             nearest[:, -2:].ravel()])
    return nearest, dist.min(1).reshape(h, w), int(np.bincount(border, minlength=8).argmax())


def object_mask(image: np.ndarray) -> np.ndarray:
    """bool [H, W]: judge.py's object pixels (nearest palette colour is not the background and lies
    within MAX_DISTANCE)."""
    nearest, dist, bg = background_index(image)
    return (nearest != bg) & (dist <= MAX_DISTANCE)


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels farther than MAX_DISTANCE from the background colour (any colour, including
    outline and stripe greys)."""
    _, _, bg = background_index(image)
    return np.linalg.norm(image.astype(np.float32) - _PALETTE[bg], axis=2) > MAX_DISTANCE


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion with a (2r+1)^2 square; outside the image counts as False."""
    out = mask.copy()
    h, w = mask.shape
    p = np.pad(mask, radius, constant_values=False)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out &= p[dy:dy + h, dx:dx + w]
    return out


def outline_score(image: np.ndarray, band: int = 2) -> float | None:
    """Fraction of dark pixels (luma < 90) in the `band`-pixel inner rim of the foreground; None when
    there is no foreground."""
    fg = foreground_mask(image)
    rim = fg & ~erode(fg, band)
    if rim.sum() < 20:
        return None
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float((luma[rim] < 90).mean())


def stripe_score(image: np.ndarray, inset: int = 3) -> float | None:
    """Fraction of interior foreground pixels (eroded by `inset`) farther than MAX_DISTANCE (RGB) from the
    interior's dominant colour (the mean of its most populated 32-level colour bin); about 0.5 for
    stripes, near 0 for a flat single-colour object. None when the interior is too small."""
    fg = foreground_mask(image)
    inner = erode(fg, inset)
    if inner.sum() < 20:
        return None
    px = image[inner].astype(np.float32)
    bins, inverse, counts = np.unique(px.astype(np.int32) // 32, axis=0, return_inverse=True, return_counts=True)
    dominant = px[inverse.reshape(-1) == counts.argmax()].mean(0)
    return float((np.linalg.norm(px - dominant, axis=1) > MAX_DISTANCE).mean())


STYLE_METRICS = {'outline': outline_score, 'striped': stripe_score}
