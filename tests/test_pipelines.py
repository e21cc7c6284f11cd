"""Input pipelines: window alignment, segments, min-max scaling, mixup, tf.data structure."""

from __future__ import annotations

import numpy as np
import pytest

from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import load_params
from avsc_lib.training.pipelines import WindowSampler, mix_pairs, one_hot, segment_dataset
from avsc_lib.training.segments import (
    LazyClips, SegmentGeometry, SplitData, check_lengths, clip_segments, minmax_scale, segment_geometry, window,
    window_starts,
)

GEOMETRY = SegmentGeometry(audio_frames=50, video_frames=5, clip_segments=10)
ANCHOR = 1000.0


def encoded_split(n_clips: int = 7, n_audio: int = 500, n_video: int = 50) -> SplitData:
    """Clips whose values tell where they come from.

    Audio band 0 holds the frame index, band 1 is 0 and band 2 is ANCHOR everywhere, so after
    min-max scaling frame f reads (v + 1) * ANCHOR / 2. Visual feature 0 holds the video frame
    index and feature 1 the clip index.
    """
    audio, visual = [], []
    for clip in range(n_clips):
        a = np.zeros((3, n_audio, 2), np.float32)
        a[0] = np.arange(n_audio, dtype=np.float32)[:, None]
        a[2] = ANCHOR
        v = np.zeros((n_video, 4), np.float32)
        v[:, 0] = np.arange(n_video)
        v[:, 1] = clip
        audio.append(a)
        visual.append(v)
    labels = np.arange(n_clips) % 10
    return SplitData([f"clip{i}" for i in range(n_clips)], labels, audio, visual)


def audio_frames_of(scaled: np.ndarray) -> np.ndarray:
    """The original frame indices of a scaled audio window (band 0, channel 0)."""
    return np.rint((scaled[0, :, 0] + 1.0) * ANCHOR / 2.0).astype(int)


def test_segment_geometry_from_params():
    params = load_params()
    assert segment_geometry(params) == GEOMETRY
    assert GEOMETRY.frames_per_video_frame == 10
    with pytest.raises(AvscError, match="whole multiple"):
        segment_geometry({**params, "fps": 3})


def test_minmax_scale_is_joint_over_all_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 50, 3)).astype(np.float32)
    x[..., 2] += 10.0  # one channel far above the others: joint scaling keeps the offset
    y = minmax_scale(x)
    assert y.dtype == np.float32
    assert y.min() == pytest.approx(-1.0) and y.max() == pytest.approx(1.0)
    assert y[..., :2].max() < y[..., 2].min()
    np.testing.assert_allclose(y, 2 * (x - x.min()) / (x.max() - x.min()) - 1, atol=1e-6)
    assert not minmax_scale(np.full((2, 3), 5.0)).any()


