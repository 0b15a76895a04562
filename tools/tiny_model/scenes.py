"""Procedural scenes for the tiny-shapes model: attributes, captions from a grammar, antialiased rendering.

A scene is a background colour plus one or two flat shapes. Captions are re-sampled from the scene's
attributes every time it is seen, so wording and word order vary independently of the colour roles.
Everything here is deterministic given a numpy Generator.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {
    'red': (220, 40, 40),
    'green': (40, 170, 60),
    'blue': (40, 80, 220),
    'yellow': (245, 215, 40),
    'purple': (140, 60, 180),
    'orange': (245, 140, 30),
    'white': (245, 245, 245),
    'black': (20, 20, 20),
}
COLOUR_NAMES = list(COLOURS)
SHAPES = ['circle', 'square', 'triangle']
SIZES = ['small', 'large']
# Object centre as a fraction of (width, height).
POSITIONS = {
    'left': (0.25, 0.5),
    'right': (0.75, 0.5),
    'top': (0.5, 0.25),
    'bottom': (0.5, 0.75),
    'center': (0.5, 0.5),
    'top left': (0.25, 0.25),
    'top right': (0.75, 0.25),
    'bottom left': (0.25, 0.75),
    'bottom right': (0.75, 0.75),
}
POSITION_NAMES = list(POSITIONS)
# Pairs of positions far enough apart that two large objects never overlap.
TWO_OBJECT_POSITIONS = [
    ('left', 'right'), ('top', 'bottom'), ('top left', 'bottom right'), ('top right', 'bottom left'),
    ('top left', 'top right'), ('bottom left', 'bottom right'), ('top left', 'bottom left'),
    ('top right', 'bottom right'),
]
# Diameter of the shape as a fraction of the image's shorter side.
SIZE_FRACTION = {'small': 0.24, 'large': 0.44}

# (object colour, background colour) pairs never shown in training; each colour is held out once as an
# object and once as a background, so every colour word still appears in both roles in training.
HELD_OUT_PAIRS = [
    ('red', 'blue'), ('green', 'yellow'), ('blue', 'orange'), ('yellow', 'purple'),
    ('purple', 'white'), ('orange', 'black'), ('white', 'green'), ('black', 'red'),
]

# Pixel sizes (width, height): multiples of 32 (8x VAE, then the UNet halves the latent twice) with an
# area near the native 128x128 budget.
NATIVE_SIZE = (128, 128)
BUCKETS = [(128, 128), (160, 96), (96, 160), (192, 96), (96, 192)]
BUCKET_WEIGHTS = [0.5, 0.15, 0.15, 0.1, 0.1]


@dataclass
class ShapeSpec:
    shape: str
    colour: str
    size: str
    position: str
    jitter: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    # Which attributes the caption names (size and position may be left out).
    say_size: bool = True
    say_position: bool = True


@dataclass
class Scene:
    width: int
    height: int
    background: str
    objects: list[ShapeSpec] = field(default_factory=list)
    say_background: bool = True


def is_held_out(scene: Scene) -> bool:
    return any((o.colour, scene.background) in HELD_OUT_PAIRS for o in scene.objects)


def sample_scene(rng: np.random.Generator, size: tuple[int, int], held_out: bool | None = False) -> Scene:
    """Samples a scene. held_out=False: no held-out pair; True: exactly one object with a held-out pair;
    None: anything."""
    width, height = size
    while True:
        if held_out:
            obj_colour, bg = HELD_OUT_PAIRS[rng.integers(len(HELD_OUT_PAIRS))]
            n = 1
        else:
            bg = COLOUR_NAMES[rng.integers(8)]
            n = 1 if rng.random() < 0.65 else 2
        say_bg = held_out is not False or rng.random() >= 0.06
        if not say_bg:
            bg = 'white'
        if n == 1:
            positions = [POSITION_NAMES[rng.integers(len(POSITION_NAMES))]]
        else:
            pair = TWO_OBJECT_POSITIONS[rng.integers(len(TWO_OBJECT_POSITIONS))]
            positions = list(pair) if rng.random() < 0.5 else [pair[1], pair[0]]
        objects = []
        used: set[str] = set()
        for i, pos in enumerate(positions):
            if held_out and i == 0:
                colour = obj_colour
            else:
                choices = [c for c in COLOUR_NAMES if c != bg and c not in used]
                colour = choices[rng.integers(len(choices))]
            used.add(colour)
            say_position = n == 2 or rng.random() >= 0.08
            if not say_position:
                pos = 'center'
            objects.append(ShapeSpec(
                shape=SHAPES[rng.integers(3)],
                colour=colour,
                size=SIZES[rng.integers(2)],
                position=pos,
                jitter=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04))),
                rotation=float(rng.uniform(-12, 12)),
                say_size=rng.random() >= 0.25,
                say_position=say_position,
            ))
        scene = Scene(width, height, bg, objects, say_bg)
        if held_out is None or is_held_out(scene) == bool(held_out):
            return scene


def render(scene: Scene, supersample: int = 4) -> np.ndarray:
    """Draws the scene at supersample x resolution and box-filters it down: uint8 [H, W, 3]."""
    s = supersample
    W, H = scene.width * s, scene.height * s
    img = Image.new('RGB', (W, H), COLOURS[scene.background])
    draw = ImageDraw.Draw(img)
    short = min(W, H)
    for o in scene.objects:
        fx, fy = POSITIONS[o.position]
        cx, cy = (fx + o.jitter[0]) * W, (fy + o.jitter[1]) * H
        r = SIZE_FRACTION[o.size] * short / 2
        fill = COLOURS[o.colour]
        if o.shape == 'circle':
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        elif o.shape == 'square':
            half = r * 0.9
            draw.polygon(_rotated([(-half, -half), (half, -half), (half, half), (-half, half)], cx, cy, o.rotation),
                         fill=fill)
        else:
            # Equilateral triangle pointing up around its circumcentre, moved down so its bbox is centred.
            pts = [(0.0, -r), (r * 0.866, r * 0.5), (-r * 0.866, r * 0.5)]
            draw.polygon(_rotated(pts, cx, cy + r * 0.25, o.rotation), fill=fill)
    img = img.resize((scene.width, scene.height), Image.BOX)
    return np.asarray(img, dtype=np.uint8)


def _rotated(pts, cx, cy, degrees):
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


# ---------------------------------------------------------------- captions

_POSITION_PHRASES = {
    'left': ['on the left', 'at the left', 'to the left', 'on the left side', 'left'],
    'right': ['on the right', 'at the right', 'to the right', 'on the right side', 'right'],
    'top': ['at the top', 'on top', 'at the top center', 'top'],
    'bottom': ['at the bottom', 'on the bottom', 'at the bottom center', 'bottom'],
    'center': ['in the center', 'in the middle', 'centered', 'center'],
    'top left': ['at the top left', 'in the top left corner', 'top left', 'in the upper left'],
    'top right': ['at the top right', 'in the top right corner', 'top right', 'in the upper right'],
    'bottom left': ['at the bottom left', 'in the bottom left corner', 'bottom left', 'in the lower left'],
    'bottom right': ['at the bottom right', 'in the bottom right corner', 'bottom right', 'in the lower right'],
}
_BACKGROUND_PHRASES = [
    'on a {c} background', '{c} background', 'with a {c} background', 'against a {c} background',
    'on {c}', 'the background is {c}', 'background {c}', 'on a plain {c} background',
]
_BACKGROUND_FIRST = [
    'on a {c} background, {o}', '{c} background: {o}', '{c} background; {o}', 'a {c} background with {o}',
    'background {c}, {o}',
]
_SEPARATORS = [', ', '; ', ' ', '. ', ' - ']
_ARTICLES = ['a ', 'a ', 'one ', 'the ', '']
# Orderings reserved for evaluation ("new wordings"): same words, arrangements never produced above.
EVAL_TEMPLATES = [
    '{c} background and {o}',
    '{o} with {c} as the background',
    'background: {c}. {o}',
]


def object_phrase(o: ShapeSpec, rng: np.random.Generator) -> str:
    words = ([o.size] if o.say_size else []) + [o.colour, o.shape]
    art = _ARTICLES[rng.integers(len(_ARTICLES))]
    noun = art + ' '.join(words)
    if not o.say_position:
        return noun
    pos = _POSITION_PHRASES[o.position][rng.integers(len(_POSITION_PHRASES[o.position]))]
    if rng.random() < 0.15:
        return pos + ', ' + noun
    return noun + ' ' + pos


def caption(scene: Scene, rng: np.random.Generator, eval_wording: bool = False) -> str:
    return re.sub(r'\ba orange\b', 'an orange', _caption(scene, rng, eval_wording))


def _caption(scene: Scene, rng: np.random.Generator, eval_wording: bool) -> str:
    objs = [object_phrase(o, rng) for o in scene.objects]
    o = objs[0] if len(objs) == 1 else objs[0] + [' and ', ', ', ' with '][rng.integers(3)] + objs[1]
    if not scene.say_background:
        return o
    c = scene.background
    if eval_wording:
        return EVAL_TEMPLATES[rng.integers(len(EVAL_TEMPLATES))].format(c=c, o=o)
    if rng.random() < 0.3:
        return _BACKGROUND_FIRST[rng.integers(len(_BACKGROUND_FIRST))].format(c=c, o=o)
    bg = _BACKGROUND_PHRASES[rng.integers(len(_BACKGROUND_PHRASES))].format(c=c)
    return o + _SEPARATORS[rng.integers(len(_SEPARATORS))] + bg


# Targets of the text encoder's training-only attribute heads (see models.TextAuxHeads).
AUX_CLASSES = {
    'background': 8, 'colour0': 8, 'shape0': 3, 'position0': 9, 'count': 2, 'colour1': 9, 'position1': 10,
}


def aux_targets(scene: Scene) -> dict[str, int]:
    o0 = scene.objects[0]
    o1 = scene.objects[1] if len(scene.objects) > 1 else None
    return {
        'background': COLOUR_NAMES.index(scene.background),
        'colour0': COLOUR_NAMES.index(o0.colour),
        'shape0': SHAPES.index(o0.shape),
        'position0': POSITION_NAMES.index(o0.position),
        'count': len(scene.objects) - 1,
        'colour1': COLOUR_NAMES.index(o1.colour) if o1 else 8,
        'position1': POSITION_NAMES.index(o1.position) if o1 else 9,
    }


def sample_bucket(rng: np.random.Generator) -> tuple[int, int]:
    return BUCKETS[rng.choice(len(BUCKETS), p=BUCKET_WEIGHTS)]
