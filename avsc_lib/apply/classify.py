"""Classify any recording with a trained system: ``avsc classify PATH... --model MODEL``.

``MODEL`` is an export (``avsc export``), a run folder of the audio-visual network, or the
folder of an ``avsc run``. The sound comes from the file itself, or, for a video of a data set
in the TAU layout (``video/<name>.mp4`` beside ``audio/<name>.wav``), from that WAV file. A file
is read a block of ``clip_seconds`` (10 s, the length of a
training clip) at a time: the block's sound becomes features as a TAU clip's do (the
gammatone or log-mel of each block on its own, as every training clip was), its frames are
taken at 5 fps, and every whole second gets the four outputs (audio, visual, early and late
fusion). A file without pictures gets the audio output only, one without sound the visual
output only. A file's label is the class of highest mean probability over its seconds, from
late fusion where there is both sound and pictures.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import warnings
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.paper import OUTPUTS

MAIN_OUTPUTS = ("late", "audio", "visual")  # the output a file's label comes from, the first present


@dataclass
class Classification:
    """The outputs of a trained system for every whole second of one file.

    Attributes:
        path: the file.
        probs: output name -> (seconds, classes) probabilities.
        notes: what is worth knowing (a missing stream, a converted sound track).
    """

    path: Path
    probs: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> int:
        return len(next(iter(self.probs.values())))

    @property
    def main_output(self) -> str:
        return next(o for o in MAIN_OUTPUTS if o in self.probs)

    def mean(self, output: str) -> np.ndarray:
        """The file's probabilities of one output: the mean over its seconds."""
        return self.probs[output].mean(axis=0)

    @property
    def label(self) -> str:
        return CLASSES[int(np.argmax(self.mean(self.main_output)))]

    def top(self, output: str, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes of one output, over the whole file."""
        mean = self.mean(output)
        return [(CLASSES[i], float(mean[i])) for i in np.argsort(mean)[::-1][:k]]

    def summary(self) -> str:
        """Lines for the terminal: the label, then the top 3 classes of every output."""
        lines = [f"{self.path}: {self.label} ({self.seconds} s, {self.main_output} output)"]
        lines += [f"  {output:<7} " + ", ".join(f"{name} {p:.2f}" for name, p in self.top(output))
                  for output in OUTPUTS if output in self.probs]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def tau_audio(video: Path) -> Path | None:
    """The WAV of a video in the TAU layout (``<root>/video/<name>.mp4`` -> ``<root>/audio/<name>.wav``)."""
    if video.parent.name != "video":
        return None
    wav = video.parent.parent / "audio" / f"{video.stem}.wav"
    return wav if wav.is_file() else None


class Classifier:
    """A trained system ready to classify files.

    Args:
        network: the audio-visual network on frames (inputs ``audio`` and ``visual``).
        settings: its feature settings (``export.SETTING_KEYS``).
        source: where it came from, for messages.
    """

    def __init__(self, network: Any, settings: Mapping[str, Any], source: str = ""):
        import keras

        from avsc_lib.core.params import defaults

        self.network, self.source = network, source
        self.params = {**defaults(), **{k: v for k, v in settings.items() if k in defaults()}}
        self.audio_net = network.get_layer("audio_subnetwork")
        frames = keras.Input(tuple(network.input["visual"].shape[1:]), name="frames")
        head = network.get_layer("visual_head")
        self.visual_net = keras.Model(frames, head(network.get_layer("frame_features")(frames)))

    @classmethod
    def load(cls, model: str | Path) -> "Classifier":
        """From an export folder, a run folder of the audio-visual network or an ``avsc run`` folder."""
        from avsc_lib.apply import export
        path = Path(model).expanduser().resolve()
        if export.is_export(path):
            import keras

            settings = json.loads((path / export.SETTINGS_FILE).read_text())
            return cls(keras.saving.load_model(path / export.MODEL_FILE), settings, str(path))
        network, params, _ = export.network_on_frames(export.resolve_run(path))
        return cls(network, params, str(path))

    # --- one block of a file ------------------------------------------------------------------

    def _audio_segments(self, block: np.ndarray) -> np.ndarray:
        """A block of stereo sound -> its whole seconds as network inputs (n, bands, 50, 3)."""
        from avsc_lib.features.audio import signal_features
        from avsc_lib.training.segments import minmax_scale

        width = int(round(self.params["segment_seconds"] / self.params["hop_s"]))
        features, _ = signal_features(block, self.params)
        n = features.shape[1] // width
        return np.stack([minmax_scale(features[:, i * width:(i + 1) * width]) for i in range(n)]) if n else \
            np.zeros((0, features.shape[0], width, 3), np.float32)

    def _frame_segments(self, frames: list[np.ndarray]) -> np.ndarray:
        """A block's frames -> its whole seconds (n, 5, size, size, 3), float32."""
        per = int(round(self.params["segment_seconds"] * self.params["fps"]))
        n = len(frames) // per
        stacked = np.asarray(frames[: n * per], np.float32)
        return stacked.reshape(n, per, *stacked.shape[1:]) if n else np.zeros((0, per, 1, 1, 3), np.float32)

    def _predict(self, audio: np.ndarray | None, visual: np.ndarray | None) -> dict[str, np.ndarray]:
        if audio is not None and visual is not None:
            n = min(len(audio), len(visual))
            predicted = self.network.predict({"audio": audio[:n], "visual": visual[:n]}, verbose=0, batch_size=16)
            return {o: np.asarray(predicted[o]) for o in OUTPUTS}
        if audio is not None:
            return {"audio": np.asarray(self.audio_net.predict(audio, verbose=0, batch_size=32)[1])}
        return {"visual": np.asarray(self.visual_net.predict(visual, verbose=0, batch_size=16))}

    # --- a whole file -------------------------------------------------------------------------

    def _blocks(self, path: Path, sound_path: Path | None, video: bool) -> Iterator[tuple[np.ndarray | None, list | None]]:
        from avsc_lib.features.media import audio_blocks
        from avsc_lib.features.video import iter_frames

        block_s = self.params["clip_seconds"] or 10.0
        sounds = audio_blocks(sound_path, self.params["sample_rate"], block_s) if sound_path else None
        pictures = iter_frames(path, self.params["fps"], self.params["frame_size"], self.params["frame_resize"]) \
            if video else None
        per_block = int(round(block_s * self.params["fps"]))
        while True:
            sound = next(sounds, None) if sounds is not None else None
            frames = list(islice(pictures, per_block)) if pictures is not None else None
            if (sounds is not None and sound is None) or (pictures is not None and not frames):
                return  # a stream ended: the seconds that have every stream are done
            yield sound, frames

    def classify(self, path: str | Path) -> Classification:
        """Every whole second of a file through the network (see the module doc).

        Raises:
            AvscError: the file is not media, has an unreadable stream, or is shorter than one
                second; the message names it.
        """
        from avsc_lib.features.audio import AudioNote
        from avsc_lib.features.media import probe

        info = probe(path)
        path = info.path
        notes = []
        sound_path = path if info.audio else None
        companion = tau_audio(path) if info.video else None
        if companion is not None:
            sound_path = companion
            notes.append(f"sound from {companion}")
        if not info.video:
            notes.append("no video stream: the audio output only")
        if sound_path is None:
            notes.append("no audio stream: the visual output only")
        collected: dict[str, list[np.ndarray]] = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AudioNote)
            for sound, frames in self._blocks(path, sound_path, info.video):
                audio = self._audio_segments(sound) if sound is not None else None
                visual = self._frame_segments(frames) if frames is not None else None
                if (audio is not None and not len(audio)) or (visual is not None and not len(visual)):
                    continue  # a last block shorter than a second
                for output, probs in self._predict(audio, visual).items():
                    collected.setdefault(output, []).append(probs)
        notes += [str(w.message).replace(f"{path}: ", "") for w in caught if issubclass(w.category, AudioNote)]
        if not collected:
            length = f"{info.duration:.2f} s long, " if info.duration is not None else ""
            raise AvscError(f"{path}: {length}shorter than one {self.params['segment_seconds']:g}-s segment")
        return Classification(path, {o: np.concatenate(p) for o, p in collected.items()}, notes)


