"""Checks of a data set root in the TAU layout: ``avsc check`` and the check before ``avsc run``.

:func:`check_root` lists every problem of a development root (tables, files, locations that
span splits, labels that disagree, media that cannot be read) or of an evaluation set;
:func:`format_report` says them in a few lines.
"""

from __future__ import annotations

import argparse
import stat
from collections import Counter
from pathlib import Path

from avsc_lib.core.classes import CLASSES
from avsc_lib.data.evaluation_set import MIN_SECONDS, media_seconds
from avsc_lib.data.layout import (
    META_COLUMNS, META_FILE, SETUP_DIR, SPLIT_COLUMNS, SPLITS, DatasetError, Problem, is_evaluation_root, parse_name,
    read_table, root_clip_seconds, split_counts, split_file,
)


def _file_state(path: Path, cache: dict[Path, str]) -> str:
    """``ok``, ``missing`` or ``empty`` for a media file, looked up once per check."""
    if path not in cache:
        try:
            info = path.stat()
        except OSError:
            cache[path] = "missing"
        else:
            regular = stat.S_ISREG(info.st_mode)
            cache[path] = "missing" if not regular else "empty" if info.st_size == 0 else "ok"
    return cache[path]


def check_rows(root: Path, file: str, rows: list, labelled: bool, files: dict[Path, str]) -> list[Problem]:
    """Problems of the rows of one CSV: names, labels, files on disk, duplicates."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        audio, video = row["filename_audio"], row["filename_video"]

        def add(kind: str, message: str) -> None:
            problems.append(Problem(file, number, kind, message))

        if audio in seen:
            add("duplicate", f"{audio} is listed again (first on line {seen[audio]})")
            continue
        seen[audio] = number
        try:
            parts = parse_name(audio)
        except DatasetError as err:
            add("bad-name", str(err))
            parts = None
        if Path(audio).stem != Path(video).stem:
            add("name-mismatch", f"audio {audio} and video {video} have different names")
        if labelled:
            label = row["scene_label"]
            if label not in CLASSES:
                add("unknown-label", f"unknown scene label {label!r}; valid: {', '.join(CLASSES)}")
            elif parts is not None and parts.scene != label:
                add("label-mismatch", f"label {label!r} disagrees with the name {Path(audio).stem!r}")
        for rel in (audio, video):
            state = _file_state(root / rel, files)
            if state == "missing":
                add("missing-file", f"{rel} does not exist")
            elif state == "empty":
                add("empty-file", f"{rel} is empty")
    return problems


def _location_problems(file: str, tables: dict[str, list]) -> list[Problem]:
    """Evaluate rows whose location (city and location id) also appears in train."""
    train_lines: dict[str, int] = {}
    for number, row in tables.get("train", []):
        try:
            parts = parse_name(row["filename_audio"])
        except DatasetError:
            continue
        train_lines.setdefault(f"{parts.city}-{parts.location}", number)
    problems = []
    for number, row in tables.get("evaluate", []):
        try:
            parts = parse_name(row["filename_audio"])
        except DatasetError:
            continue
        key = f"{parts.city}-{parts.location}"
        if key in train_lines:
            problems.append(
                Problem(
                    file, number, "location-leak",
                    f"location {key} spans train and evaluate "
                    f"(fold1_train.csv line {train_lines[key]})",
                )
            )
    return problems


def _cross_problems(tables: dict[str, list], meta_rows: list) -> list[Problem]:
    """Clips missing from meta.csv or labelled differently there; test vs evaluate clips."""
    problems = []
    meta = {row["filename_audio"]: row["scene_label"] for _, row in meta_rows}
    for split in ("train", "evaluate"):
        file = f"{SETUP_DIR}/fold1_{split}.csv"
        for number, row in tables.get(split, []):
            audio = row["filename_audio"]
            if meta_rows and audio not in meta:
                problems.append(Problem(file, number, "not-in-meta", f"{audio} is not in {META_FILE}"))
            elif meta_rows and meta[audio] != row["scene_label"]:
                problems.append(
                    Problem(file, number, "label-mismatch",
                            f"label {row['scene_label']!r} differs from {META_FILE}'s {meta[audio]!r}")
                )
    if "test" in tables and "evaluate" in tables:
        evaluate = {row["filename_audio"] for _, row in tables["evaluate"]}
        test = {row["filename_audio"] for _, row in tables["test"]}
        for number, row in tables["test"]:
            if row["filename_audio"] not in evaluate:
                problems.append(
                    Problem(f"{SETUP_DIR}/fold1_test.csv", number, "test-mismatch",
                            f"{row['filename_audio']} is not in fold1_evaluate.csv")
                )
        for number, row in tables["evaluate"]:
            if row["filename_audio"] not in test:
                problems.append(
                    Problem(f"{SETUP_DIR}/fold1_evaluate.csv", number, "test-mismatch",
                            f"{row['filename_audio']} is not in fold1_test.csv")
                )
    return problems


def check_root(root: str | Path, clip_seconds: float | None = None, max_short_fraction: float = 0.2,
               media: bool = True, deep: bool = False, workers: int = 4) -> list[Problem]:
    """Every problem of a dataset root in the TAU layout; an empty list for a valid root.

    Checks the required files and folders; that each CSV is readable, tab-separated and has
    its columns; in each row, the clip name, the label (known, agreeing with the name and with
    ``meta.csv``), that the audio and video files exist and are not empty, duplicated rows;
    that no location spans train and evaluate; that the test list holds the evaluate clips.
    With ``media`` (:mod:`avsc_lib.data.media_check`), that every audio file's header is readable and
    every video has a video stream with a decodable first frame (``deep``: every sample and
    frame decodes), and that none lacks more than ``max_short_fraction`` of ``clip_seconds``.
    An evaluation set is checked as :func:`avsc_lib.data.evaluation_set.check_evaluation_root`
    says. Nothing is modified.
    """
    root = Path(root)
    if not root.is_dir():
        return [Problem(str(root), None, "missing-file", "dataset root is not a folder")]
    if is_evaluation_root(root):

        return check_evaluation_root(root)
    problems: list[Problem] = []
    for folder in ("audio", "video"):
        if not (root / folder).is_dir():
            problems.append(Problem(folder, None, "missing-file", "required folder is missing"))
    files: dict[Path, str] = {}
    meta_rows, meta_problems = read_table(root / META_FILE, META_COLUMNS, root)
    problems += meta_problems + check_rows(root, META_FILE, meta_rows, True, files)
    tables: dict[str, list] = {}
    for split in SPLITS:
        path = split_file(root, split)
        rows, table_problems = read_table(path, SPLIT_COLUMNS[split], root)
        problems += table_problems
        if not any(p.line in (None, 1) for p in table_problems):
            tables[split] = rows
            problems += check_rows(root, str(path.relative_to(root)), rows, split != "test", files)
    problems += _location_problems(f"{SETUP_DIR}/fold1_evaluate.csv", tables)
    problems += _cross_problems(tables, meta_rows)
    if media:
        from avsc_lib.data.media_check import check_files

        present = [(path, "audio" if path.suffix.lower() in (".wav", ".flac") else "video")
                   for path, state in sorted(files.items()) if state == "ok"]
        problems += [Problem(str(p.path.relative_to(root)), None, p.kind, p.message)
                     for p in check_files(present, clip_seconds, max_short_fraction, deep, workers)]
    return problems


def check_evaluation_root(root: str | Path) -> list[Problem]:
    """Every problem of an evaluation set: the folders and the test list; in each row, the files
    exist, are not empty, share their name, are readable and last at least 1 s; duplicates."""
    root = Path(root)
    problems = [Problem(folder, None, "missing-file", "required folder is missing")
                for folder in ("audio", "video") if not (root / folder).is_dir()]
    path = split_file(root, "test")
    rows, table_problems = read_table(path, SPLIT_COLUMNS["test"], root)
    problems += table_problems
    file = str(path.relative_to(root))
    # an evaluation set's names are anonymous: a name that is not <scene>-<city>-... is fine
    problems += [p for p in check_rows(root, file, rows, False, {}) if p.kind != "bad-name"]
    reported = {p.line for p in problems}
    for number, row in rows:
        if number in reported:
            continue  # a missing or empty file is reported already
        for column in ("filename_audio", "filename_video"):
            seconds = media_seconds(root / row[column])
            if seconds is None:
                problems.append(Problem(file, number, "unreadable", f"{row[column]} cannot be read as media"))
            elif seconds < MIN_SECONDS:
                problems.append(Problem(file, number, "too-short",
                                        f"{row[column]} lasts {seconds:.2f} s, less than one {MIN_SECONDS:g}-s segment"))
    return problems


def format_report(root: str | Path, problems: list[Problem], limit: int = 200) -> str:
    """The text ``avsc check`` prints: clips per split and class, then the problems."""
    counts = split_counts(root)
    lines = [f"dataset root: {Path(root).resolve()}"]
    if is_evaluation_root(root):
        lines.append("an evaluation set: evaluation_setup/fold1_test.csv without labels, clips of any length from 1 s")
    splits = list(counts)
    if splits:
        lines.append(f"{'class':<20}" + "".join(f"{s:>10}" for s in splits))
        labels = list(CLASSES) + sorted({k for c in counts.values() for k in c} - set(CLASSES))
        for label in labels:
            lines.append(f"{label:<20}" + "".join(f"{counts[s][label]:>10}" for s in splits))
        lines.append(f"{'total':<20}" + "".join(f"{sum(counts[s].values()):>10}" for s in splits))
    test_rows, _ = read_table(split_file(root, "test"), SPLIT_COLUMNS["test"])
    lines.append(f"test clips: {len(test_rows)}")
    if not problems:
        lines.append("OK: no problems found")
        return "\n".join(lines)
    kinds = Counter(p.kind for p in problems)
    lines.append(
        f"{len(problems)} problem(s): " + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    )
    lines += [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return "\n".join(lines)


def cli_check(args: argparse.Namespace) -> int:
    """``avsc check ROOT [--deep]``: print the report; exit status 0 only for a valid root, else 1."""
    problems = check_root(args.root, clip_seconds=root_clip_seconds(args.root), deep=args.deep)
    print(format_report(args.root, problems))
    return 0 if not problems else 1
