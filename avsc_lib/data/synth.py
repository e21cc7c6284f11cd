"""A synthetic data set in the exact TAU Urban Audio-Visual Scenes 2021 layout.

The real data set is 108 GB; this generator writes a small stand-in with the same layout
(``audio/*.wav`` at 48 kHz, 24 bit, stereo; ``video/*.mp4`` in H.264; ``meta.csv``;
``evaluation_setup/fold1_{train,evaluate,test}.csv``) so that every later step of the study
runs the same code on it as on the real data. It is a teaching and test set, not a benchmark.

Design. Both modalities carry the class, neither alone is enough, and nothing encodes the
label directly (no constant pixel, colour or tone per class):

- Sound (``avsc_lib.data.synth_audio``): each class is a set of ranges over one list of sound
  components (noise beds, low rumble, crowd babble, footsteps, engine harmonics, bird calls,
  chimes, screeches, rail clacks, reverberation...). Every location draws its own values, every
  clip its own event times. Four pairs **sound alike** because they share most ranges:
  street_pedestrian ~ public_square, airport ~ shopping_mall, metro ~ metro_station, bus ~ tram.
- Look (``avsc_lib.data.synth_video``): six drawn layouts (rail car, bus aisle, street, open space,
  hall, mall atrium) with textures, perspective, moving people, cars and scenery, a swaying
  camera and sensor noise. Colours come from shared palettes and every city adds its own
  grade and sky. Four pairs **look alike** because they share a layout and differ only in
  overlapping ranges of a few look parameters: metro ~ tram, street_pedestrian ~
  street_traffic, airport ~ metro_station and, partly, park ~ public_square.
- The alike-pairs of the two modalities differ, so a class confused by one modality is
  told apart by the other: audio-only and visual-only models stay below 100 % and fusion
  can beat both, as in the paper. ``CLASS_DESIGN`` lists each class's sound and look.

Splits follow the real rules: a clip is named ``<scene>-<city>-<location id>-<segment id>``,
locations never span train and evaluate (about a third of each class's locations are held
out, spread over cities), and the test list holds the evaluate clips without labels.
The set is deterministic for a seed: the same seed gives byte-identical WAV and CSV files
(and identical video frames). ``ensure_dataset`` generates the set once, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import av
import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import display_path, feature_workers
from avsc_lib.data.identity import GENERATOR_ID, MARKER, SYNTH_VERSION, dataset_root, read_marker
from avsc_lib.data.layout import META_COLUMNS, META_FILE, SETUP_DIR, SPLIT_COLUMNS, split_file
from avsc_lib.data.synth_audio import SAMPLE_RATE, render_audio
from avsc_lib.data.synth_design import draw_city_look, draw_city_sound, draw_look_design, draw_sound_design
from avsc_lib.data.synth_video import render_frames

CITIES = ("lisbon", "lyon", "vienna", "helsinki", "barcelona", "paris")


@dataclass(frozen=True)
class Profile:
    """The size of a synthetic set.

    Attributes:
        name: ``demo`` or ``smoke``.
        cities: number of cities (each class is recorded in all of them).
        locations_per_city: locations per class and city.
        segments_per_location: clips per location.
        eval_locations: locations per class held out for fold-1 evaluate (in different cities).
        clip_seconds: clip duration; must equal the ``clip_seconds`` of the matching params file.
        width, height, fps: video frame size and rate (the study reads 5 fps).
    """

    name: str
    cities: int
    locations_per_city: int
    segments_per_location: int
    eval_locations: int
    clip_seconds: float
    width: int
    height: int
    fps: int

    @property
    def clips_per_class(self) -> int:
        return self.cities * self.locations_per_city * self.segments_per_location


PROFILES = {
    # 10 classes x 4 cities x 3 locations x 1 clip of 10 s; 8 of 12 locations per class in train.
    "demo": Profile("demo", 4, 3, 1, 4, 10.0, 256, 144, 10),
    # 10 classes x 2 cities x 2 locations x 1 clip of 2 s; 3 of 4 locations in train.
    "smoke": Profile("smoke", 2, 2, 1, 1, 2.0, 128, 72, 10),
}

SOUND_ALIKE = (("street_pedestrian", "public_square"), ("airport", "shopping_mall"),
               ("metro", "metro_station"), ("bus", "tram"))
LOOK_ALIKE = (("metro", "tram"), ("street_pedestrian", "street_traffic"),
              ("airport", "metro_station"), ("park", "public_square"))

CLASS_DESIGN: dict[str, dict[str, str | None]] = {
    "airport": {
        "sound": "reverberant hall: crowd babble, footsteps, ventilation, rolling suitcases, chimes",
        "look": "hall in perspective, lit ceiling, mostly glass walls, hanging signs, a narrow dark strip",
    },
    "bus": {
        "sound": "low diesel engine harmonics rising and falling, cabin rumble, air-brake hisses, beeps",
        "look": "seen along the aisle: rows of patterned seat backs, yellow poles, side windows, windshield",
    },
    "metro": {
        "sound": "loud low rumble and wheel roar, regular rail-joint knocks, wheel screeches, few voices",
        "look": "car seen across the aisle: windows mostly showing a dark tunnel with lights, seats, poles",
    },
    "metro_station": {
        "sound": "reverberant hall: babble, footsteps, trains arriving and leaving as long rumble swells",
        "look": "hall in perspective, mostly tiled walls, a dark track bed with a yellow platform edge",
    },
    "park": {
        "sound": "gusty wind and leaf rustle, bird calls, distant traffic, few voices",
        "look": "open view: sky, many trees on the horizon, mostly grass, paths, few people",
    },
    "public_square": {
        "sound": "outdoor crowd: babble, footsteps, light traffic rumble, sometimes a fountain or pigeons",
        "look": "open view: sky, a skyline, mostly paving with tiles, a monument, some lawns and trees",
    },
    "shopping_mall": {
        "sound": "reverberant hall: babble, footsteps, ventilation, background music",
        "look": "atrium: skylight, levels of colourful shop fronts behind white railings, bright floor",
    },
    "street_pedestrian": {
        "sound": "outdoor crowd: babble, many footsteps, traffic rumble, few cars passing",
        "look": "street in perspective between façades; narrow road, many walkers, few cars",
    },
    "street_traffic": {
        "sound": "strong traffic rumble, cars passing by with falling engine tones, horns",
        "look": "street in perspective between façades; wide road with lane marks and cars",
    },
    "tram": {
        "sound": "electric motor harmonics with inverter whine, rail knocks, tram bells, cabin rumble",
        "look": "car seen across the aisle: large windows mostly showing street scenery, seats, poles",
    },
}


def _partner(label: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    return next((a if b == label else b for a, b in pairs if label in (a, b)), None)


for _label, _design in CLASS_DESIGN.items():  # the class each is confused with, or None
    _design["sounds_like"] = _partner(_label, SOUND_ALIKE)
    _design["looks_like"] = _partner(_label, LOOK_ALIKE)


@dataclass(frozen=True)
class PlannedClip:
    """One clip to generate: its name, indices (for the random streams) and split."""

    name: str
    scene: str
    city: str
    location_id: int
    segment_id: int
    keys: tuple[int, int, int, int]  # class, city, location, segment indices
    split: str


def plan_clips(profile: Profile, seed: int) -> list[PlannedClip]:
    """The clips of a profile: names, and a location-disjoint train/evaluate split."""
    rng = np.random.default_rng([seed, 0])
    n_loc = len(CLASSES) * profile.cities * profile.locations_per_city
    location_ids = rng.choice(np.arange(100, 1400), size=n_loc, replace=False)
    n_seg = n_loc * profile.segments_per_location
    segment_ids = rng.choice(np.arange(1000, 60000), size=n_seg, replace=False)
    clips = []
    for c, scene in enumerate(CLASSES):
        held_out = {(int(city), int(rng.integers(profile.locations_per_city)))
                    for city in rng.permutation(profile.cities)[: profile.eval_locations]}
        for k in range(profile.cities):
            for loc in range(profile.locations_per_city):
                loc_index = (c * profile.cities + k) * profile.locations_per_city + loc
                for seg in range(profile.segments_per_location):
                    seg_id = int(segment_ids[loc_index * profile.segments_per_location + seg])
                    loc_id = int(location_ids[loc_index])
                    clips.append(PlannedClip(
                        name=f"{scene}-{CITIES[k]}-{loc_id}-{seg_id}", scene=scene, city=CITIES[k],
                        location_id=loc_id, segment_id=seg_id, keys=(c, k, loc, seg),
                        split="evaluate" if (k, loc) in held_out else "train",
                    ))
    return sorted(clips, key=lambda clip: clip.name)


def write_wav(path: Path, signal: np.ndarray) -> None:
    """Write (samples, 2) float audio as a 48 kHz 24-bit PCM WAV file."""
    sf.write(str(path), signal, SAMPLE_RATE, subtype="PCM_24", format="WAV")


def write_mp4(path: Path, frames, fps: int, width: int, height: int) -> None:
    """Encode RGB uint8 frames as H.264 (yuv420p) in MP4, single-threaded for reproducibility."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "20", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _streams(clip: PlannedClip, seed: int):
    """Random generators of a clip's city, location and clip level for one stream ``m``."""
    c, k, loc, seg = clip.keys
    return (lambda m: np.random.default_rng([seed, 1, k, m]),
            lambda m: np.random.default_rng([seed, 2, c, k, loc, m]),
            lambda m: np.random.default_rng([seed, 3, c, k, loc, seg, m]))


