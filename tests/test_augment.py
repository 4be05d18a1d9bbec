"""Geometry: a known rotation and a flip move image pixels and keypoints together."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from facekp.data import augment, geometry
from facekp.schemes import IBUG68, KAGGLE15

S = 41  # output size; centre pixel 20


def _dot_image(x, y, size=81):
    img = np.zeros((1, size, size, 1), np.uint8)
    img[0, y, x] = 255
    return img


def _brightest(image):
    y, x = np.unravel_index(np.argmax(image[..., 0]), image.shape[:2])
    return x, y


def test_rotation_by_90_degrees_moves_point_and_pixel_together():
    # Source point 10 px right of the crop centre (40, 40); the crop shows 41 px at scale 1.
    img, pts = _dot_image(50, 40), np.array([[[50.0, 40.0]]], np.float32)
    box = np.array([[40.0, 40.0, 41.0]], np.float32)
    out, moved, _ = augment.crop_batch(
        img, pts, np.ones((1, 1), np.float32), box, S, (0,), angle=tf.constant([math.pi / 2])
    )
    # source = R(90) @ (out - c): (10, 0) in the source is (0, -10) in the output: straight up.
    np.testing.assert_allclose(moved.numpy()[0, 0], [20.0, 10.0], atol=1e-4)
    assert _brightest(out.numpy()[0]) == (20, 10)


def test_rotation_by_30_degrees_matches_the_formula():
    img, pts = _dot_image(60, 40), np.array([[[60.0, 40.0]]], np.float32)
    box = np.array([[40.0, 40.0, 41.0]], np.float32)
    theta = math.radians(30)
    _, moved, _ = augment.crop_batch(img, pts, np.ones((1, 1), np.float32), box, S, (0,), angle=tf.constant([theta]))
    # out - c = R(-theta) @ (src - c)
    expected = np.array([20 * math.cos(theta), -20 * math.sin(theta)]) + 20.0
    np.testing.assert_allclose(moved.numpy()[0, 0], expected, atol=1e-4)


def test_scale_and_shift_map_points_linearly():
    pts = np.array([[[40.0, 40.0], [60.0, 50.0]]], np.float32)
    box = np.array([[40.0, 40.0, 41.0]], np.float32)
    _, moved, _ = augment.crop_batch(
        _dot_image(0, 0),
        pts,
        np.ones((1, 2), np.float32),
        box,
        S,
        (0, 1),
        scale=tf.constant([2.0]),
        shift=tf.constant([[0.25, 0.0]]),
    )
    # crop side 82 centred at x = 40 + 0.25 * 82: output = (src - centre) / 2 + 20
    centre = np.array([40 + 0.25 * 82, 40.0])
    np.testing.assert_allclose(moved.numpy()[0], (pts[0] - centre) / 2.0 + 20.0, atol=1e-4)


def test_flip_mirrors_x_and_swaps_left_right_points():
    pts = np.zeros((1, 68, 2), np.float32)
    pts[0, :, 0] = np.linspace(10, 70, 68)
    pts[0, :, 1] = 40.0
    pts[0, 36] = [30.0, 35.0]  # subject's right eye outer corner, image left
    pts[0, 45] = [55.0, 33.0]  # subject's left eye outer corner, image right
    img = _dot_image(30, 35)
    box = np.array([[40.0, 40.0, 41.0]], np.float32)
    out, flipped, mask = augment.crop_batch(
        img, pts, np.ones((1, 68), np.float32), box, S, IBUG68.flip_perm, flip=tf.constant([True])
    )
    flipped = flipped.numpy()[0]
    # mirrored about the crop centre x = 40 (output 20), and 36 <-> 45 relabelled
    np.testing.assert_allclose(flipped[45], [20 + (40 - 30), 20 + (35 - 40)], atol=1e-4)
    np.testing.assert_allclose(flipped[36], [20 - (55 - 40), 20 + (33 - 40)], atol=1e-4)
    assert flipped[36, 0] < flipped[45, 0]  # image-left is still the subject's right
    assert _brightest(out.numpy()[0]) == (30, 15)  # the pixel that was at x=30 moved with point 45
    np.testing.assert_allclose(flipped[8], [20 - (pts[0, 8, 0] - 40), 20], atol=1e-4)  # chin stays


def test_flip_permutations_are_involutions():
    for scheme in (IBUG68, KAGGLE15):
        perm = np.array(scheme.flip_perm)
        np.testing.assert_array_equal(perm[perm], np.arange(scheme.num_points))
    assert IBUG68.flip_perm[0] == 16 and IBUG68.flip_perm[39] == 42 and IBUG68.flip_perm[30] == 30
    assert KAGGLE15.flip_perm[11] == 12 and KAGGLE15.flip_perm[10] == 10


def _jitter_config(**fields):
    augmentation = dict(rotation=30.0, flip=0.5, scale_jitter=0.2, shift_jitter=0.1, brightness=0.2, contrast=0.3)
    return SimpleNamespace(input_size=S, **{**augmentation, "low_resolution": 0.0, "occlusion": 0.0, **fields})


def test_augment_batch_is_seeded_and_keeps_pixels_in_range():
    cfg = _jitter_config()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (4, 81, 81, 1)).astype(np.uint8)
    pts = rng.uniform(20, 60, (4, 68, 2)).astype(np.float32)
    box = np.tile([[40.0, 40.0, 41.0]], (4, 1)).astype(np.float32)
    mask = np.ones((4, 68), np.float32)
    a = augment.augment_batch(img, pts, mask, box, tf.constant([1, 2], tf.int64), cfg, IBUG68.flip_perm)
    b = augment.augment_batch(img, pts, mask, box, tf.constant([1, 2], tf.int64), cfg, IBUG68.flip_perm)
    c = augment.augment_batch(img, pts, mask, box, tf.constant([1, 3], tf.int64), cfg, IBUG68.flip_perm)
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert not np.allclose(a[1].numpy(), c[1].numpy())
    assert a[0].numpy().min() >= 0.0 and a[0].numpy().max() <= 1.0


def test_points_round_trip_to_source():
    A, t = augment.crop_affine(np.array([[40.0, 30.0]]), np.array([50.0]), S, tf.constant([0.4]), tf.constant([True]))
    pts = tf.constant([[[12.0, 7.0], [44.0, 51.0]]])
    back = augment.points_to_source(augment.points_to_output(pts, A, t), A, t)
    np.testing.assert_allclose(back.numpy(), pts.numpy(), atol=1e-4)


@pytest.mark.parametrize("angle", [0.0, 0.35])
def test_the_numpy_crop_map_is_the_tf_crop_map(angle):
    center, side, size = np.array([[37.25, 81.5]]), np.array([53.0]), 24
    A, t = augment.crop_affine(center, side, size, tf.constant([angle]))
    to_source = geometry.crop_map(center[0], side[0], side[0], size, angle)
    np.testing.assert_allclose(to_source[:, :2], A.numpy()[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(to_source[:, 2], t.numpy()[0], rtol=1e-6)
    wide = geometry.crop_map((10.0, 20.0), 30.0, 60.0, 15)  # recognition faces: taller than wide
    corners = wide @ np.array([[-0.5, -0.5, 1.0], [14.5, 14.5, 1.0]]).T  # output pixel edges
    np.testing.assert_allclose(corners.T, [[-5.0, -10.0], [25.0, 50.0]])  # the box's edges


@pytest.mark.parametrize("angle", [0.0, 0.4])
def test_flip_bias_gives_mirrored_targets_the_bias_of_plain_ones(angle):
    """A label 2 px right of its feature (a dot): in plain and mirrored crops alike the target
    lies 2 px from the dot along the photo's x axis as the crop shows it, rightwards (without
    flip_bias, a mirrored crop would put it 2 px leftwards)."""
    bias = 2.0 / 41.0  # of the crop side (41 px, shown at 41 px: 1 output pixel per source pixel)
    img, label = _dot_image(50, 44), np.array([[[52.0, 44.0]]], np.float32)
    box = np.array([[40.0, 40.0, 41.0]], np.float32)
    for flip in (False, True):
        out, points, _ = augment.crop_batch(
            img, label, np.ones((1, 1), np.float32), box, S, (0,),
            angle=tf.constant([angle]), flip=tf.constant([flip]), flip_bias=bias,
        )  # fmt: skip
        dot = np.array(_brightest(out[0].numpy()), np.float32)
        # where the photo's x axis lies in the crop: a mirrored crop turned by a is a plain crop
        # of the mirrored photo turned by -a, whose x axis a model sees along (cos a, sin a)
        x_axis = np.array([math.cos(angle), math.sin(angle) if flip else -math.sin(angle)])
        np.testing.assert_allclose(points[0, 0].numpy(), dot + 2.0 * x_axis, atol=0.75)


def test_low_resolution_blurs_the_chosen_faces_only_and_is_seeded():
    rng = np.random.default_rng(0)
    faces = tf.constant(rng.uniform(size=(64, 48, 48, 1)).astype(np.float32))  # noise: all high frequency
    seed = tf.constant([3, 4], tf.int64)
    assert augment.lower_resolution(faces, seed, 0.0) is faces
    out = augment.lower_resolution(faces, seed, 0.5).numpy()
    changed = np.abs(out - faces.numpy()).max(axis=(1, 2, 3)) > 1e-6
    assert 16 < changed.sum() < 48  # about half the faces
    roughness = lambda x: np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))  # neighbour differences
    assert (roughness(out[changed]) < 0.5 * roughness(faces.numpy()[changed])).all()
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), faces.numpy().mean(axis=(1, 2, 3)), atol=0.02)
    np.testing.assert_array_equal(out, augment.lower_resolution(faces, seed, 0.5).numpy())
    assert np.allclose(augment.lower_resolution(faces, seed, 1.0).numpy()[changed], out[changed])


def test_occlusion_covers_one_grey_rectangle_of_the_chosen_images_and_is_seeded():
    images = tf.constant(np.random.default_rng(1).uniform(size=(200, 40, 40, 1)).astype(np.float32))
    seed = tf.constant([5, 6], tf.int64)
    assert augment.occlude(images, seed, 0.0) is images
    out = augment.occlude(images, seed, 0.5).numpy()
    np.testing.assert_array_equal(out, augment.occlude(images, seed, 0.5).numpy())
    covered = out != images.numpy()
    chosen = covered.any(axis=(1, 2, 3))
    assert 70 < chosen.sum() < 130  # about half the images
    for image, where in zip(out[chosen], covered[chosen]):
        rows, cols = np.flatnonzero(where.any(axis=(1, 2))), np.flatnonzero(where.any(axis=(0, 2)))
        assert len(np.unique(image[where])) == 1  # one grey
        assert len(rows) <= 0.4 * 40 + 1 and len(cols) <= 0.4 * 40 + 1  # at most 40% of the side each way
        block = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # a rectangle: all of its box is that grey
        assert (block == image[where][0]).mean() == 1.0


def test_occlusion_and_low_resolution_change_the_pixels_but_never_the_keypoints():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 81, 81, 1)).astype(np.uint8)
    pts = rng.uniform(20, 60, (8, 68, 2)).astype(np.float32)
    box = np.tile([[40.0, 40.0, 41.0]], (8, 1)).astype(np.float32)
    mask, seed = np.ones((8, 68), np.float32), tf.constant([1, 2], tf.int64)
    plain = augment.augment_batch(img, pts, mask, box, seed, _jitter_config(), IBUG68.flip_perm)
    spoilt = augment.augment_batch(
        img, pts, mask, box, seed, _jitter_config(low_resolution=1.0, occlusion=1.0), IBUG68.flip_perm
    )
    np.testing.assert_array_equal(plain[1].numpy(), spoilt[1].numpy())
    np.testing.assert_array_equal(plain[2].numpy(), spoilt[2].numpy())
    assert (np.abs(plain[0].numpy() - spoilt[0].numpy()).max(axis=(1, 2, 3)) > 0.05).all()