# --- outputs --------------------------------------------------------------------------------------


def write_csv(path: str | Path, results: Sequence[Classification]) -> Path:
    """Per-second probabilities of every output, one row per file, second and output (atomic)."""
    from avsc_lib.core.atomic import write_text

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", "second", "output", "label", *CLASSES])
    for result in results:
        for output in OUTPUTS:
            for second, probs in enumerate(result.probs.get(output, [])):
                writer.writerow([str(result.path), second, output, CLASSES[int(np.argmax(probs))],
                                 *(f"{p:.6g}" for p in probs)])
    write_text(path, text.getvalue())
    return Path(path)


def plot_paths(plot: str | Path, results: Sequence[Classification]) -> list[Path]:
    """Where each file's timeline goes: ``plot`` itself for one file, ``<plot stem>-<file stem>.png`` for several."""
    plot = Path(plot)
    if len(results) == 1:
        return [plot]
    return [plot.with_name(f"{plot.stem}-{result.path.stem}{plot.suffix or '.png'}") for result in results]


def cli_classify(args: argparse.Namespace) -> int:
    """``avsc classify PATH... --model MODEL [--out CSV] [--plot PNG]``: 0 only if every file was classified."""
    classifier = Classifier.load(args.model)
    results, failed = [], 0
    for path in args.paths:
        try:
            result = classifier.classify(path)
        except AvscError as err:
            print(f"avsc classify: {err}", file=sys.stderr)
            failed += 1
            continue
        results.append(result)
        print(result.summary(), flush=True)
    if args.out and results:
        print(f"per-second probabilities: {write_csv(args.out, results)}")
    if args.plot and results:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from avsc_lib.evaluation.plots import timeline

        for result, target in zip(results, plot_paths(args.plot, results)):
            fig = timeline(result.probs[result.main_output], title=f"{result.path.name}: {result.main_output} output")
            fig.savefig(target, dpi=120, bbox_inches="tight")
            plt.close(fig)
            print(f"timeline: {target}")
    if failed:
        print(f"avsc classify: {failed} of {len(args.paths)} file(s) could not be classified", file=sys.stderr)
    return 1 if failed else 0