def render_clip_audio(clip: PlannedClip, profile: Profile, seed: int) -> np.ndarray:
    """The clip's stereo signal, float32 (samples, 2) at 48 kHz."""
    city_rng, loc_rng, clip_rng = _streams(clip, seed)
    sound = draw_sound_design(clip.scene, loc_rng(0))
    return render_audio(sound, draw_city_sound(city_rng(0)), clip_rng(0), profile.clip_seconds)


def render_clip_frames(clip: PlannedClip, profile: Profile, seed: int):
    """The clip's video frames, an iterator of uint8 RGB arrays (height, width, 3)."""
    city_rng, loc_rng, clip_rng = _streams(clip, seed)
    look = draw_look_design(clip.scene, loc_rng(1))
    n_frames = int(round(profile.clip_seconds * profile.fps))
    return render_frames(clip.scene, look, draw_city_look(city_rng(1)), loc_rng(2), clip_rng(1),
                         n_frames, profile.fps, profile.width, profile.height)


def _render_clip(root: Path, clip: PlannedClip, profile: Profile, seed: int) -> None:
    write_wav(root / "audio" / f"{clip.name}.wav", render_clip_audio(clip, profile, seed))
    frames = render_clip_frames(clip, profile, seed)
    write_mp4(root / "video" / f"{clip.name}.mp4", frames, profile.fps, profile.width, profile.height)


