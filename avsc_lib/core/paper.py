"""The paper's published numbers, in one place (Naranjo-Alcazar et al., DCASE 2021)."""

from __future__ import annotations

PAPER_TITLE = (
    "Squeeze-excitation convolutional recurrent neural networks for audio-visual scene classification"
)
PAPER_AUTHORS = "Naranjo-Alcazar, Perez-Castanos, Lopez-Garcia, Zuccarello, Cobos, Ferri"
PAPER_VENUE = "DCASE 2021 Workshop"

# Table 1 (fold-1 evaluate split, 1-s segments) and Table 2 (challenge evaluation set), accuracy in %.
# Keys: (feature kind, data set) -> {output: accuracy}; None where the paper gives no value.
ACCURACY: dict[tuple[str, str], dict[str, float | None]] = {
    ("logmel", "development"): {"audio": 68.4, "visual": 87.0, "early": 88.5, "late": 88.7},
    ("gammatone", "development"): {"audio": 69.0, "visual": 87.0, "early": 89.2, "late": 90.0},
    ("gammatone", "evaluation"): {"audio": 66.8, "visual": 83.2, "early": None, "late": 86.5},
}

# Section 2.6 and the authors' code: parameters per network (audio-visual with both subnetworks frozen).
PARAMETERS: dict[str, dict[str, int]] = {
    "audio": {"total": 323_274, "trainable": 321_930, "non_trainable": 1_344},
    "visual": {"total": 14_820_170, "trainable": 105_482, "non_trainable": 14_714_688},
    "audiovisual": {"total": 15_416_148, "trainable": 272_704, "non_trainable": 15_143_444},
}

# Reference systems on the same task: (accuracy %, log loss).
REFERENCE_SYSTEMS: dict[str, dict[str, float]] = {
    "DCASE 2021 Task 1B baseline, development": {"accuracy": 77.0, "log_loss": 0.658},
    "DCASE 2021 Task 1B baseline, evaluation": {"accuracy": 77.1, "log_loss": 0.662},
    "Best challenge system, evaluation": {"accuracy": 93.8, "log_loss": 0.195},
}

OUTPUTS: tuple[str, ...] = ("audio", "visual", "early", "late")

# The development set as published (DCASE 2021 Task 1B); the book's data and reproduction chapters.
TAU_DEVELOPMENT: dict[str, float | int] = {
    "clips": 12_291,
    "hours": 34,
    "cities": 10,
    "fold1_train_clips": 8_646,
    "fold1_evaluate_clips": 3_645,
    "zip_gb": 107.7,
    "audio_zip_gb": 30.4,
    "video_zip_gb": 77.2,
}
