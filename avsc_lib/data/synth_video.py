"""The look of the synthetic scenes: six drawn layouts, varied per city, location and frame.

Each class is drawn with one of six layouts (``LOOK_LAYOUTS``); classes that should look
alike share a layout and differ only in overlapping ranges of a few look parameters
(``LOOK_RANGES``), drawn once per location. Colours come from shared palettes, so no colour
names a class; a city adds a colour grade and a sky. Frames move: windows scroll past,
people and cars walk and drive, the camera sways and the sensor adds noise.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
from scipy.ndimage import zoom

from avsc_lib.data.synth_design import CARS, CLOTHES, FACADES, LOOK_LAYOUTS, SEATS, SHOPS, SIGNS, SKIES, SKIN, WALLS

Frame = np.ndarray  # float32 (H, W, 3) in [0, 1]
Drawer = Callable[[Frame, float], None]


class Canvas:
    """An image with normalized coordinate grids (x right, y down, both 0..1)."""

    def __init__(self, height: int, width: int):
        self.h, self.w = height, width
        self.img = np.zeros((height, width, 3), np.float32)
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.y /= height
        self.x /= width

    def poly(self, points) -> np.ndarray:
        """Mask of a convex polygon given as (x, y) corners in order."""
        pts = np.asarray(points, np.float32)
        sides = []
        for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
            sides.append((x1 - x0) * (self.y - y0) - (y1 - y0) * (self.x - x0))
        sides = np.stack(sides)
        return np.all(sides >= 0, axis=0) | np.all(sides <= 0, axis=0)

    def paint(self, mask: np.ndarray, color, alpha: float = 1.0) -> None:
        """Paint a mask with a colour (3,) or a texture (H, W, 3)."""
        color = np.asarray(color, np.float32)
        src = color[mask] if color.ndim == 3 else color
        self.img[mask] = (1 - alpha) * self.img[mask] + alpha * src


def _noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1] with about ``cells`` blobs across the width."""
    ch, cw = max(2, int(cells * h / w) + 2), cells + 2
    small = rng.random((ch, cw)).astype(np.float32)
    big = zoom(small, (h / ch + 1e-3, w / cw + 1e-3), order=1)[:h, :w]
    return (big - big.min()) / (np.ptp(big) + 1e-6)


def _jitter(rng, color, amount=0.06) -> np.ndarray:
    """A colour moved randomly by up to ``amount`` per channel."""
    return np.clip(np.asarray(color) + rng.uniform(-amount, amount, 3), 0, 1)


def _pick(rng, palette: np.ndarray, amount=0.06) -> np.ndarray:
    """A random colour of a palette, jittered."""
    return _jitter(rng, palette[rng.integers(len(palette))], amount)


