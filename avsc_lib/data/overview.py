"""Small views of a data set's clips for the data chapter: a table per class and split, examples."""

from __future__ import annotations

from typing import Any, Mapping

from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError


def pick_clip(clips: list, name: str | None = None) -> Any:
    """The clip called ``name`` (None: the first one); AvscError naming the split otherwise."""
    if not clips:
        raise AvscError("the split holds no clips")
    if name is None:
        return clips[0]
    for clip in clips:
        if clip.name == name:
            return clip
    raise AvscError(f"clip {name!r} is not in the split (e.g. {clips[0].name!r})")


def split_table(splits: Mapping[str, list]) -> Any:
    """A DataFrame of clips per class (rows, DCASE order) and split (columns), with totals."""
    import pandas as pd

    table = pd.DataFrame({split: [sum(c.scene == label for c in clips) for label in CLASSES]
                          for split, clips in splits.items()}, index=list(CLASSES))
    table.index.name = "class"
    table.loc["total"] = table.sum()
    return table


def first_clip_per_class(clips: list) -> dict[str, Any]:
    """The first clip of each class present, in DCASE order."""
    chosen = {}
    for label in CLASSES:
        match = next((c for c in clips if c.scene == label), None)
        if match is not None:
            chosen[label] = match
    return chosen
