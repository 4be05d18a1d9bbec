"""--mixed-precision on the CPU: float16 compute, float32 weights and outputs, loss scaling."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from facekp import models
from facekp.checkpoints import load_run
from facekp.tasks.keypoints import KEYPOINTS68
from facekp.train_loop import make_optimizer, make_train_step, train
from tests.conftest import read_jsonl, tiny_config, write_youtube68

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("head", ["integral", "heatmap"])
def test_the_model_computes_in_float16_with_float32_weights_and_outputs(head):
    model = models.build(tiny_config("", mixed_precision=True, head=head))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert {layer.compute_dtype for layer in convs} == {"float16"}
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    images = np.zeros((2, 32, 32, 1), np.float32)
    assert model(images).dtype == tf.float32
    assert model(images, training=True).dtype == tf.float32  # the heatmap head's maps, for its loss
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


OVERFLOW_ON_ONE_REPLICA = textwrap.dedent("""
    import sys, types
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {repo!r})
    import keras
    from facekp.train_loop import make_optimizer, make_train_step
    cfg = types.SimpleNamespace(lr=1e-3, warmup_steps=0, steps=10, schedule="constant", weight_decay=0.0,
                                mixed_precision=True, grad_clip=1.0, jit_compile=False)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        inputs = keras.Input((1,))
        model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones")(inputs))  # not a random
        # weight: one near 0 (a few runs in a hundred) would keep replica 1's gradient finite
        optimizer = make_optimizer(cfg)
        optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, lambda out, batch: tf.reduce_mean((out - batch["y"]) ** 2), strategy, cfg)
    before = [v.numpy() for v in model.trainable_variables]
    x = np.array([[1.0], [3e17]], np.float32)  # replica 1's scaled gradient overflows, replica 0's does not
    batches = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors({{"image": x, "y": 0 * x}}))
    step(next(iter(batches)))
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.trainable_variables)), "weights changed"
    print("scale", float(optimizer.dynamic_scale.numpy()))
""")


@pytest.mark.slow
def test_an_overflow_on_one_replica_skips_the_step_on_every_replica():
    script = OVERFLOW_ON_ONE_REPLICA.format(repo=REPO)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scale 16384.0" in done.stdout  # halved from 32768, and the weights untouched
