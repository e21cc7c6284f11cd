"""The ten scene classes of TAU Urban Audio-Visual Scenes 2021, in DCASE order."""

from __future__ import annotations

# The order used by the DCASE baseline and the submission files (alphabetical).
CLASSES: tuple[str, ...] = (
    "airport",
    "bus",
    "metro",
    "metro_station",
    "park",
    "public_square",
    "shopping_mall",
    "street_pedestrian",
    "street_traffic",
    "tram",
)
NUM_CLASSES = len(CLASSES)
_INDEX = {name: i for i, name in enumerate(CLASSES)}


def label_to_index(label: str) -> int:
    """The index of a scene label in DCASE order; ValueError for an unknown label."""
    try:
        return _INDEX[label]
    except KeyError:
        raise ValueError(f"unknown scene label {label!r}; valid: {', '.join(CLASSES)}") from None


def index_to_label(index: int) -> str:
    """The scene label at an index in DCASE order."""
    return CLASSES[index]