def _box(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    """The corners of an axis-aligned rectangle, in order."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _rect(img: Frame, x0: float, y0: float, x1: float, y1: float, color) -> None:
    """Fill a rectangle given in normalized coordinates (clipped to the image)."""
    h, w = img.shape[:2]
    r0, r1 = int(np.clip(y0 * h, 0, h)), int(np.clip(y1 * h, 0, h))
    c0, c1 = int(np.clip(x0 * w, 0, w)), int(np.clip(x1 * w, 0, w))
    img[r0:r1, c0:c1] = color


def _person(img: Frame, x: float, y_feet: float, height: float, color, skin=SKIN) -> None:
    """A standing figure: legs, torso and head, ``height`` in image heights."""
    w = height * 0.3 * img.shape[0] / img.shape[1]
    _rect(img, x - w / 2, y_feet - 0.82 * height, x + w / 2, y_feet - 0.4 * height, color)
    _rect(img, x - w / 3, y_feet - 0.4 * height, x + w / 3, y_feet, color * 0.5)
    _rect(img, x - w / 4, y_feet - height, x + w / 4, y_feet - 0.82 * height, skin)


def _walkers(rng, n: float, ground: Callable[[float], tuple[float, float]], scale: float) -> Drawer:
    """People walking sideways; ``ground(u)`` maps depth 0..1 to (y of the feet, size factor)."""
    people = [(rng.uniform(0, 1), rng.uniform(0.1, 1.0), rng.uniform(-0.03, 0.03), _pick(rng, CLOTHES, 0),
               _jitter(rng, SKIN, 0.15)) for _ in range(int(n))]
    people.sort(key=lambda p: p[1])  # far ones first

    def draw(img: Frame, t: float) -> None:
        for x, u, speed, color, skin in people:
            y, size = ground(u)
            _person(img, (x + speed * t) % 1.0, y, scale * size, color, skin)

    return draw


def _sky(c: Canvas, rng, city: dict, horizon: float) -> None:
    """Fill the canvas with one of the city's skies, with clouds, graded down to the horizon."""
    top, bottom = SKIES[rng.choice(list(SKIES), p=city["sky_p"])]
    frac = np.clip(c.y / max(horizon, 1e-3), 0, 1)[..., None]
    sky = np.asarray(top) * (1 - frac) + np.asarray(bottom) * frac
    clouds = _noise(rng, c.h, c.w, 6)[..., None]
    c.img[:] = sky + 0.25 * np.clip(clouds - 0.5, 0, 1)


def _exterior(rng, h: int, w: int, outdoor: float) -> np.ndarray:
    """A long strip seen through vehicle windows: stretches of street (share ``outdoor``) and tunnel."""
    strip = np.zeros((h, w, 3), np.float32)
    sky = np.asarray(SKIES["clear"][1]) * (0.8 + 0.2 * _noise(rng, h, w, 20)[..., None])
    x = 0
    while x < w:
        end = min(w, x + int(rng.uniform(0.3, 1.2) * h * 3))
        if rng.random() < outdoor:
            strip[:, x:end] = sky[:, x:end]
            bx = x
            while bx < end:  # buildings of random widths and heights
                bw, top = int(rng.uniform(0.3, 1.0) * h), int(rng.uniform(0.1, 0.6) * h)
                strip[top:, bx : min(bx + bw, end)] = _pick(rng, FACADES, 0.1)
                bx += bw + int(rng.uniform(0, 0.3) * h)
        else:
            strip[:, x:end] = rng.uniform(0.04, 0.12)
            for lx in range(x, end, int(h * 0.8)):  # tunnel lamps
                strip[int(0.45 * h) : int(0.55 * h), lx : lx + int(h * 0.3)] = [0.9, 0.85, 0.6]
        x = end
    return strip


def _speed(clip_rng, c: Canvas) -> float:
    """How fast the scenery passes a vehicle's windows, in pixels per second (0: at a stop)."""
    return 0.0 if clip_rng.random() < 0.2 else clip_rng.uniform(0.5, 3.0) * c.w


def _rail_car(c: Canvas, rng, clip_rng, look: dict, city: dict) -> Drawer:
    """A metro or tram car seen across the aisle: windows over a row of seats, poles in front."""
    c.img[:] = _pick(rng, WALLS)
    ceiling = rng.uniform(0.1, 0.18)
    _rect(c.img, 0, 0, 1, ceiling, _jitter(rng, [0.9, 0.9, 0.9], 0.05))
    for x in np.arange(rng.uniform(0, 0.2), 1, rng.uniform(0.25, 0.4)):
        _rect(c.img, x, ceiling * 0.3, x + 0.15, ceiling * 0.7, [1.0, 1.0, 0.95])
    y0 = ceiling + rng.uniform(0.04, 0.08)
    y1 = y0 + look["window_h"]
    pillar = rng.uniform(0.04, 0.08)
    cells = np.linspace(0, 1, int(rng.integers(2, 4)) + 1)
    windows = [(int((a + pillar / 2) * c.w), int((b - pillar / 2) * c.w))
               for a, b in zip(cells[:-1], cells[1:])]
    seat_top, seat_bottom = y1 + rng.uniform(0.04, 0.1), rng.uniform(0.8, 0.88)
    seat = SEATS[rng.integers(len(SEATS))]
    texture = 0.75 + 0.35 * _noise(rng, c.h, c.w, 40)[..., None]
    for x in np.arange(0.0, 1.0, rng.uniform(0.1, 0.14)):
        c.paint(c.poly(_box(x + 0.005, seat_top, x + 0.1, seat_bottom)), _jitter(rng, seat, 0.03) * texture)
    _rect(c.img, 0, seat_bottom, 1, 1, _jitter(rng, [0.3, 0.3, 0.32], 0.05))
    poles = [(rng.uniform(0.05, 0.95), rng.uniform(0.01, 0.02)) for _ in range(int(look["poles"]))]
    pole_color = [0.9, 0.75, 0.1] if rng.random() < 0.5 else [0.72, 0.72, 0.75]
    hy0, hy1 = int(y0 * c.h), int(y1 * c.h)
    strip = _exterior(clip_rng, hy1 - hy0, c.w * 6, look["outdoor"])
    speed = _speed(clip_rng, c)
    offset = clip_rng.integers(0, c.w * 3)
    seated = [(clip_rng.uniform(0.05, 0.95), _pick(clip_rng, CLOTHES, 0)) for _ in range(int(look["people"]))]

    def draw(img: Frame, t: float) -> None:
        start = int(offset + speed * t) % (strip.shape[1] - c.w)
        for c0, c1 in windows:
            img[hy0:hy1, c0:c1] = strip[:, start + c0 : start + c1]
        for x, color in seated:
            _person(img, x + 0.005 * np.sin(t * 3 + x * 10), seat_bottom - 0.1, 0.45, color)
        for x, w in poles:
            _rect(img, x, 0, x + w, 1, pole_color)

    return draw


def _bus_aisle(c: Canvas, rng, clip_rng, look: dict, city: dict) -> Drawer:
    """A bus seen along its aisle: rows of seat backs, side windows and a windshield ahead."""
    vx, vy = rng.uniform(0.45, 0.55), rng.uniform(0.35, 0.45)
    c.img[:] = _jitter(rng, [0.8, 0.8, 0.78])
    window_masks = [
        c.poly([(0, 0.12), (vx - 0.14, vy - 0.1), (vx - 0.14, vy + 0.04), (0, 0.55)]),
        c.poly([(1, 0.12), (vx + 0.14, vy - 0.1), (vx + 0.14, vy + 0.04), (1, 0.55)]),
        c.poly(_box(vx - 0.13, vy - 0.12, vx + 0.13, vy + 0.04)),  # windshield
    ]
    aisle = c.poly([(0.3, 1), (0.7, 1), (vx + 0.03, vy + 0.04), (vx - 0.03, vy + 0.04)])
    c.paint(aisle, _jitter(rng, [0.3, 0.3, 0.35]))
    seat = SEATS[rng.integers(len(SEATS))]
    texture = 0.7 + 0.4 * _noise(rng, c.h, c.w, 60)[..., None]
    for row in range(6, -1, -1):  # far rows first
        s = 1 / (1 + 0.7 * row)
        for side in (-1, 1):
            xa, xb = vx + side * s * 0.12, vx + side * s * 0.55
            c.paint(c.poly(_box(min(xa, xb), vy + s * 0.05, max(xa, xb), vy + s * 0.5)), seat * texture)
            pole = sorted((xa, xa + side * 0.015 * s))
            _rect(c.img, pole[0], vy - 0.3 * s, pole[1], vy + s * 0.6, [0.9, 0.6, 0.1])
    strip = _exterior(clip_rng, c.h, c.w * 6, look["outdoor"])
    speed = _speed(clip_rng, c)
    riders = [(clip_rng.uniform(0.1, 0.9), clip_rng.uniform(0.4, 0.6), _pick(clip_rng, CLOTHES, 0))
              for _ in range(int(look["people"]))]

    def draw(img: Frame, t: float) -> None:
        start = int(speed * t) % (strip.shape[1] - c.w)
        view = strip[:, start : start + c.w]
        for mask in window_masks:
            img[mask] = view[mask]
        for x, size, color in riders:
            _person(img, x, vy + size * 0.5, size * 0.8, color)

    return draw


def _facade(c: Canvas, rng, city: dict, vx: float, vy: float, side: int) -> None:
    """One side of a street: buildings with window grids receding to the vanishing point."""
    edge = 0.0 if side < 0 else 1.0
    near_top, near_bottom = rng.uniform(-0.3, 0.1), rng.uniform(0.72, 0.85)
    far_x = vx + side * rng.uniform(0.04, 0.1)
    top = lambda x: vy + (near_top - vy) * (x - vx) / (edge - vx)  # noqa: E731
    bottom = lambda x: vy + (near_bottom - vy) * (x - vx) / (edge - vx)  # noqa: E731
    mask = c.poly([(edge, near_top), (far_x, top(far_x)), (far_x, bottom(far_x)), (edge, near_bottom)])
    depth = 1 / np.clip(np.abs(c.x - vx) / abs(edge - vx), 1e-3, 1)
    building = np.floor(depth / rng.uniform(1.5, 3.0)).astype(int) % 64
    colors = np.array([_jitter(rng, FACADES[city["facades"][i % 4]], 0.08) for i in range(64)])
    facade = colors[building]
    height = (c.y - top(c.x)) / (bottom(c.x) - top(c.x) + 1e-6)
    windows = (np.mod(depth * rng.uniform(2.5, 4.0), 1) < 0.5) & (np.mod(height * rng.uniform(5, 9), 1) > 0.4)
    facade[windows] *= 0.3
    c.paint(mask, facade)


def _street(c: Canvas, rng, clip_rng, look: dict, city: dict) -> Drawer:
    """A street in perspective: façades both sides, sky between, a road with cars and walkers."""
    vx, vy = rng.uniform(0.35, 0.65), rng.uniform(0.38, 0.5)
    _sky(c, rng, city, vy)
    pavement = _jitter(rng, [0.62, 0.6, 0.58]) * (0.85 + 0.3 * _noise(rng, c.h, c.w, 50)[..., None])
    c.paint(c.y > vy, pavement)
    half = look["road"] * 1.6 / 2  # half the road's width at the bottom edge
    road = c.poly([(vx, vy), (vx + half, 1), (vx - half, 1)])
    asphalt = np.full(3, look["asphalt"]) * (0.85 + 0.3 * _noise(rng, c.h, c.w, 80)[..., None])
    c.paint(road & (c.y > vy + 0.01), asphalt)
    u = np.clip((c.y - vy) / (1 - vy), 1e-3, 1)
    dashes = (np.abs(c.x - vx) < 0.012 * u + 0.002) & (np.mod(3 / u, 1) < 0.5) & road
    c.paint(dashes, [0.95, 0.95, 0.9], alpha=look["lanes"])
    _facade(c, rng, city, vx, vy, -1)
    _facade(c, rng, city, vx, vy, +1)
    cars = [(clip_rng.uniform(-0.8, 0.8), clip_rng.uniform(0.05, 1),
             clip_rng.choice([-1, 1]) * clip_rng.uniform(0.02, 0.08), _pick(clip_rng, CARS, 0))
            for _ in range(int(look["cars"]))]
    walkers = _walkers(clip_rng, look["people"], lambda u: (vy + u * (1 - vy), u), 0.5)

    def draw(img: Frame, t: float) -> None:
        for lateral, u0, speed, color in sorted(cars, key=lambda car: (car[1] + car[2] * t) % 1):
            u = 0.05 + (u0 + speed * t) % 1
            x, y, w = vx + lateral * half * u, vy + u * (1 - vy), 0.14 * u + 0.015
            _rect(img, x - w, y - w * 0.9, x + w, y, color)
            _rect(img, x - w * 0.8, y - w * 0.9, x + w * 0.8, y - w * 0.55, color * 0.35)
        walkers(img, t)

    return draw


def _open_space(c: Canvas, rng, clip_rng, look: dict, city: dict) -> Drawer:
    """An open view: sky, a skyline and trees on the horizon, grass or paving in front."""
    horizon = rng.uniform(0.36, 0.54)
    _sky(c, rng, city, horizon)
    for _ in range(int(look["skyline"] * 25)):
        x, w, h = rng.uniform(-0.05, 1), rng.uniform(0.03, 0.12), rng.uniform(0.03, 0.2)
        color = _jitter(rng, FACADES[rng.choice(city["facades"])], 0.1) * 0.85
        _rect(c.img, x, horizon - h, x + w, horizon, color)
    ground = c.y >= horizon
    paving = _jitter(rng, [0.68, 0.64, 0.58]) * (0.9 + 0.2 * _noise(rng, c.h, c.w, 60)[..., None])
    u = np.clip((c.y - horizon) / (1 - horizon), 1e-3, 1)
    paving[(np.mod(2.5 / u, 1) < 0.08) | (np.mod((c.x - 0.5) / u * 6, 1) < 0.06)] *= 0.75  # tiles
    c.paint(ground, paving)
    field = _noise(rng, c.h, c.w, 4)
    lawns = (field < np.quantile(field[ground], look["green"])) & ground
    c.paint(lawns, _jitter(rng, [0.3, 0.55, 0.2], 0.08) * (0.7 + 0.5 * _noise(rng, c.h, c.w, 90)[..., None]))
    for _ in range(int(look["trees"] * 30)):
        x, r, y = rng.uniform(0, 1), rng.uniform(0.03, 0.1), horizon - rng.uniform(0.0, 0.12)
        crown = ((c.x - x) / r) ** 2 + ((c.y - y) / (r * 1.6)) ** 2 < 1
        c.paint(crown, _jitter(rng, [0.15, 0.35, 0.12], 0.06))
    if rng.random() < look["skyline"]:  # a monument on its plinth, mostly on squares
        x = rng.uniform(0.3, 0.7)
        _rect(c.img, x - 0.06, horizon + 0.08, x + 0.06, horizon + 0.14, [0.5, 0.5, 0.52])
        _rect(c.img, x - 0.015, horizon - 0.12, x + 0.015, horizon + 0.08, [0.25, 0.25, 0.28])
    return _walkers(clip_rng, look["people"], lambda u: (horizon + u * (1 - horizon), u), 0.45)


def _hall_wall(c: Canvas, rng, look: dict, vx: float, vy: float, side: int) -> None:
    """One wall of a hall: glass with mullions, tiles, or plain paint."""
    edge = 0.0 if side < 0 else 1.0
    wall = c.poly([(edge, -0.1), (vx + side * 0.08, vy - 0.12), (vx + side * 0.08, vy + 0.05), (edge, 0.85)])
    depth = 1 / np.clip(np.abs(c.x - vx) / abs(edge - vx), 1e-3, 1)
    if rng.random() < look["glass"]:
        glass = np.asarray(SKIES["clear"][1]) * (0.9 + 0.1 * _noise(rng, c.h, c.w, 10)[..., None])
        glass[np.mod(depth * 3, 1) < 0.12] = [0.25, 0.27, 0.3]
        c.paint(wall, glass)
    elif rng.random() < look["tiles"]:
        tiles = _pick(rng, WALLS, 0.05) * np.ones((c.h, c.w, 3), np.float32)
        tiles[(np.mod(depth * 12, 1) < 0.15) | (np.mod(c.y * 40, 1) < 0.15)] *= 0.6
        c.paint(wall, tiles)
    else:
        c.paint(wall, _pick(rng, WALLS, 0.08))


def _hall(c: Canvas, rng, clip_rng, look: dict, city: dict) -> Drawer:
    """A large hall in perspective: lit ceiling, glass or tiled walls, a floor with a dark strip
    (a track bed, or a baggage belt) behind a yellow line, hanging signs, people."""
    vx, vy = rng.uniform(0.35, 0.65), rng.uniform(0.38, 0.48)
    c.img[:] = _jitter(rng, [0.82, 0.82, 0.8])
    u = np.clip((c.y - vy) / (1 - vy), 1e-3, 1)
    c.paint(c.y > vy, _jitter(rng, [0.7, 0.66, 0.6]) * (0.8 + 0.25 * (1 - u))[..., None])
    for _ in range(int(rng.integers(2, 6))):  # light strips converging on the vanishing point
        x = rng.uniform(0, 1)
        c.paint(c.poly([(vx, vy - 0.05), (x - 0.02, 0), (x + 0.02, 0)]), [1.0, 1.0, 0.95])
    for side in (-1, 1):
        _hall_wall(c, rng, look, vx, vy, side)
    side, width = rng.choice([-1, 1]), 0.5 - look["pit"] * 3
    far = vx + side * 0.08
    c.paint(c.poly([(far, vy + 0.05), (far - side * 0.02, vy + 0.05), (0.5 + side * width, 1),
                    (0.5 + side * 0.55, 1)]), [0.08, 0.08, 0.09])
    c.paint(c.poly([(vx + side * 0.06, vy + 0.05), (vx + side * 0.065, vy + 0.05), (0.5 + side * width, 1),
                    (0.5 + side * (width - 0.02), 1)]), [0.95, 0.8, 0.1])
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.uniform(0.1, 0.8), rng.uniform(0.08, vy - 0.12)
        sign = SIGNS[rng.integers(len(SIGNS))]
        _rect(c.img, x, y, x + 0.18, y + 0.07, sign)
        text = [0.95, 0.85, 0.3] if sign.sum() < 0.5 else [0.95, 0.95, 0.95]
        _rect(c.img, x + 0.02, y + 0.02, x + 0.15, y + 0.035, text)
    return _walkers(clip_rng, look["people"], lambda u: (vy + u * (1 - vy), u), 0.55)


def _atrium(c: Canvas, rng, clip_rng, look: dict, city: dict) -> Drawer:
    """A mall atrium: a skylight, shop fronts on several levels behind railings, a bright floor."""
    c.img[:] = _jitter(rng, [0.92, 0.86, 0.74])
    skylight = rng.uniform(0.1, 0.18)
    _rect(c.img, 0, 0, 1, skylight, [0.92, 0.95, 1.0])
    for x in np.arange(0, 1, 0.08):
        _rect(c.img, x, 0, x + 0.01, skylight, [0.5, 0.5, 0.55])
    levels = np.linspace(skylight + 0.03, 0.8, int(look["levels"]) + 1)
    for a, b in zip(levels[:-1], levels[1:]):
        x, h = rng.uniform(-0.1, 0), b - a
        while x < 1:  # shop fronts with a light box above each
            w = rng.uniform(0.08, 0.2)
            _rect(c.img, x, a + 0.25 * h, x + w - 0.01, b - 0.05 * h, _pick(rng, SHOPS, 0.08))
            _rect(c.img, x + 0.01, a + 0.08 * h, x + w - 0.02, a + 0.2 * h, [1.0, 1.0, 0.97])
            x += w
        _rect(c.img, 0, b - 0.05 * h, 1, b, [0.95, 0.95, 0.95])  # railing
    c.paint(c.y > 0.8, _jitter(rng, [0.85, 0.8, 0.7]) * (0.85 + 0.3 * _noise(rng, c.h, c.w, 30)[..., None]))
    if rng.random() < 0.6:
        x = rng.uniform(0.1, 0.7)
        c.paint(c.poly([(x, 0.95), (x + 0.08, 0.95), (x + 0.3, levels[-2]), (x + 0.22, levels[-2])]),
                [0.3, 0.3, 0.32])  # escalator
    c.img *= np.asarray([1.05, 1.0, 0.9], np.float32)  # warm light
    return _walkers(clip_rng, look["people"], lambda u: (0.8 + u * 0.2, 0.5 + u), 0.3)


LAYOUTS = {"rail_car": _rail_car, "bus_aisle": _bus_aisle, "street": _street, "open": _open_space,
           "hall": _hall, "atrium": _atrium}


def render_frames(
    scene: str, look: dict, city: dict, location_rng: np.random.Generator,
    clip_rng: np.random.Generator, n_frames: int, fps: float, width: int, height: int,
) -> Iterator[np.ndarray]:
    """Yield the clip's frames as uint8 RGB arrays (height, width, 3).

    Args:
        scene: class label (chooses the layout).
        look: values drawn by ``draw_look_design`` for the clip's location.
        city: values drawn by ``draw_city_look``.
        location_rng: the location's generator (the fixed scene: layout, colours, textures).
        clip_rng: the clip's generator (what moves: people, cars, scenery, camera, noise).
        n_frames, fps: how many frames, at what rate.
        width, height: frame size in pixels.
    """
    margin = max(2, height // 20)
    canvas = Canvas(height + 2 * margin, width + 2 * margin)
    draw = LAYOUTS[LOOK_LAYOUTS[scene]](canvas, location_rng, clip_rng, look, city)
    rng = clip_rng
    grade = (city["tint"] * city["brightness"] * rng.uniform(0.9, 1.1)).astype(np.float32)
    sway = rng.uniform(0, 2 * np.pi, 2)
    for k in range(n_frames):
        t = k / fps
        frame = canvas.img.copy()
        draw(frame, t)
        dy = int(round(margin * (0.5 + 0.4 * np.sin(0.7 * t + sway[0]) + 0.1 * rng.uniform(-1, 1))))
        dx = int(round(margin * (1 + 0.8 * np.sin(0.5 * t + sway[1]) + 0.2 * rng.uniform(-1, 1))))
        frame = frame[dy : dy + height, dx : dx + width] * grade * rng.uniform(0.97, 1.03)
        frame += 0.015 * rng.standard_normal(frame.shape, dtype=np.float32)
        yield (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
