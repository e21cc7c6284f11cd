"""The paper's networks on any Keras backend: parameter counts and throughput side by side.

The models use ``keras.layers`` and ``keras.ops`` only, so they run unchanged on TensorFlow,
JAX or PyTorch. This script builds them on the backend named by ``KERAS_BACKEND``, checks the
parameter counts against the paper's and times, in one run, the frozen VGG16 frame encoder
(frames per second), a training step of the audio subnetwork, and inference and a training step
of the audio-visual network.

Usage::

    KERAS_BACKEND=jax python benchmarks/bench_backends.py --frame-size 224 --frame-batch 64
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import keras
import numpy as np

from avsc_lib.core.paper import PARAMETERS
from avsc_lib.models.fusion import build_audiovisual_network
from avsc_lib.models.summary import build_paper_networks, count_parameters


def device_name() -> str:
    """The accelerator (or CPU) the current backend computes on."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices()[0])
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else "cpu"


def seconds_per_call(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` after two warm-up calls (compilation excluded)."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        np.asarray(result if not isinstance(result, dict) else next(iter(result.values())))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    """Print counts and timings for the current backend as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frame-size", type=int, default=224)
    parser.add_argument("--frame-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    nets = build_paper_networks(args.frame_size)
    counts = {"audio": count_parameters(nets["audio"]), "visual": count_parameters(nets["visual"])}
    av_frames = build_audiovisual_network(nets["audio"], nets["head"], nets["encoder"])
    av_features = build_audiovisual_network(nets["audio"], nets["head"])
    counts["audiovisual"] = count_parameters(av_frames)
    report: dict[str, object] = {
        "backend": keras.backend.backend(),
        "device": device_name(),
        "counts_match_paper": {k: counts[k] == PARAMETERS[k] for k in counts},
        "counts": counts,
    }

    size = args.frame_size
    frames = rng.integers(0, 256, (args.frame_batch, size, size, 3)).astype("float32")
    t = seconds_per_call(lambda: nets["encoder"].predict_on_batch(frames), args.repeats)
    report["vgg16_frames_per_s"] = round(args.frame_batch / t, 1)

    audio_model = nets["audio"]
    audio_model.trainable = True
    audio_model.compile(optimizer="adam", loss="categorical_crossentropy")
    audio_x = rng.uniform(-1, 1, (32, 64, 50, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 10, 32), 10)
    t = seconds_per_call(lambda: audio_model.train_on_batch(audio_x, labels), args.repeats)
    report["audio_train_step_batch32_ms"] = round(1000 * t, 2)

    av_batch = 16
    av_inputs = {
        "audio": audio_x[:av_batch],
        "visual": rng.integers(0, 256, (av_batch, 5, size, size, 3)).astype("float32"),
    }
    t = seconds_per_call(lambda: av_frames.predict_on_batch(av_inputs), args.repeats)
    report["audiovisual_frames_inference_batch16_ms"] = round(1000 * t, 2)

    av_features.compile(optimizer="adam", loss={"early": "categorical_crossentropy",
                                                "late": "categorical_crossentropy"})
    feature_inputs = {"audio": audio_x[:av_batch],
                      "visual": rng.uniform(0, 10, (av_batch, 5, 512)).astype("float32")}
    targets = {"early": labels[:av_batch], "late": labels[:av_batch]}
    t = seconds_per_call(lambda: av_features.train_on_batch(feature_inputs, targets), args.repeats)
    report["audiovisual_features_train_step_batch16_ms"] = round(1000 * t, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
