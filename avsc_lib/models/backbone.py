"""The frozen VGG16 convolutional base of the visual subnetwork, its weights and preprocessing.

``weights`` selects the pretrained base:

- ``places365``: the paper's, the Keras conversion of the CSAIL Places365 VGG16
  (``vgg16-places365_weights_tf_dim_ordering_tf_kernels_notop.h5``);
- ``imagenet``: Keras' notop file (``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``), or
  the offline copy ``vgg16_imagenet_notop.h5`` in the same layout;
- ``auto``: the first of places365, imagenet that is on disk, then that can be downloaded,
  else random weights with a loud warning;
- ``none``: random weights (parameter counts, tests);
- any other value: the path of a notop ``.h5`` file.

A named file is looked up, in order, in the ``weights_dir`` argument, in ``$AVSC_WEIGHTS_DIR``
and in Keras' cache (``$KERAS_HOME/models`` or ``~/.keras/models``), then downloaded from its
published address into Keras' cache. Files are identified by checksum where one is known.
What was used is returned as an info dict ``{"weights", "requested", "path", "sha256"}`` for a
run's metadata.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import keras
from keras import layers, ops

from avsc_lib.core.errors import AvscError

logger = logging.getLogger(__name__)

WEIGHTS_DIR_ENV = "AVSC_WEIGHTS_DIR"
WEIGHTS_CHOICES: tuple[str, ...] = ("places365", "imagenet", "auto", "none")
AUTO_ORDER: tuple[str, ...] = ("places365", "imagenet")
AUTO_DOWNLOAD_TIMEOUT_S = 20.0
CAFFE_MEAN_BGR: tuple[float, float, float] = (103.939, 116.779, 123.68)
VGG16_BASE_PARAMETERS = 14_714_688


@dataclass(frozen=True)
class WeightsFile:
    """A published VGG16 notop weights file: where it comes from and how to recognise it."""

    kind: str
    name: str
    url: str | None = None
    md5: str | None = None
    sha256: str | None = None

    @property
    def has_checksum(self) -> bool:
        return bool(self.md5 or self.sha256)


# The Places365 release publishes no checksum; its sha256 is recorded in the info of each run.
KNOWN_WEIGHTS: dict[str, tuple[WeightsFile, ...]] = {
    "places365": (
        WeightsFile(
            "places365",
            "vgg16-places365_weights_tf_dim_ordering_tf_kernels_notop.h5",
            url="https://github.com/GKalliatakis/Keras-VGG16-places365/releases/download/v1.0/"
            "vgg16-places365_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
    ),
    "imagenet": (
        WeightsFile(
            "imagenet",
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            url="https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            md5="6d6bbae143d832006294945121d1f1fc",  # as pinned by keras.applications.vgg16
        ),
        WeightsFile(  # the same weights converted from ONNX (../shared/models, offline copy)
            "imagenet",
            "vgg16_imagenet_notop.h5",
            sha256="5ffcc3e2b95af5308e66dbecb80d746dc9161e354eea851fbeab09a6fe1287d2",
        ),
    ),
}


# --- weights resolution -------------------------------------------------------------------------


def keras_cache_dir() -> Path:
    """Keras' cache of downloaded model files: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def weights_search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for a weights file, in order, without duplicates."""
    dirs = [weights_dir, os.environ.get(WEIGHTS_DIR_ENV) or None, keras_cache_dir()]
    found: list[Path] = []
    for folder in dirs:
        if folder is not None and Path(folder).expanduser() not in found:
            found.append(Path(folder).expanduser())
    return found


def file_checksums(path: str | Path) -> tuple[str, str]:
    """The md5 and sha256 hex digests of a file, read once."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def identify_weights(path: str | Path) -> str | None:
    """The kind (``places365``/``imagenet``) whose known checksum the file matches, else None."""
    md5, sha256 = file_checksums(path)
    for kind, files in KNOWN_WEIGHTS.items():
        if any(md5 == f.md5 or sha256 == f.sha256 for f in files):
            return kind
    return None


def _info(weights: str, requested: str, path: Path | None = None, sha256: str | None = None,
          **extra: Any) -> dict[str, Any]:
    return {"weights": weights, "requested": requested,
            "path": str(path) if path is not None else None, "sha256": sha256, **extra}


def _check_local(path: Path, kind: str) -> str:
    """Verify a candidate file of ``kind`` by checksum; return its sha256."""
    md5, sha256 = file_checksums(path)
    files = KNOWN_WEIGHTS[kind]
    if any(md5 == f.md5 or sha256 == f.sha256 for f in files):
        return sha256
    expected = [f for f in files if f.name == path.name and f.has_checksum]
    if expected:
        raise AvscError(
            f"{path}: checksum does not match the published {kind} VGG16 weights "
            f"(md5 {md5}, expected {expected[0].md5 or '-'}; sha256 {sha256}, expected "
            f"{expected[0].sha256 or '-'}); the file is damaged or another file: delete or replace it"
        )
    logger.info("%s: %s weights without a published checksum (sha256 %s)", path, kind, sha256)
    return sha256


def find_local_weights(kind: str, weights_dir: str | Path | None = None) -> tuple[Path, str] | None:
    """The first file of ``kind`` in the search folders, as (path, sha256), or None."""
    for folder in weights_search_dirs(weights_dir):
        for spec in KNOWN_WEIGHTS[kind]:
            candidate = folder / spec.name
            if candidate.is_file():
                return candidate.resolve(), _check_local(candidate, kind)
    return None


def _download(spec: WeightsFile, cache_dir: Path) -> Path:
    """Download one published file into Keras' cache, checking its pinned hash (if any)."""
    file_hash = spec.md5 or spec.sha256
    path = keras.utils.get_file(
        spec.name, spec.url, file_hash=file_hash, cache_dir=str(cache_dir.parent),
        cache_subdir=cache_dir.name,
    )
    return Path(path)


