"""The synthetic world: rooms, a 2-D laser scanner with realistic faults, the action rule, and the ``lidar`` Task.

Everything here is GENERATED (synthetic), seeded and deterministic: ``make_world(seed)`` builds a room with walls,
doorways, boxes and round obstacles; ``World.scan`` casts 64 beams over 180 degrees (0-8 m); ``Sensor`` adds range
noise, dropped returns (read as the maximum range) and spurious short returns. ``label`` decides the action from the
CLEAN scan with a geometric rule (protective and warning fields, as on safety laser scanners); models see only the
noisy scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from lightlab.data.tasks import Task, make_splits

BEAMS, RANGE_MAX = 64, 8.0  # beams over 180 degrees, metres
ANGLES = np.linspace(-np.pi / 2, np.pi / 2, BEAMS)  # robot frame: 0 = straight ahead, positive = left
ROBOT_RADIUS = 0.2  # m: a small round robot
DESIGN_SPEED, DECEL = 1.0, 2.0  # m/s and m/s^2: the speed the rule is designed for, and the braking limit
LANE_M = ROBOT_RADIUS + 0.1  # half-width of the strip the robot sweeps when driving straight, with a margin
# Fields measured from the robot's centre, as on safety laser scanners. Protective: radius + braking distance at
# the design speed + 10 cm (0.55 m): stop. Warning (a design choice): start turning 1.2 m ahead.
PROTECTIVE_M = ROBOT_RADIUS + DESIGN_SPEED**2 / (2 * DECEL) + 0.1
WARNING_M = 1.2
CLASSES = ["forward", "turn left", "turn right", "stop"]
FORWARD, LEFT, RIGHT, STOP = range(4)
# split: (worlds, scans); each split has its own worlds, so test rooms are never seen in training
SPLITS = {"train": (160, 16000), "val": (40, 2000), "test": (40, 2000)}


@dataclass(frozen=True)
class World:
    """A room: wall segments [x0, y0, x1, y1], round obstacles [x, y, r] and boxes [x, y, half_w, half_h, angle]."""

    segments: np.ndarray
    circles: np.ndarray
    boxes: np.ndarray
    size: tuple[float, float]
    seed: int

    def scan(self, poses: np.ndarray) -> np.ndarray:
        """Return the clean ranges [N, BEAMS] in metres seen from ``poses`` [N, 3] (x, y, heading)."""
        heading = poses[:, 2:3] + ANGLES
        dx, dy = np.cos(heading)[..., None], np.sin(heading)[..., None]  # [N, B, 1]
        ox, oy = poses[:, None, 0:1], poses[:, None, 1:2]  # [N, 1, 1]
        # Ray o + t d against segment p + u e: solve the 2x2 system by cross products.
        px, py, ex, ey = (self.segments[:, i] for i in range(4))
        ex, ey = ex - px, ey - py
        wx, wy = px - ox, py - oy
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = dx * ey - dy * ex
            t = (wx * ey - wy * ex) / denom
            u = (wx * dy - wy * dx) / denom
        hit = np.where((u >= 0) & (u <= 1) & (t > 0), t, np.inf).min(-1)
        cx, cy, r = self.circles[:, 0] - ox, self.circles[:, 1] - oy, self.circles[:, 2]
        b = cx * dx + cy * dy  # distance along the ray to the point closest to the centre
        disc = b * b - (cx * cx + cy * cy - r * r)
        with np.errstate(invalid="ignore"):
            tc = b - np.sqrt(disc)
        hit = np.minimum(hit, np.where((disc >= 0) & (tc > 0), tc, np.inf).min(-1))
        return np.minimum(hit, RANGE_MAX)

    def nearest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return each point's distance [N] to the nearest obstacle surface (m, negative inside a box) and that
        surface point [N, 2]."""
        p, e = self.segments[:, :2], self.segments[:, 2:] - self.segments[:, :2]
        rel = points[:, None, :] - p
        u = np.clip((rel * e).sum(-1) / (e * e).sum(-1), 0, 1)
        on_wall = p + u[..., None] * e  # [N, S, 2]
        to_centre = self.circles[:, :2] - points[:, None, :]
        centre_dist = np.linalg.norm(to_centre, axis=-1)
        on_circle = points[:, None, :] + to_centre * (1 - self.circles[:, 2] / centre_dist)[..., None]
        surface = np.concatenate([on_wall, on_circle], axis=1)
        dist = np.concatenate([np.linalg.norm(rel - u[..., None] * e, axis=-1), centre_dist - self.circles[:, 2]], 1)
        i = dist.argmin(-1)
        b = self.boxes
        rx, ry = points[:, None, 0] - b[:, 0], points[:, None, 1] - b[:, 1]
        c, s = np.cos(b[:, 4]), np.sin(b[:, 4])
        inside = ((np.abs(c * rx + s * ry) < b[:, 2]) & (np.abs(c * ry - s * rx) < b[:, 3])).any(-1)
        rows = np.arange(len(points))
        return np.where(inside, -1.0, dist[rows, i]), surface[rows, i]

    def clearance(self, points: np.ndarray) -> np.ndarray:
        """Return each point's distance [N] to the nearest obstacle surface in metres (negative inside a box)."""
        return self.nearest(points)[0]

    def free_poses(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return up to ``n`` random poses [x, y, heading] where the robot touches nothing, facing obstacles often."""
        w, h = self.size
        points = np.column_stack([rng.uniform(0, w, 4 * n), rng.uniform(0, h, 4 * n)])
        gap, surface = self.nearest(points)
        keep = gap > ROBOT_RADIUS + 0.05
        points, surface = points[keep][:n], surface[keep][:n]
        # Uniform poses give ~2/3 "forward": half of them face their nearest obstacle (+-57 degrees) instead.
        towards = np.arctan2(surface[:, 1] - points[:, 1], surface[:, 0] - points[:, 0])
        heading = np.where(
            rng.random(len(points)) < 0.5,
            towards + rng.uniform(-1, 1, len(points)),
            rng.uniform(-np.pi, np.pi, len(points)),
        )
        return np.column_stack([points, heading]).astype(np.float32)


def make_world(seed: int) -> World:
    """Return a random room (6-12 m by 4-9 m) with 0-2 partition walls with a doorway, boxes and round obstacles."""
    rng = np.random.default_rng(seed)
    w, h = float(rng.uniform(6, 12)), float(rng.uniform(4, 9))
    segments = [[0, 0, w, 0], [w, 0, w, h], [w, h, 0, h], [0, h, 0, 0]]
    for _ in range(rng.integers(0, 3)):
        vertical = rng.random() < 0.5
        across, along = (w, h) if vertical else (h, w)
        at, door = rng.uniform(0.3, 0.7) * across, rng.uniform(0.3, along - 1.8)
        width = rng.uniform(0.9, 1.5)
        parts = [(at, 0, at, door), (at, door + width, at, along)]
        segments += [list(p) if vertical else [p[1], p[0], p[3], p[2]] for p in parts]
    boxes = []
    for _ in range(rng.integers(2, 7)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        half_w, half_h = rng.uniform(0.15, 0.6, 2)
        angle = rng.uniform(0, np.pi)
        c, s = np.cos(angle), np.sin(angle)
        corners = [
            (x + c * a - s * b, y + s * a + c * b)
            for a, b in [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)]
        ]
        segments += [[*corners[i], *corners[(i + 1) % 4]] for i in range(4)]
        boxes.append([x, y, half_w, half_h, angle])
    n = rng.integers(2, 8)  # poles, bins, table legs, people standing still: radius 5-35 cm
    circles = np.column_stack([rng.uniform(0, w, n), rng.uniform(0, h, n), rng.uniform(0.05, 0.35, n)])
    # float32 halves the ray-casting time; centimetre-level rounding is far below the sensor noise.
    return World(np.array(segments, dtype=np.float32), circles.astype(np.float32), np.array(boxes), (w, h), seed)


@dataclass(frozen=True)
class Sensor:
    """Scanner imperfections: range noise (sigma = abs + rel x range), dropped returns, spurious short returns.

    ``dropout`` is the largest per-scan share of dropped beams (each scan draws its own share up to it: dark or
    glossy surfaces, sunlight); ``spurious`` the per-beam chance of a return from dust, rain or a reflection.
    """

    sigma_abs: float = 0.01
    sigma_rel: float = 0.01
    dropout: float = 0.2
    spurious: float = 0.01

    def __post_init__(self) -> None:
        for name in ("sigma_abs", "sigma_rel"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0 (metres or a share of the range), got {getattr(self, name)}")
        for name in ("dropout", "spurious"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a probability and must be in [0, 1], got {getattr(self, name)}")

    def __call__(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return noisy ranges [N, BEAMS] in metres for clean ranges [N, BEAMS]."""
        noisy = clean + rng.normal(size=clean.shape) * (self.sigma_abs + self.sigma_rel * clean)
        spurious = rng.random(clean.shape) < self.spurious
        noisy = np.where(spurious, rng.uniform(0.05, 1.0, clean.shape) * clean, noisy)
        # A dropped return reads as "nothing up to the maximum range": the dangerous kind of error.
        dropped = rng.random(clean.shape) < rng.uniform(0, self.dropout, (len(clean), 1))
        return np.clip(np.where(dropped, RANGE_MAX, noisy), 0.0, RANGE_MAX)


SENSOR = Sensor()
PERFECT = Sensor(0.0, 0.0, 0.0, 0.0)


def lane_clearance(ranges: np.ndarray) -> np.ndarray:
    """Return how far [N] (m, from the centre) the robot can drive straight before its lane meets an obstacle."""
    x, y = ranges * np.cos(ANGLES), ranges * np.sin(ANGLES)
    return np.where((np.abs(y) <= LANE_M) & (x > 0), x, RANGE_MAX).min(-1)


def label(ranges: np.ndarray) -> np.ndarray:
    """Return the action [N] for scans [N, BEAMS] (metres) by the rule: stop / turn to the freer side / forward."""
    ranges = np.atleast_2d(ranges)
    ahead = lane_clearance(ranges)
    freer = np.where(ranges[:, ANGLES > 0].mean(-1) >= ranges[:, ANGLES < 0].mean(-1), LEFT, RIGHT)
    return np.where(ahead < PROTECTIVE_M, STOP, np.where(ahead < WARNING_M, freer, FORWARD))


def world_seed(split: str, index: int, seed: int = 0) -> int:
    """Return the seed of world ``index`` of ``split``: different splits never share a world."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLITS)}")
    return int(np.random.SeedSequence([seed, list(SPLITS).index(split), index]).generate_state(1)[0])


@dataclass
class Scans:
    """Generated scans of one split: noisy and clean ranges (m), labels, world index and pose of each."""

    noisy: np.ndarray
    clean: np.ndarray
    labels: np.ndarray
    worlds: np.ndarray
    poses: np.ndarray
    world_seeds: list[int] = field(repr=False)


def generate(split: str, seed: int = 0, sensor: Sensor = SENSOR) -> Scans:
    """Return the scans of ``split``: its own worlds, the same number of each action, seeded."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLITS)}")
    n_worlds, n_scans = SPLITS[split]
    seeds = [world_seed(split, i, seed) for i in range(n_worlds)]
    rng = np.random.default_rng([seed, list(SPLITS).index(split)])
    per_world = 5 * n_scans // (2 * max(n_worlds, 1))  # enough of the rarest action (~13 %)
    clean, worlds, poses = [], [], []
    for i, s in enumerate(seeds):
        world = make_world(s)
        p = world.free_poses(per_world, rng)
        clean.append(world.scan(p))
        worlds.append(np.full(len(p), i))
        poses.append(p)
    clean, worlds, poses = np.concatenate(clean), np.concatenate(worlds), np.concatenate(poses)
    labels = label(clean)
    chosen = []
    for c in range(len(CLASSES)):  # balance the classes: the same number of scans of each action
        have = np.flatnonzero(labels == c)
        if len(have) < n_scans // len(CLASSES):
            raise RuntimeError(f"only {len(have)} {CLASSES[c]!r} scans in {split}; raise the oversampling")
        chosen.append(rng.choice(have, n_scans // len(CLASSES), replace=False))
    idx = rng.permutation(np.concatenate(chosen))
    noisy = sensor(clean[idx], rng)
    return Scans(noisy, clean[idx], labels[idx], worlds[idx], poses[idx], seeds)


def to_input(ranges: np.ndarray) -> torch.Tensor:
    """Return scans in metres [N, BEAMS] as model inputs [N, 1, BEAMS]: ranges / RANGE_MAX, in 0..1."""
    return torch.from_numpy(np.asarray(ranges, dtype=np.float32) / RANGE_MAX).reshape(-1, 1, BEAMS)


def load(seed: int = 0) -> Task:
    """Return the synthetic lidar task: choose forward / turn left / turn right / stop from one noisy scan."""
    parts = {name: generate(name, seed) for name in SPLITS}
    x = torch.cat([to_input(s.noisy) for s in parts.values()])
    y = np.concatenate([s.labels for s in parts.values()])
    bounds = np.cumsum([0] + [len(s.labels) for s in parts.values()])
    index = {name: np.arange(bounds[i], bounds[i + 1]) for i, name in enumerate(parts)}
    about = (
        "SYNTHETIC 2-D lidar (generated by ll.lidar): choose the robot's action from one "
        "noisy 64-beam scan over 180 degrees (0-8 m); labels from a geometric rule on the clean "
        "scan; 160+40+40 generated rooms (train/val/test never share one), classes balanced"
    )
    meta = dict(name="lidar", domain="autonomous", input_shape=(1, BEAMS), classes=list(CLASSES), metric="accuracy")
    return Task(**meta, splits=make_splits(x, y, index), seed=seed, synthetic=True, description=about)


def held_out_world(index: int = 0, seed: int = 0) -> World:
    """Return world ``index`` of the test split: a room no model saw in training."""
    return make_world(world_seed("test", index, seed))