def _tsv(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    return "\n".join("\t".join(row) for row in [header, *rows]) + "\n"


def _write_tables(root: Path, clips: list[PlannedClip]) -> None:
    files = lambda clip: (f"audio/{clip.name}.wav", f"video/{clip.name}.mp4")  # noqa: E731
    meta = [(*files(c), c.scene, f"{c.city}-{c.location_id}") for c in clips]
    (root / META_FILE).write_text(_tsv(META_COLUMNS, meta))
    (root / SETUP_DIR).mkdir()
    for split in ("train", "evaluate"):
        rows = [(*files(c), c.scene) for c in clips if c.split == split]
        split_file(root, split).write_text(_tsv(SPLIT_COLUMNS[split], rows))
    test = [files(c) for c in clips if c.split == "evaluate"]  # the evaluate clips, unlabelled
    split_file(root, "test").write_text(_tsv(SPLIT_COLUMNS["test"], test))


def _readme(profile: Profile, seed: int, clips: list[PlannedClip]) -> str:
    n_train = sum(c.split == "train" for c in clips)
    return (
        f"# Synthetic TAU Urban Audio-Visual Scenes 2021 stand-in ({profile.name}, seed {seed})\n\n"
        "This folder is SYNTHETIC. It was written by `avsc synth` (avsc_lib/data/synth.py) in the\n"
        "layout of the real development set so that the study's code runs unchanged on it.\n"
        "Its sounds and pictures are generated; numbers obtained on it say nothing about the\n"
        "real data set or the paper.\n\n"
        f"- {len(clips)} clips of {profile.clip_seconds:g} s, {len(CLASSES)} classes, "
        f"{profile.cities} cities; fold 1: {n_train} train, {len(clips) - n_train} evaluate clips\n"
        f"- audio: {SAMPLE_RATE} Hz, 24 bit, stereo WAV; video: H.264 MP4, "
        f"{profile.width}x{profile.height} at {profile.fps} fps\n"
        f"- generator version {SYNTH_VERSION}; regenerate with "
        f"`avsc synth OUT --profile {profile.name} --seed {seed}`\n"
    )


def _marker(profile: Profile, seed: int, n_clips: int) -> dict[str, Any]:
    return {"generator": GENERATOR_ID, "version": SYNTH_VERSION, "profile": asdict(profile),
            "seed": seed, "clips": n_clips}


def is_complete(root: str | Path, profile: str, seed: int) -> bool:
    """Whether ``root`` holds a finished set of this generator version, profile and seed."""
    marker = read_marker(root)
    return isinstance(marker, dict) and marker == _marker(PROFILES[profile], seed, marker.get("clips"))


def generate(
    out: str | Path, profile: str = "demo", seed: int = 0, jobs: int = 1, progress: bool = True
) -> Path:
    """Write the synthetic set of a profile into ``out``, atomically; reuse it if complete.

    Clips are rendered by ``jobs`` worker processes (each clip has its own random streams,
    so the files do not depend on ``jobs``).

    The set is generated in a temporary folder beside ``out`` and renamed at the end, so
    ``out`` is either absent or complete. An older synthetic set in ``out`` is replaced;
    any other existing, non-empty folder is left alone and is an error.

    Returns:
        ``out`` as a Path.
    """
    out = Path(out)
    if profile not in PROFILES:
        raise AvscError(f"unknown synthetic profile {profile!r}; valid: {', '.join(PROFILES)}")
    if is_complete(out, profile, seed):
        return out
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise AvscError(f"{out}: exists and is not a synthetic data set; choose another folder")
    spec = PROFILES[profile]
    clips = plan_clips(spec, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "audio").mkdir(parents=True)
        (tmp / "video").mkdir()
        bar = tqdm(total=len(clips), desc=f"synth {profile}", unit="clip", disable=not progress)
        if jobs > 1:
            with ProcessPoolExecutor(jobs) as pool:
                for future in as_completed([pool.submit(_render_clip, tmp, c, spec, seed) for c in clips]):
                    future.result()
                    bar.update()
        else:
            for clip in clips:
                _render_clip(tmp, clip, spec, seed)
                bar.update()
        bar.close()
        _write_tables(tmp, clips)
        (tmp / "README.md").write_text(_readme(spec, seed, clips))
        (tmp / MARKER).write_text(json.dumps(_marker(spec, seed, len(clips)), indent=1) + "\n")
        if not is_complete(out, profile, seed):  # another process may have finished first
            _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename ``src`` onto ``dst``, moving an existing ``dst`` aside first."""
    old = dst.parent / f".{dst.name}.old-{os.getpid()}"
    if dst.exists():
        os.rename(dst, old)
    try:
        os.rename(src, dst)
    except OSError:
        if not dst.exists() and old.exists():
            os.rename(old, dst)
        raise
    shutil.rmtree(old, ignore_errors=True)


def ensure_dataset(params: Mapping[str, Any]) -> Path:
    """The data set root of a parameter set, generating the synthetic set once if needed.

    Returns ``params["data_root"]`` when set; otherwise the synthetic set of
    ``params["synth_profile"]`` and ``params["synth_seed"]`` under
    ``build_path(params, "data", "<profile>-seed<seed>")``, generated if absent or stale
    with ``params["feature_jobs"]`` processes.

    Raises:
        AvscError: ``data_root`` is not a folder; neither key is set; or the profile's clip
            duration differs from ``params["clip_seconds"]``.
    """
    root = dataset_root(params)
    if params.get("data_root"):
        if not root.is_dir():
            raise AvscError(f"{root}: data_root is not a folder")
        return root
    profile = params["synth_profile"]
    seconds = PROFILES[profile].clip_seconds
    if abs(float(params["clip_seconds"]) - seconds) > 1e-9:
        raise AvscError(
            f"synth_profile {profile!r} writes clips of {seconds:g} s but clip_seconds is "
            f"{params['clip_seconds']:g}; set clip_seconds: {seconds:g}"
        )
    seed = int(params["synth_seed"])
    if not is_complete(root, profile, seed):
        print(f"generating the synthetic {profile} data set (seed {seed}) into {display_path(root, params)}")
    return generate(root, profile, seed, jobs=feature_workers(params))


def cli_synth(args: argparse.Namespace) -> int:
    """``avsc synth OUT --profile demo|smoke --seed N``: write (or reuse) a synthetic set."""
    out = Path(args.out)
    if is_complete(out, args.profile, args.seed):
        print(f"{out}: already holds the synthetic {args.profile} set, seed {args.seed}; nothing to do")
        return 0
    start = time.monotonic()
    generate(out, args.profile, args.seed, jobs=getattr(args, "jobs", 1))
    n = len(plan_clips(PROFILES[args.profile], args.seed))
    print(f"wrote {n} synthetic clips ({args.profile}, seed {args.seed}) to {out} "
          f"in {time.monotonic() - start:.0f} s")
    return 0
