"""--mixed-precision on the CPU: float16 compute, float32 weights and outputs, loss scaling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from facekp import models
from facekp.checkpoints import load_run
from facekp.tasks.keypoints import KEYPOINTS68
from facekp.train_loop import make_optimizer, make_train_step, train
from tests.conftest import read_jsonl, tiny_config, write_youtube68


def test_the_model_computes_in_float16_with_float32_weights_and_outputs():
    model = models.build(tiny_config("", mixed_precision=True))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert {layer.compute_dtype for layer in convs} == {"float16"}
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    assert model(np.zeros((2, 32, 32, 1), np.float32)).dtype == tf.float32
    assert keras.mixed_precision.global_policy().name == "float32"  # the next model is float32 again


def test_an_overflowing_step_is_skipped_and_the_loss_scale_lowered():
    cfg = tiny_config("", mixed_precision=True, grad_clip=0.0)
    model, optimizer = models.build(cfg), make_optimizer(cfg)
    optimizer.build(model.trainable_variables)
    huge = lambda outputs, batch: tf.reduce_mean(outputs) * 1e30  # noqa: E731  (float16 gradients overflow)
    step = make_train_step(model, optimizer, huge, tf.distribute.get_strategy(), cfg)
    before, scale = [v.numpy() for v in model.trainable_variables], float(optimizer.dynamic_scale)
    step({"image": tf.random.uniform((4, 32, 32, 1))})
    assert float(optimizer.dynamic_scale) == scale / 2
    for old, new in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(old, new.numpy())


@pytest.mark.slow
def test_a_mixed_precision_run_learns_resumes_and_loads_as_float32(tmp_path):
    data = write_youtube68(str(tmp_path / "data"))
    cfg = tiny_config(data, mixed_precision=True, steps=4, log_every=1, lr=1e-2)
    train(cfg, str(tmp_path / "run"))
    train(tiny_config(data, mixed_precision=True, steps=8, log_every=1, lr=1e-2), str(tmp_path / "run"))
    losses = [row["loss"] for row in read_jsonl(tmp_path / "run" / "metrics.jsonl") if row["split"] == "train"]
    assert len(losses) == 8 and np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert (
        tf.train.load_checkpoint(str(tmp_path / "run" / "ckpt" / "ckpt-8")).get_tensor(
            "optimizer/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"
        )
        > 1
    )
    _, loaded = load_run(str(tmp_path / "run"))  # float32, the same weights
    assert {layer.compute_dtype for layer in loaded.layers if isinstance(layer, keras.layers.Conv2D)} == {"float32"}
    images = KEYPOINTS68.val_arrays(cfg, KEYPOINTS68.split(cfg, KEYPOINTS68.load_samples(cfg))[1])["image"]
    mixed = models.build(cfg)
    mixed.set_weights(loaded.get_weights())
    np.testing.assert_allclose(mixed(images).numpy(), loaded(images).numpy(), atol=0.3)  # pixels of 32