@pytest.mark.parametrize("crop_range, last_start", [("authors", 440), ("clip", 450)])
def test_training_windows_align_audio_and_video_seconds(crop_range, last_start):
    # train_audiovisual.ipynb cell 20: a random video start k, audio frames 10 k .. 10 k + 49
    data = encoded_split()
    sampler = WindowSampler(data, ("audio", "visual"), batch_size=3, geometry=GEOMETRY, seed=1,
                            crop_range=crop_range)
    starts = set()
    for epoch in range(60):
        seen = []
        for x, y in sampler.epoch_batches(epoch):
            for a, v, label in zip(x["audio"], x["visual"], y):
                frames = audio_frames_of(a)
                start = frames[0]
                np.testing.assert_array_equal(frames, np.arange(start, start + 50))
                assert start % 10 == 0
                video = v[:, 0].astype(int)
                np.testing.assert_array_equal(video, np.arange(start // 10, start // 10 + 5))
                clip = int(v[0, 1])
                assert label.argmax() == data.labels[clip] and label.sum() == 1.0
                seen.append(clip)
                starts.add(int(start))
        assert sorted(seen) == list(range(len(data)))  # every clip once per epoch
    assert starts == set(range(0, last_start + 1, 10))  # the code never starts in the last second


def test_audio_windows_start_in_the_first_frames_as_the_authors_code():
    # train_audio.ipynb cell 18: the crop range comes from the band axis (64 - 50 = 14 starts)
    rng = np.random.default_rng(0)
    audio = [rng.normal(size=(64, 500, 3)).astype(np.float32) for _ in range(10)]
    for clip, a in enumerate(audio):
        a[0, :, 0] = np.arange(500)  # frame index, read back through the scaling below
        a[1, :, 0] = -1000.0
        a[2, :, 0] = 1000.0
    data = SplitData([f"clip{i}" for i in range(10)], np.arange(10), audio)

    def first_frames(crop_range: str) -> set[int]:
        sampler = WindowSampler(data, ("audio",), 10, GEOMETRY, seed=0, crop_range=crop_range)
        found = set()
        for epoch in range(30):
            for x, _ in sampler.epoch_batches(epoch):
                found.update(np.rint((x[:, 0, 0, 0] + 1) * 1000 - 1000).astype(int).tolist())
        return found

    assert first_frames("authors") == set(range(14))
    clip_starts = first_frames("clip")
    assert max(clip_starts) > 300 and clip_starts <= set(range(451))
    assert window_starts({"audio": audio[0]}, GEOMETRY, "authors") == 14
    assert window_starts({"audio": audio[0]}, GEOMETRY, "clip") == 451
    with pytest.raises(AvscError, match="crop range 'anywhere'"):
        WindowSampler(data, ("audio",), 10, GEOMETRY, crop_range="anywhere")


def test_window_at_a_given_start():
    data = encoded_split(n_clips=2)
    x = window(data, 1, ("audio", "visual"), GEOMETRY, audio_start=137)
    np.testing.assert_array_equal(audio_frames_of(x["audio"]), np.arange(137, 187))  # 2.74 s to 3.74 s
    np.testing.assert_array_equal(x["visual"][:, 0], [13, 14, 15, 16, 17])  # frames at 2.6 s to 3.4 s
    last = window(data, 1, ("audio", "visual"), GEOMETRY, audio_start=450)
    np.testing.assert_array_equal(last["visual"][:, 0], [45, 46, 47, 48, 49])
    only_video = window(data, 0, ("visual",), GEOMETRY, audio_start=None, visual_start=7)
    np.testing.assert_array_equal(only_video["visual"][:, 0], np.arange(7, 12))


def test_windows_change_per_epoch_and_repeat_per_seed():
    data = encoded_split(n_clips=12)

    def starts(seed: int, epoch: int) -> list[int]:
        sampler = WindowSampler(data, ("audio",), batch_size=4, geometry=GEOMETRY, seed=seed, crop_range="clip")
        return [int(audio_frames_of(a)[0]) for x, _ in sampler.epoch_batches(epoch) for a in x]

    assert starts(0, 0) == starts(0, 0)
    assert starts(0, 0) != starts(0, 1)
    assert starts(0, 0) != starts(1, 0)


@pytest.mark.parametrize("crop_range, starts", [("authors", 45), ("clip", 46)])
def test_visual_only_windows_cover_every_start(crop_range, starts):
    # train_video.ipynb cell 11: tf.random.uniform(maxval=50 - 5) never draws the last start
    data = encoded_split(n_clips=10)
    sampler = WindowSampler(data, ("visual",), batch_size=10, geometry=GEOMETRY, seed=0, crop_range=crop_range)
    firsts = set()
    for epoch in range(40):
        for x, _ in sampler.epoch_batches(epoch):
            assert x.shape == (10, 5, 4)
            np.testing.assert_array_equal(x[:, :, 0] - x[:, :1, 0], np.tile(np.arange(5), (10, 1)))
            firsts.update(x[:, 0, 0].astype(int).tolist())
    assert firsts == set(range(starts))


def test_segments_are_consecutive_seconds_ten_per_clip():
    data = encoded_split(n_clips=3)
    ds = segment_dataset(data, ("audio", "visual"), batch_size=4, geometry=GEOMETRY)
    xs, ys = [], []
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    audio = np.concatenate([x["audio"] for x in xs])
    visual = np.concatenate([x["visual"] for x in xs])
    labels = np.concatenate(ys)
    assert len(audio) == len(visual) == len(labels) == 3 * 10
    assert ds.cardinality().numpy() == len(xs) == 8
    for k in range(30):
        clip, second = divmod(k, 10)
        np.testing.assert_array_equal(audio_frames_of(audio[k]), np.arange(50 * second, 50 * second + 50))
        np.testing.assert_array_equal(visual[k, :, 0], np.arange(5 * second, 5 * second + 5))
        assert visual[k, 0, 1] == clip
        assert labels[k].argmax() == data.labels[clip]


def test_segment_dataset_without_labels_and_with_output_dict():
    data = encoded_split(n_clips=2)
    (x,) = next(segment_dataset(data, ("audio",), 20, GEOMETRY, labels=False).as_numpy_iterator())
    assert x.shape == (20, 3, 50, 2)
    x, y = next(segment_dataset(data, ("audio", "visual"), 5, GEOMETRY, outputs=("early", "late")).as_numpy_iterator())
    assert set(x) == {"audio", "visual"} and set(y) == {"early", "late"}
    np.testing.assert_array_equal(y["early"], y["late"])
    unlabelled = SplitData(data.names, None, data.audio, data.visual)
    with pytest.raises(AvscError, match="no labels"):
        segment_dataset(unlabelled, ("audio",), 5, GEOMETRY)


def test_short_clip_is_reported_by_name():
    data = encoded_split(n_clips=1, n_audio=420)
    with pytest.raises(AvscError, match="clip0: audio has 420 frames"):
        clip_segments(data, 0, ("audio",), GEOMETRY)
    with pytest.raises(AvscError, match="clip0: audio has 420 frames"):
        check_lengths(data, GEOMETRY)
    check_lengths(encoded_split(n_clips=2), GEOMETRY)


def test_mix_pairs_mixes_inputs_and_labels_with_one_weight_per_example():
    rng = np.random.default_rng(0)
    y, y2 = one_hot(rng.integers(0, 10, size=64)), one_hot(rng.integers(0, 10, size=64))
    x = {"audio": y.copy(), "visual": np.repeat(y[:, None, :], 5, axis=1)}
    x2 = {"audio": y2.copy(), "visual": np.repeat(y2[:, None, :], 5, axis=1)}
    lam = rng.beta(0.4, 0.4, size=64)
    mx, my = mix_pairs(x, y, x2, y2, lam)
    np.testing.assert_allclose(my.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(my, lam[:, None] * y + (1 - lam[:, None]) * y2, atol=1e-6)
    np.testing.assert_allclose(mx["audio"], my, atol=1e-6)  # the same weight for x and y
    np.testing.assert_allclose(mx["visual"][:, 3], my, atol=1e-6)


def test_mixup_partners_come_from_a_second_stream(monkeypatch):
    # train_audio.ipynb cell 19: two independently shuffled and cropped streams, zipped
    data = encoded_split(n_clips=40)
    sampler = WindowSampler(data, ("audio", "visual"), 4, GEOMETRY, seed=0, mixup_alpha=0.4)
    calls = []
    batch = sampler._batch
    monkeypatch.setattr(sampler, "_batch", lambda picks, fractions: calls.append(list(picks)) or batch(picks, fractions))
    batches = list(sampler.epoch_batches(0))
    assert len(batches) == 10 and len(calls) == 20
    first, second = calls[0::2], calls[1::2]
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == list(range(40))  # each stream: every clip once
    assert any(set(a) != set(b) for a, b in zip(first, second))  # partners are not the batch's own clips
    for x, y in batches:
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
        assert x["audio"].shape == (4, 3, 50, 2)


def test_sampler_mixup_and_tf_dataset():
    data = encoded_split(n_clips=7)
    sampler = WindowSampler(data, ("audio", "visual"), 4, GEOMETRY, seed=0, mixup_alpha=0.4, outputs=("late",))
    ds = sampler.dataset()
    assert ds.cardinality().numpy() == sampler.steps == 2
    batches = list(ds.as_numpy_iterator())
    assert [len(b[1]["late"]) for b in batches] == [4, 3]
    x, y = batches[0]
    assert x["audio"].shape == (4, 3, 50, 2) and x["visual"].shape == (4, 5, 4)
    np.testing.assert_allclose(y["late"].sum(axis=1), 1.0, rtol=1e-6)
    assert sampler.epoch == 1  # the next iteration draws the next epoch's windows
    with pytest.raises(AvscError, match="labelled"):
        WindowSampler(SplitData(data.names, None, data.audio), ("audio",), 4)
    with pytest.raises(AvscError, match="not loaded"):
        WindowSampler(SplitData(data.names, data.labels, data.audio), ("visual",), 4)


def test_lazy_clips_load_on_demand():
    calls = []

    def load(name: str) -> np.ndarray:
        calls.append(name)
        return np.zeros((2, 2))

    lazy = LazyClips(load, ["a", "b", "c"])
    assert len(lazy) == 3 and calls == []
    assert lazy[1].shape == (2, 2) and calls == ["b"]


def test_lazy_sources_read_each_clip_once_per_pass():
    data = encoded_split(n_clips=5)
    reads = []

    def reader(source):
        def load(name):
            reads.append(name)
            return source[int(name[4:])]
        return load

    lazy = SplitData(data.names, data.labels, LazyClips(reader(data.audio), data.names),
                     LazyClips(reader(data.visual), data.names))
    eager = list(WindowSampler(data, ("audio", "visual"), 2, GEOMETRY, seed=3).epoch_batches(0))
    batches = list(WindowSampler(lazy, ("audio", "visual"), 2, GEOMETRY, seed=3).epoch_batches(0))
    assert len(reads) == 2 * 5  # one read per clip and input in an epoch
    for (x, y), (ex, ey) in zip(batches, eager):
        np.testing.assert_array_equal(x["audio"], ex["audio"])
        np.testing.assert_array_equal(y, ey)
    ds = segment_dataset(lazy, ("audio", "visual"), 7, GEOMETRY)  # reads clip 0 for the shapes
    reads.clear()
    list(ds.as_numpy_iterator())
    assert len(reads) == 2 * 5  # ten segments from one read