@contextmanager
def _socket_timeout(seconds: float | None) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def download_weights(kind: str, timeout_s: float | None = None,
                     weights_dir: str | Path | None = None) -> tuple[Path, str]:
    """Download the published file of ``kind`` into Keras' cache; (path, sha256).

    Args:
        kind: ``places365`` or ``imagenet``.
        timeout_s: socket timeout of the download; None: the system's.
        weights_dir: the weights folder named in the error message.

    Raises:
        AvscError: when the download fails; the message says which file to put where.
    """
    spec = next(f for f in KNOWN_WEIGHTS[kind] if f.url)
    try:
        with _socket_timeout(timeout_s):
            path = _download(spec, keras_cache_dir())
    except Exception as err:  # noqa: BLE001 - any network or hash failure ends the same way
        raise AvscError(
            _missing_message(kind, f"download from {spec.url} failed: {err}", weights_dir)
        ) from None
    return path.resolve(), _check_local(path, kind)


def _missing_message(kind: str, reason: str, weights_dir: str | Path | None = None) -> str:
    names = " or ".join(f.name for f in KNOWN_WEIGHTS[kind])
    spec = next(f for f in KNOWN_WEIGHTS[kind] if f.url)
    folders = ", ".join(str(d) for d in weights_search_dirs(weights_dir))
    return (
        f"VGG16 {kind} weights not found: put {names} (published at {spec.url}) into the folder "
        f"named by the weights_dir parameter or ${WEIGHTS_DIR_ENV}, or into Keras' cache "
        f"{keras_cache_dir()} (searched: {folders}); {reason}"
    )


def _resolve_kind(kind: str, weights_dir: str | Path | None, download: bool,
                  timeout_s: float | None, requested: str) -> dict[str, Any]:
    local = find_local_weights(kind, weights_dir)
    if local is None and not download:
        raise AvscError(_missing_message(kind, "downloads are off", weights_dir))
    path, sha256 = local if local is not None else download_weights(kind, timeout_s, weights_dir)
    return _info(kind, requested, path, sha256)


def _resolve_path(weights: str) -> dict[str, Any]:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise AvscError(
            f"{path}: VGG16 weights file not found (weights={weights!r}; expected one of "
            f"{', '.join(WEIGHTS_CHOICES)} or the path of a notop .h5 file)"
        )
    _, sha256 = file_checksums(path)
    return _info("path", weights, path.resolve(), sha256, identified_as=identify_weights(path))


def _resolve_auto(weights_dir: str | Path | None, download: bool) -> dict[str, Any]:
    for kind in AUTO_ORDER:
        local = find_local_weights(kind, weights_dir)
        if local is not None:
            return _info(kind, "auto", *local)
    reasons = []
    for kind in AUTO_ORDER:
        if not download:
            reasons.append(_missing_message(kind, "downloads are off", weights_dir))
            continue
        try:
            return _info(kind, "auto", *download_weights(kind, AUTO_DOWNLOAD_TIMEOUT_S, weights_dir))
        except AvscError as err:
            reasons.append(str(err))
    message = (
        "weights=auto: no pretrained VGG16 weights found or downloadable; the visual subnetwork "
        "uses RANDOM weights and its results mean little. " + " | ".join(reasons)
    )
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    logger.warning(message)
    return _info("random", "auto", reason=message)


def resolve_weights(weights: str = "auto", weights_dir: str | Path | None = None,
                    download: bool = True, timeout_s: float | None = None) -> dict[str, Any]:
    """Find (or download) the VGG16 base weights that ``weights`` asks for.

    Args:
        weights: ``places365``, ``imagenet``, ``auto``, ``none`` or a path to a notop ``.h5``.
        weights_dir: folder searched first (then ``$AVSC_WEIGHTS_DIR``, then Keras' cache).
        download: whether a file missing locally may be downloaded.
        timeout_s: socket timeout of a download (``auto`` always uses a short one).

    Returns:
        ``{"weights": "places365"|"imagenet"|"random"|"path", "requested": weights,
        "path": str|None, "sha256": str|None}`` (``auto`` falling back to random adds a
        ``reason``; a path adds ``identified_as``).

    Raises:
        AvscError: a named file that is missing everywhere (the message says which file to put
            where), a file whose checksum is wrong, or an unknown value.
    """
    weights = str(weights)
    if weights == "none":
        return _info("random", weights)
    if weights == "auto":
        return _resolve_auto(weights_dir, download)
    if weights in KNOWN_WEIGHTS:
        return _resolve_kind(weights, weights_dir, download, timeout_s, weights)
    if os.sep in weights or "/" in weights or weights.endswith((".h5", ".hdf5")):
        return _resolve_path(weights)
    raise AvscError(
        f"unknown VGG16 weights {weights!r}: expected one of {', '.join(WEIGHTS_CHOICES)} "
        "or the path of a notop .h5 file"
    )


