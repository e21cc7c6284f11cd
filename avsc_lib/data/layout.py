"""Index and check a dataset root in the TAU Urban Audio-Visual Scenes 2021 layout.

A root holds ``meta.csv``, ``evaluation_setup/fold1_{train,evaluate,test}.csv`` (tab-separated,
paths relative to the root), ``audio/<name>.wav`` and ``video/<name>.mp4``. A clip's name is
``<scene>-<city>-<location id>-<segment id>``, e.g. ``airport-lyon-1095-40158``; scene labels
contain underscores, never hyphens. Clips of one location never span train and evaluate.

``load_split`` reads one fold-1 split into :class:`Clip` records and raises
:class:`DatasetError` on the first CSV it cannot use; ``check_root`` reads everything and lists
every problem with its file and CSV line, which ``avsc check ROOT`` prints.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError

SPLITS = ("train", "evaluate", "test")
META_FILE = "meta.csv"
SETUP_DIR = "evaluation_setup"
META_COLUMNS = ("filename_audio", "filename_video", "scene_label", "identifier")
SPLIT_COLUMNS = {
    "train": ("filename_audio", "filename_video", "scene_label"),
    "evaluate": ("filename_audio", "filename_video", "scene_label"),
    "test": ("filename_audio", "filename_video"),  # the real test list has no labels
}


class DatasetError(AvscError):
    """A dataset root or CSV file that cannot be used as it is."""


class NameParts(NamedTuple):
    """The parts of a clip name ``<scene>-<city>-<location id>-<segment id>``."""

    scene: str
    city: str
    location: str
    segment: str


@dataclass(frozen=True)
class Clip:
    """One synchronized audio-visual clip of a split.

    Attributes:
        name: the file stem, e.g. ``airport-lyon-1095-40158``.
        audio_path: absolute path of the WAV file.
        video_path: absolute path of the MP4 file.
        scene: the CSV's scene label; None in the unlabelled test split.
        city, location, segment: parsed from the name (None for an evaluation set's clips,
            whose names are anonymous).
    """

    name: str
    audio_path: Path
    video_path: Path
    scene: str | None
    city: str | None = None
    location: str | None = None
    segment: str | None = None

    @property
    def location_key(self) -> str:
        """``<city>-<location id>``: the unit that never spans train and evaluate."""
        return f"{self.city}-{self.location}"


@dataclass(frozen=True)
class Problem:
    """One problem of a dataset root: the file (relative to the root), CSV line and message."""

    file: str
    line: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


def parse_name(name: str | Path) -> NameParts:
    """Split a clip name (a stem, file name or relative path) into scene, city, location, segment.

    Raises:
        DatasetError: the name does not have the form ``<scene>-<city>-<location>-<segment>``.
    """
    stem = Path(str(name)).stem
    parts = stem.split("-")
    if len(parts) != 4 or not all(parts):
        raise DatasetError(
            f"clip name {stem!r} is not of the form <scene>-<city>-<location id>-<segment id>"
        )
    return NameParts(*parts)


def is_evaluation_root(root: str | Path) -> bool:
    """An evaluation set (the challenge's, or one like it): ``fold1_test.csv`` without the
    labelled fold-1 lists. Its clips have any names and any length from 1 s."""
    setup = Path(root) / SETUP_DIR
    return (setup / "fold1_test.csv").is_file() and not any(
        (setup / f"fold1_{split}.csv").is_file() for split in ("train", "evaluate"))


def split_file(root: str | Path, split: str) -> Path:
    """The fold-1 CSV file of a split (``train``, ``evaluate`` or ``test``)."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    return Path(root) / SETUP_DIR / f"fold1_{split}.csv"


def read_table(path: Path, columns: tuple[str, ...], root: Path | None = None) -> tuple[list, list[Problem]]:
    """Read a tab-separated table with a header; return its rows with line numbers and problems.

    Args:
        path: the CSV file.
        columns: the columns it must have (others are ignored).
        root: names in problems are relative to this folder when given.

    Returns:
        ``(rows, problems)``: rows as ``(line number, {column: value})`` for each well-formed
        data row; problems for an unreadable file, missing columns and malformed rows.
    """
    shown = str(path.relative_to(root)) if root is not None else str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return [], [Problem(shown, None, "missing-file", "required file is missing")]
    except (OSError, UnicodeDecodeError) as err:
        return [], [Problem(shown, None, "unreadable", f"cannot read as UTF-8 text: {err}")]
    lines = [row for row in csv.reader(text.splitlines(), delimiter="\t")]
    if not lines or not any(cell.strip() for cell in lines[0]):
        return [], [Problem(shown, 1, "unreadable", "empty file: expected a header line")]
    header = [cell.strip() for cell in lines[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        hint = " (is it tab-separated?)" if len(header) == 1 and "," in header[0] else ""
        return [], [
            Problem(
                shown,
                1,
                "missing-column",
                f"header lacks column(s) {', '.join(missing)}{hint}; found: {' '.join(header)}",
            )
        ]
    rows, problems = [], []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                Problem(
                    shown, number, "malformed-row",
                    f"expected {len(header)} tab-separated fields, found {len(cells)}",
                )
            )
            continue
        rows.append((number, {key: cell.strip() for key, cell in zip(header, cells)}))
    return rows, problems


def _row_clip(root: Path, row: dict[str, str], labelled: bool) -> Clip:
    """Build a Clip from one CSV row (raises DatasetError for a bad name or label).

    An unlabelled row may have any name (the evaluation set's are anonymous)."""
    try:
        parts: tuple = tuple(parse_name(row["filename_audio"]))[1:]
    except DatasetError:
        if labelled:
            raise
        parts = (None, None, None)
    scene = row["scene_label"] if labelled else None
    if scene is not None and scene not in CLASSES:
        raise DatasetError(f"unknown scene label {scene!r}; valid: {', '.join(CLASSES)}")
    return Clip(Path(row["filename_audio"]).stem, root / row["filename_audio"], root / row["filename_video"],
                scene, *parts)


def load_split(root: str | Path, split: str) -> list[Clip]:
    """The clips of a fold-1 split, in the CSV's order.

    Args:
        root: dataset root in the TAU layout.
        split: ``train``, ``evaluate`` or ``test`` (the test split has ``scene`` None).

    Raises:
        DatasetError: naming the file and line of a missing or unreadable CSV, a missing
            column, a malformed row, a clip name that does not parse or an unknown label.
    """
    root = Path(root).resolve()
    path = split_file(root, split)
    rows, problems = read_table(path, SPLIT_COLUMNS[split])
    if problems:
        raise DatasetError(str(problems[0]) + (f" (and {len(problems) - 1} more)" if problems[1:] else ""))
    clips = []
    for number, row in rows:
        try:
            clips.append(_row_clip(root, row, labelled=split != "test"))
        except DatasetError as err:
            raise DatasetError(f"{path}:{number}: {err}") from None
    return clips


def feature_clips(root: str | Path, media: str, suffixes: tuple[str, ...],
                  max_clips: int | None = None) -> list[Clip] | list[Path]:
    """The clips whose features a cache of one medium holds.

    Args:
        root: a dataset root.
        media: ``audio`` or ``video``, the folder read when the root has no fold-1 setup.
        suffixes: the file endings of that medium, lower case.
        max_clips: cut each split to its first ``max_clips``; None: all.

    Returns:
        Fold-1 train and evaluate (the test split holds the evaluate clips) without duplicates;
        for an evaluation set, its test split; for a root without ``evaluation_setup/``, the
        paths of every ``<media>/`` file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root is not a folder")
    if is_evaluation_root(root):
        chosen = load_split(root, "test")
        return chosen[:max_clips] if max_clips else chosen
    if not (root / SETUP_DIR).is_dir():
        paths = sorted(p for p in (root / media).glob("*") if p.suffix.lower() in suffixes)
        if not paths:
            raise DatasetError(f"{root}: no {SETUP_DIR}/ and no {media} files in {root / media}")
        return paths
    clips: list[Clip] = []
    for split in ("train", "evaluate"):
        chosen = load_split(root, split)
        clips += chosen[:max_clips] if max_clips else chosen
    return list({clip.name: clip for clip in clips}.values())


# --- checking a root -------------------------------------------------------------------


def split_counts(root: str | Path) -> dict[str, Counter]:
    """Clips per class of each labelled split that can be read (for the check report)."""
    counts = {}
    for split in ("train", "evaluate"):
        rows, problems = read_table(split_file(root, split), SPLIT_COLUMNS[split])
        if not any(p.line in (None, 1) for p in problems):
            counts[split] = Counter(row["scene_label"] for _, row in rows)
    return counts


def root_clip_seconds(root: str | Path) -> float:
    """The length a root's clips should have: a synthetic set's (its marker), else the TAU 10 s."""
    import json

    from avsc_lib.core.params import defaults

    try:
        return float(json.loads((Path(root) / "synth.json").read_text())["profile"]["clip_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return float(defaults()["clip_seconds"])
