"""The heatmap + offset head (--head heatmap): its decoding, its loss, and a tiny model that learns
with it and runs through both engines."""

import numpy as np
import pytest
import tensorflow as tf

from facekp import losses, models
from facekp.checkpoints import copy_matching
from facekp.inference import Predictor
from facekp.models.keypoints import HeatmapOffsets, cell_grid
from facekp.train_loop import train
from tests.conftest import read_jsonl, tiny_config, write_youtube68

SIZE, CELLS = 96, 24  # stride 4
TRUE = np.array([[[10.3, 50.7], [47.5, 47.5], [90.1, 3.2]]], np.float32)


def maps_for(points, winner_shift=(0, 0)):
    """Maps (1, CELLS, CELLS, 3K): scores whose best cell for each point is the one nearest it
    (moved by winner_shift cells), then offsets that all point at it exactly."""
    grid = cell_grid(SIZE, CELLS, CELLS).numpy()
    to_point = points[:, None] - grid[None, :, None]  # (1, n, K, 2)
    scores = -np.sum((to_point + np.float32(winner_shift) * SIZE / CELLS) ** 2, -1)
    offsets = to_point / (SIZE / CELLS)
    k = points.shape[1]
    return np.concatenate([scores.reshape(1, CELLS, CELLS, k), offsets.reshape(1, CELLS, CELLS, 2 * k)], -1).astype(
        np.float32
    )


def decode(maps, training=False):
    return HeatmapOffsets(SIZE)([maps[..., :3], maps[..., 3:]], training=training).numpy()


@pytest.mark.parametrize("winner_shift", [(0, 0), (1, -1)])
def test_points_are_the_best_cell_plus_its_offset(winner_shift):
    np.testing.assert_allclose(decode(maps_for(TRUE, winner_shift)), TRUE, atol=1e-4)
    maps = maps_for(TRUE)
    maps[..., 3:] = 0.0  # no offsets: the centre of the best cell
    grid = cell_grid(SIZE, CELLS, CELLS).numpy()
    nearest = grid[np.argmin(np.sum((TRUE[0][:, None] - grid[None]) ** 2, -1), axis=1)]
    np.testing.assert_allclose(decode(maps)[0], nearest, atol=1e-4)
    np.testing.assert_array_equal(decode(maps, training=True), maps)  # training: the maps, for the loss


def test_init_from_an_integral_model_fills_all_but_the_offsets():
    integral = models.build(tiny_config("unused"))
    heatmap = models.build(tiny_config("unused", head="heatmap"))
    report = copy_matching(heatmap, {v.path: v.numpy() for v in integral.variables}, "integral")
    assert report.endswith("skipped (no match by name and shape): offsets/kernel, offsets/bias")
    np.testing.assert_array_equal(
        heatmap.get_layer("heatmaps").get_weights()[0], integral.get_layer("heatmaps").get_weights()[0]
    )


def test_loss_is_lowest_at_the_truth_and_missing_points_teach_nothing():
    maps = tf.Variable(maps_for(TRUE) / 10.0)  # softer scores, offsets a tenth of the way
    mask = np.ones((1, 3), np.float32)
    at_truth = losses.heatmap_offsets(maps, TRUE, mask, SIZE).numpy()
    assert at_truth < losses.heatmap_offsets(maps, TRUE + 3.0, mask, SIZE).numpy()
    missing = TRUE.copy()
    missing[0, 1] = np.nan
    mask[0, 1] = 0.0
    with tf.GradientTape() as tape:
        loss = losses.heatmap_offsets(maps, missing, mask, SIZE)
    grad = tape.gradient(loss, maps).numpy()
    assert np.isfinite(loss.numpy())
    assert not grad[..., [1, 3 + 2, 3 + 3]].any()  # the missing point's scores and (x, y) offsets
    assert grad[..., [0, 2]].any() and grad[..., [3, 4, 7, 8]].any()
    kept = [0, 2, 3, 4, 7, 8]  # the other points' scores and offsets: the same loss without it
    alone = losses.heatmap_offsets(maps.numpy()[..., kept], TRUE[:, [0, 2]], mask[:, [0, 2]], SIZE)
    np.testing.assert_allclose(loss.numpy(), alone.numpy(), rtol=1e-6)


@pytest.mark.slow
def test_a_tiny_heatmap_model_learns_and_both_engines_agree(tmp_path):
    data = write_youtube68(str(tmp_path / "data"), people=12, per_person=5)
    cfg = tiny_config(data, head="heatmap", steps=150, eval_every=150, ckpt_every=150, log_every=20, lr=3e-3)
    results = train(cfg, str(tmp_path / "run"))
    log = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["split"] == "train"]
    assert log[-1]["loss"] < 0.6 * log[0]["loss"]
    assert results["nme"] < 0.2  # a blind guess of the mean shape scores about 0.3 here
    fast, plain = Predictor.from_run(str(tmp_path / "run")), Predictor.from_run(str(tmp_path / "run"), engine="tf")
    crops = np.random.default_rng(0).random((3, 32, 32, 1), np.float32)
    points = fast.predict(crops)
    assert points.shape == (3, 68, 2)
    # the same points, but for a rare near-tie of two cells' scores that rounding may settle apart
    assert np.mean(np.all(np.abs(points - plain.predict(crops)) < 1e-3, axis=-1)) > 0.95
