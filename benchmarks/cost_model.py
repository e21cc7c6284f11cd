"""What the paper profile costs on the real data set: unit costs measured here, projected.

Measures, on the machine it runs on and in one run, the unit cost of every stage of
``params/paper.yml`` on generated clips in the real format (a 10-s 1280x720 29.97-fps H.264
video, a 10-s 48-kHz stereo WAV; no real data needed):

- audio features per clip, each kind (one core);
- decoding a clip to 50 frames of 224x224 (one core), writing and reading the decoded-frame
  cache;
- VGG16 inference in frames per second;
- one training step of every step kind at its batch size, on tensors in memory and through
  the study's input pipeline (the pipeline alone too: does it keep up with the network?);
- one validation pass over a clip's 10 segments, per step kind.

It then multiplies them by the real set's counts (12,291 clips; 8,646 train, 3,645 evaluate)
and each step's epochs, from the earliest early stop (patience + 1 epochs) to the cap, and
prints the projected wall time per stage and in total for ``--cores`` CPU cores and
``--machines`` machines (the feature and frame caches shard over machines; training does
not), beside what bounds each stage. Steps that train VGG16 are timed at a batch of 1 clip on
a CPU (a batch of 16 would take minutes) and scaled linearly to their batch size.

Usage::

    .venv/bin/python benchmarks/cost_model.py [--cores N] [--machines N] [--precision mixed_bfloat16] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench_frames import best_time, write_gopro_like_clip  # benchmarks/, beside this script
from machine import cpu_name

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TRAIN_CLIPS, EVALUATE_CLIPS = 8_646, 3_645
ALL_CLIPS = TRAIN_CLIPS + EVALUATE_CLIPS
KINDS = ("gammatone", "logmel")


def hours(seconds: float) -> str:
    """Seconds as ``H:MM`` (or days when long)."""
    if seconds >= 48 * 3600:
        return f"{seconds / 86400:.1f} d"
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d} h"


# --- unit costs --------------------------------------------------------------------------------


def media_costs(params: dict, folder: Path, repeats: int) -> dict[str, float]:
    """Seconds per clip on one core: audio features of each kind, decoding, frame cache I/O."""
    import soundfile as sf

    from avsc_lib.features import audio, frame_cache

    wav = folder / "clip.wav"
    sf.write(wav, np.random.default_rng(0).uniform(-0.3, 0.3, (480_000, 2)), 48_000, subtype="PCM_24")
    video = write_gopro_like_clip(folder / "clip.mp4")
    costs = {f"features_{kind}": best_time(lambda k=kind: audio.clip_features(wav, params.audio_features, k), repeats)
             for kind in KINDS}
    frames = frame_cache.decode_clip(video, params, threads=1)[0]
    costs["decode"] = best_time(lambda: frame_cache.decode_clip(video, params, threads=1), repeats)
    entry = folder / "cache" / "clip.npz"
    costs["cache_write"] = best_time(lambda: frame_cache.write_clip(
        entry, frames, params["frame_cache_quality"], params["frame_cache_max_bytes"]), repeats)
    costs["cache_read"] = best_time(lambda: np.asarray(frame_cache.load_frames(entry.parent, "clip")), repeats)
    costs["cache_window"] = best_time(lambda: frame_cache.load_frames(entry.parent, "clip")[20:25], repeats)
    return costs


def vgg16_frames_per_second(params: dict, batch: int, repeats: int) -> float:
    """Frames per second of the frozen VGG16 frame encoder (inference)."""
    from avsc_lib.models.backbone import build_frame_encoder

    encoder, _ = build_frame_encoder(params["frame_size"], "none", frame_pooling=params["frame_pooling"])
    x = np.random.default_rng(0).integers(0, 256, (batch, params["frame_size"], params["frame_size"], 3)).astype(np.float32)
    return batch / best_time(lambda: encoder.predict_on_batch(x), repeats)


def toy_data(params: dict, n_clips: int, frames: bool, folder: Path | None = None) -> Any:
    """A split of random inputs in the real shapes: cached features, or with ``frames`` clips
    of the decoded-frame cache written into ``folder`` and read lazily, as training reads them."""
    from avsc_lib.features import frame_cache
    from avsc_lib.training.segments import LazyClips, SplitData

    rng = np.random.default_rng(0)
    size = params["frame_size"]
    names = [f"clip{i}" for i in range(n_clips)]
    audio = [rng.normal(size=(params["n_bands"], 500, 3)).astype(np.float32) for _ in range(n_clips)]
    if not frames:
        visual: Any = [rng.normal(size=(50, 512)).astype(np.float32) for _ in range(n_clips)]
    else:
        for name in names:  # blocky texture: compresses like camera footage, unlike pixel noise
            blocks = rng.integers(0, 256, (50, size // 8, size // 8, 3), dtype=np.uint8)
            frame_cache.write_clip(folder / f"{name}.npz", np.kron(blocks, np.ones((1, 8, 8, 1), np.uint8)),
                                   params["frame_cache_quality"], params["frame_cache_max_bytes"])
        visual = LazyClips(lambda name: frame_cache.load_frames(folder, name), names)
    return SplitData(names, np.arange(n_clips) % 10, audio, visual)


def step_costs(params: dict, step: str, repeats: int, scaled_batch: int | None, folder: Path) -> dict[str, float]:
    """One training step of ``step`` (seconds, in memory and through the pipeline), the pipeline
    alone (seconds per batch) and the validation of one clip (10 segments)."""
    import keras

    from avsc_lib.training import networks as training
    from avsc_lib.training.fitting import compile_model, precision_policy
    from avsc_lib.training.graph import FRAME_STEPS, step_settings
    from avsc_lib.training.pipelines import WindowSampler, segment_dataset
    from avsc_lib.training.segments import SplitData, segment_geometry

    settings = step_settings(params, step)
    batch = scaled_batch or settings["batch_size"]
    frames = step in FRAME_STEPS
    with precision_policy(params["precision"]):
        if step == "audio":
            model, inputs = training.build_audio_model(params), ("audio",)
        elif step == "visual":
            model, inputs = training.build_visual_model(params), ("visual",)
        elif step == "visual_unfrozen":
            model = training.build_visual_frames_model(params, training.untrained_encoder(params))
            model.get_layer("frame_features").layer.get_layer("vgg16").trainable = True
            inputs = ("visual",)
        else:
            encoder = training.untrained_encoder(params) if frames else None
            model = training.build_fusion_model(params, encoder=encoder)
            if step == "finetune":
                from avsc_lib.models import fusion

                fusion.set_subnetworks_trainable(model, True, include_backbone=True)
            inputs = ("audio", "visual")
    outputs = ("audio", "visual", "early", "late") if len(inputs) > 1 else None
    loss = tuple(params[f"{step}_loss_outputs"]) if outputs else None
    compile_model(model, settings["learning_rate"], loss, params["jit_compile"])
    geometry = segment_geometry(params)
    data = toy_data(params, max(settings["batch_size"], 2), frames, folder / step)
    sampler = WindowSampler(data, inputs, batch, geometry, 0, settings["mixup_alpha"], outputs, params["crop_range"])
    full = WindowSampler(data, inputs, settings["batch_size"], geometry, 0, settings["mixup_alpha"], outputs,
                         params["crop_range"])
    pipeline = best_time(lambda: next(iter(full.epoch_batches(0))), repeats)  # a whole batch, read and cut
    x, y = next(iter(sampler.epoch_batches(0)))
    in_memory = best_time(lambda: model.train_on_batch(x, y), repeats)
    dataset = sampler.dataset().repeat()
    iterator = iter(dataset)
    through = best_time(lambda: model.train_on_batch(*next(iterator)), repeats)
    one = SplitData(data.names[:1], data.labels[:1], data.audio[:1], [data.visual[0]])
    validation = segment_dataset(one, inputs, 64, geometry, outputs=outputs)
    validate = best_time(lambda: model.predict(validation, verbose=0), repeats)
    keras.backend.clear_session()
    factor = settings["batch_size"] / batch
    return {"step": in_memory * factor, "step_pipeline": through * factor, "pipeline": pipeline,
            "validate_clip": validate, "measured_batch": batch}


# --- projection ----------------------------------------------------------------------------------


def project(params: dict, media: dict, vgg_fps: float, steps: dict, cores: int, machines: int) -> list[tuple]:
    """Rows (stage, wall seconds at the earliest stop, at the cap, bound) for the whole profile."""
    workers = cores * machines
    rows = []
    for kind in params["compare_feature_kinds"]:
        rows.append((f"audio features ({kind})", ALL_CLIPS * media[f"features_{kind}"] / workers, None,
                     f"CPU: {media[f'features_{kind}'] * 1e3:.0f} ms a clip a core"))
    decode = ALL_CLIPS * media["decode"] / workers
    network = ALL_CLIPS * 50 / vgg_fps / machines
    rows.append(("frame features (decode + VGG16)", max(decode, network), None,
                 "decoding" if decode > network else "VGG16"))
    rows.append(("decoded-frame cache", ALL_CLIPS * (media["decode"] + media["cache_write"]) / workers, None,
                 "decoding, CPU"))
    kinds = params["compare_feature_kinds"]
    for step, count in (("audio", len(kinds)), ("visual", 1), ("visual_unfrozen", int(params["visual_unfreeze"])),
                        ("fusion", len(kinds)), ("finetune", len(kinds) * int(params["finetune"]))):
        if not count:
            continue
        cost = steps[step]
        batches = math.ceil(TRAIN_CLIPS / params[f"{step}_batch_size"])
        per_epoch = batches * max(cost["step"], cost["pipeline"]) + EVALUATE_CLIPS * cost["validate_clip"]
        if step in ("visual_unfrozen", "finetune"):  # frames read from the cache, one core per reader
            reading = (TRAIN_CLIPS * media["cache_window"] + EVALUATE_CLIPS * media["cache_read"]) / cores
            per_epoch = max(per_epoch, reading)
        earliest = params[f"{step}_early_stop_patience"] + 1
        cap = params[f"{step}_epochs"]
        bound = "input pipeline" if cost["pipeline"] > cost["step"] else "network"
        label = f"train {step}" + (f" (x{count} kinds)" if count > 1 else "")
        rows.append((label, count * earliest * per_epoch, count * cap * per_epoch,
                     f"{bound}; {earliest}-{cap} epochs of {hours(per_epoch)}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="CPU cores of one machine")
    parser.add_argument("--machines", type=int, default=1, help="machines sharing the caches (Slurm array)")
    parser.add_argument("--precision", default=None, help="float32 | mixed_float16 | mixed_bfloat16")
    parser.add_argument("--jit-compile", action="store_true", help="XLA-compile the training steps")
    parser.add_argument("--quick", action="store_true", help="one repeat of each measurement")
    args = parser.parse_args()
    import keras

    from avsc_lib.core.params import load_params

    overrides = {"jit_compile": args.jit_compile, **({"precision": args.precision} if args.precision else {})}
    params = load_params(REPO / "params" / "paper.yml", overrides)
    repeats = 1 if args.quick else 3
    gpu = _accelerator()
    print(f"# cost model of params/paper.yml on {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores, "
          f"{gpu or 'no GPU'}; Keras {keras.__version__} ({keras.backend.backend()}), precision "
          f"{params['precision']}, jit_compile {params['jit_compile']}")
    on_cpu = gpu is None
    with tempfile.TemporaryDirectory(prefix="avsc-cost-") as tmp:
        media = media_costs(params, Path(tmp), repeats)
        vgg_fps = vgg16_frames_per_second(params, 32 if gpu else 8, repeats)
        steps = {step: step_costs(params, step, repeats,
                                  1 if on_cpu and step in ("visual_unfrozen", "finetune") else None, Path(tmp))
                 for step in ("audio", "visual", "visual_unfrozen", "fusion", "finetune")}
    print("\nunit costs (one core for the media, the whole machine for the networks)")
    for name, seconds in media.items():
        print(f"  {name:<24} {seconds * 1e3:10.1f} ms per clip")
    print(f"  {'VGG16 inference':<24} {vgg_fps:10.1f} frames/s at {params['frame_size']}x{params['frame_size']}")
    print(f"  {'step':<16} {'batch':>5} {'in memory':>11} {'pipeline':>11} {'via pipeline':>13} "
          f"{'pipeline/step':>13} {'validate a clip':>15}")
    for step, cost in steps.items():
        scaled = f" (timed at {cost['measured_batch']}, scaled)" if cost["measured_batch"] != params[f"{step}_batch_size"] else ""
        print(f"  {step:<16} {params[f'{step}_batch_size']:>5} {cost['step'] * 1e3:>9.1f}ms "
              f"{cost['pipeline'] * 1e3:>9.1f}ms {cost['step_pipeline'] * 1e3:>11.1f}ms "
              f"{cost['pipeline'] / cost['step']:>12.2f}x {cost['validate_clip'] * 1e3:>13.1f}ms{scaled}")
    for step in ("visual_unfrozen", "finetune"):
        batch = params[f"{step}_batch_size"]
        print(f"  {step}: the input pipeline reads and cuts {batch * 5 / steps[step]['pipeline']:,.0f} frames/s "
              f"from the decoded-frame cache, the network trains {batch * 5 / steps[step]['step']:,.1f} frames/s")
    rows = project(params, media, vgg_fps, steps, args.cores, args.machines)
    print(f"\nprojection for the development set: {ALL_CLIPS:,} clips, {args.cores} cores x {args.machines} machine(s)")
    print(f"  {'stage':<38} {'earliest stop':>13} {'epoch cap':>10}  bound")
    low = high = 0.0
    for stage, first, cap, bound in rows:
        low, high = low + first, high + (cap if cap is not None else first)
        print(f"  {stage:<38} {hours(first):>13} {hours(cap) if cap is not None else '':>10}  {bound}")
    print(f"  {'total':<38} {hours(low):>13} {hours(high):>10}")


def _accelerator() -> str | None:
    """The GPU the Keras backend computes on, or None."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return None if device.platform == "cpu" else str(device)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else None


if __name__ == "__main__":
    main()
