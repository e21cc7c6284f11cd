"""The Conv-StandardPOST block with scSE: shapes, parameter counts, wiring; keras-only model code."""

from __future__ import annotations

import ast
from pathlib import Path

import keras
import numpy as np
import pytest

from avsc_lib.models import blocks
from avsc_lib.models.summary import count_parameters

MODELS_DIR = Path(blocks.__file__).resolve().parent


def _block_model(channels: int, filters: int) -> keras.Model:
    inputs = keras.Input((8, 6, channels), name="x")
    return keras.Model(inputs, blocks.conv_standard_post_block(inputs, filters, name="b"))


def _expected_block_counts(c: int, f: int) -> dict[str, int]:
    convs = (9 * c * f + f) + (9 * f * f + f) + (c * f + f)  # conv1, conv2, 1x1 shortcut (with bias)
    bns = 3 * 4 * f  # gamma, beta trainable; moving mean, variance not
    scse = f * (f // 2) * 2 + f  # two bias-free dense layers, bias-free 1x1 conv
    trainable = convs + 3 * 2 * f + scse
    return {"total": convs + bns + scse, "trainable": trainable, "non_trainable": 3 * 2 * f}


@pytest.mark.parametrize("channels, filters", [(3, 32), (32, 64), (64, 128)])
def test_block_parameter_counts_and_shape(channels, filters):
    model = _block_model(channels, filters)
    assert count_parameters(model) == _expected_block_counts(channels, filters)
    assert model.output.shape == (None, 8, 6, filters)


def test_scse_is_channel_plus_spatial_branch():
    inputs = keras.Input((4, 5, 8))
    model = keras.Model(inputs, blocks.scse(inputs, 8, name="s"))
    assert count_parameters(model)["total"] == 8 * 4 + 4 * 8 + 8
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 8)).astype("float32")
    reduce_w = model.get_layer("s_cse_reduce").kernel.numpy()
    expand_w = model.get_layer("s_cse_expand").kernel.numpy()
    spatial_w = model.get_layer("s_sse_conv").kernel.numpy()[0, 0]
    channel = 1 / (1 + np.exp(-(np.maximum(x.mean(axis=(1, 2)) @ reduce_w, 0) @ expand_w)))
    spatial = 1 / (1 + np.exp(-(x @ spatial_w)))
    expected = x * channel[:, None, None, :] + x * spatial
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_shortcut_is_added_before_and_after_attention():
    model = _block_model(3, 16)

    def inbound(name):
        node = model.get_layer(name)._inbound_nodes[0]
        return {t._keras_history.operation.name for t in node.input_tensors}

    assert inbound("b_residual") == {"b_bn2", "b_shortcut_bn"}
    assert inbound("b_out") == {"b_scse", "b_shortcut_bn"}
    assert inbound("b_scse") == {"b_cse_scale", "b_sse_scale"}


def test_block_forward_pass_is_finite():
    model = _block_model(3, 8)
    y = model.predict(np.ones((2, 8, 6, 3), "float32"), verbose=0)
    assert y.shape == (2, 8, 6, 8) and np.isfinite(y).all()


def _tensorflow_uses(source: str) -> list[str]:
    """Imports of tensorflow and names ``tf``/``tensorflow`` in code (strings don't count)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "tensorflow"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tensorflow":
            found.append(node.module)
        elif isinstance(node, ast.Name) and node.id in ("tf", "tensorflow"):
            found.append(node.id)
    return found


def test_model_modules_use_only_keras():
    """Backend-agnostic models: no TensorFlow in avsc_lib/models (JAX/PyTorch Keras backends)."""
    import avsc_lib.models  # noqa: F401 - every model module imports cleanly

    sources = sorted(MODELS_DIR.glob("*.py"))
    assert {p.name for p in sources} >= {"blocks.py", "audio.py", "visual.py", "backbone.py", "fusion.py"}
    for path in sources:
        text = path.read_text()
        assert _tensorflow_uses(text) == [], path
        code_lines = [ln for ln in text.splitlines() if ln.strip().startswith(("import ", "from "))]
        assert not any("tensorflow" in ln or "tf." in ln for ln in code_lines), path
    assert _tensorflow_uses("import tensorflow as tf\nx = tf.zeros(1)") == ["tensorflow", "tf"]
