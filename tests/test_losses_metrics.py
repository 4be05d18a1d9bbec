"""Masked losses (missing points teach nothing) and NME on hand-computed examples."""

import numpy as np
import pytest
import tensorflow as tf

from facekp import losses, metrics


@pytest.mark.parametrize("name", sorted(losses.KEYPOINT_LOSSES))
def test_masked_loss_ignores_missing_points(name):
    loss_fn = losses.KEYPOINT_LOSSES[name]
    pred = tf.Variable([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    true = tf.constant([[[1.5, 2.0], [np.nan, np.nan], [9.0, 6.0]]])
    mask = tf.constant([[1.0, 0.0, 1.0]])
    with tf.GradientTape() as tape:
        loss = loss_fn(pred, true, mask)
    grad = tape.gradient(loss, pred).numpy()
    assert np.isfinite(loss.numpy()) and loss.numpy() > 0
    np.testing.assert_array_equal(grad[0, 1], [0.0, 0.0])
    assert np.all(grad[0, [0, 2], 0] != 0)
    # the same loss as with the missing point removed
    np.testing.assert_allclose(loss.numpy(), loss_fn(pred[:, ::2], true[:, ::2], mask[:, ::2]).numpy(), rtol=1e-6)


def test_l1_and_wing_values():
    pred, true, mask = tf.constant([[[0.0, 0.0]]]), tf.constant([[[3.0, 0.0]]]), tf.constant([[1.0]])
    assert losses.l1(pred, true, mask).numpy() == pytest.approx(1.5)
    assert losses.wing(pred, true, mask).numpy() == pytest.approx(10 * np.log1p(3 / 2) / 2, rel=1e-6)


def test_nme_hand_computed():
    true = np.zeros((1, 68, 2))
    true[0, 36] = [0.0, 0.0]
    true[0, 45] = [40.0, 0.0]  # inter-ocular distance 40
    pred = true.copy()
    pred[0, 0] += [3.0, 4.0]  # one point off by 5 px
    mask = np.ones((1, 68))
    nme = metrics.nme_per_face(pred, true, mask, (36, 45))
    assert nme[0] == pytest.approx(5.0 / 68 / 40.0)


def test_keypoint_metrics_summary_and_missing_normaliser():
    true = np.array([[[0.0, 0.0], [10.0, 0.0]], [[0.0, 0.0], [10.0, 0.0]], [[0.0, 0.0], [10.0, 0.0]]])
    pred = true + np.array([[[1.0, 0.0]], [[2.0, 0.0]], [[0.0, 0.0]]])
    mask = np.array([[1, 1], [1, 1], [1, 0]], float)  # third face lacks a normaliser point
    out = metrics.keypoint_metrics(pred, true, mask, (0, 1))
    assert out["nme"] == pytest.approx(0.15) and out["nme_median"] == pytest.approx(0.15)
    assert out["failure_rate"] == pytest.approx(0.5)
    assert out["rmse"] == pytest.approx(np.sqrt((1 + 1 + 4 + 4) / 10))