# --- the network --------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="avsc")
class FramePreprocessing(layers.Layer):
    """Frame preprocessing inside the model: uint8 or float RGB in 0-255 to the VGG16 input.

    ``raw``: RGB floats in 0-255, what the authors fed. ``caffe``: RGB to BGR minus the
    ImageNet channel means, what the published weights expect. The frame encoder uses it for
    ``caffe`` only (``raw`` is a plain ``Identity``, so a saved model needs no custom object).
    """

    def __init__(self, mode: str = "raw", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("raw", "caffe"):
            raise ValueError(f"preprocessing must be 'raw' or 'caffe', got {mode!r}")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=self.compute_dtype)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


def frame_preprocessing(mode: str, name: str = "frame_preprocessing") -> layers.Layer:
    """The layer that turns RGB 0-255 frames into the VGG16 input: ``raw`` or ``caffe``."""
    if mode == "raw":
        return layers.Identity(name=name)
    return FramePreprocessing(mode, name=name)


def set_conv_l2(model: keras.Model, l2: float) -> None:
    """Put an L2 penalty of ``l2`` on the kernel of every convolution of ``model`` (0: none).

    The authors rebuilt VGG16 with ``kernel_regularizer=l2(0.0002)`` on each convolution
    (``train_video.ipynb`` cell 22). Keras counts a penalty only while its weight trains, so it
    acts in the unfrozen steps.
    """
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            layer.kernel_regularizer = regularizer
            layer.kernel.regularizer = regularizer


def build_vgg16_base(frame_size: int = 224, weights_path: str | Path | None = None, l2: float = 0.0) -> keras.Model:
    """The VGG16 convolutional base (``block1_conv1`` ... ``block5_pool``), frozen.

    Args:
        frame_size: height and width of the frames (at least 32).
        weights_path: a notop ``.h5`` file in Keras' layout, or None for random weights.
        l2: L2 penalty on every convolution kernel (see :func:`set_conv_l2`).

    Returns:
        A frozen model named ``vgg16``: (frame_size, frame_size, 3) -> (s/32, s/32, 512).
    """
    if frame_size < 32:
        raise ValueError(f"frame_size must be at least 32 for VGG16, got {frame_size}")
    base = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=(frame_size, frame_size, 3), name="vgg16"
    )
    if weights_path is not None:
        try:
            base.load_weights(str(weights_path))
        except Exception as err:  # noqa: BLE001 - h5py/Keras errors for a wrong file
            raise AvscError(
                f"{weights_path}: not a VGG16 notop weights file in Keras' layout ({err})"
            ) from None
    set_conv_l2(base, l2)
    base.trainable = False
    return base


def build_frame_encoder(
    frame_size: int = 224,
    weights: str = "none",
    weights_dir: str | Path | None = None,
    frame_pooling: str = "max",
    preprocessing: str = "raw",
    download: bool = True,
    l2: float = 0.0,
) -> tuple[keras.Model, dict[str, Any]]:
    """The per-frame feature extractor: preprocessing -> frozen VGG16 base -> global pooling.

    Args:
        frame_size: height and width of the frames.
        weights: see :func:`resolve_weights`.
        weights_dir: folder searched first for a weights file.
        frame_pooling: ``max`` (the authors' code) or ``avg`` (the paper's text).
        preprocessing: ``raw`` (RGB 0-255, the authors') or ``caffe`` (BGR minus means).
        download: whether a missing weights file may be downloaded.
        l2: L2 penalty on VGG16's convolution kernels (the authors': 0.0002).

    Returns:
        (model named ``frame_encoder`` mapping a uint8 or float RGB frame (frame_size,
        frame_size, 3) to a 512-d feature, info dict of the weights used). Layers:
        ``frame_preprocessing``, ``vgg16`` (nested, frozen), ``frame_pooling``.
    """
    if frame_pooling not in ("max", "avg"):
        raise ValueError(f"frame_pooling must be 'max' or 'avg', got {frame_pooling!r}")
    info = resolve_weights(weights, weights_dir, download=download)
    if preprocessing not in ("raw", "caffe"):
        raise ValueError(f"preprocessing must be 'raw' or 'caffe', got {preprocessing!r}")
    base = build_vgg16_base(frame_size, info["path"], l2)
    frame = keras.Input((frame_size, frame_size, 3), name="frame")
    x = frame_preprocessing(preprocessing)(frame)
    x = base(x)
    pooling = layers.GlobalMaxPooling2D if frame_pooling == "max" else layers.GlobalAveragePooling2D
    features = pooling(name="frame_pooling")(x)
    return keras.Model(frame, features, name="frame_encoder"), info
