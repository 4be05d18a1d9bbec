"""Recognition faces aligned by keypoints, the data they come from, and the margin losses (ArcFace,
CosFace) of the embedding."""

import dataclasses
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from facekp import align, aligner, config, losses, tasks
from facekp.checkpoints import RunCheckpoints, load_run, write_config
from facekp.digest import weights_digest
from facekp.config import SHIPPED_ALIGNER, SHIPPED_EMBEDDING, RecognitionConfig
from facekp.errors import InputError
from facekp.export import export_slim
from facekp.data import geometry, identities
from facekp.models.recognition import embedding_network
from facekp.schemes import IBUG68
from tests.conftest import template68, write_youtube68


def turned(points, scale, degrees, shift):
    a = np.radians(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return scale * points @ rotation.T + shift


def spots(shape, centres, sigma=1.5):
    """A float image (H, W, 1) 0..255 with a Gaussian spot at each centre."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    image = sum(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)) for cx, cy in centres)
    return (255.0 * np.clip(image, 0, 1))[..., None]


def spot_centre(image, near, radius=5):
    """Intensity-weighted centre of the spot within `radius` pixels of `near`."""
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    weight = image[..., 0] * (np.hypot(x - near[0], y - near[1]) <= radius)
    return np.array([(weight * x).sum(), (weight * y).sum()]) / weight.sum()


@pytest.mark.parametrize("degrees", [0.0, 25.0, -40.0])
def test_alignment_puts_the_five_points_on_the_template(degrees):
    points = turned(template68(), 150.0, degrees, (210.0, 170.0))  # a face 150 px wide, turned
    five = IBUG68.five_points(points)
    image = spots((400, 420), five, sigma=4.0)  # the size-64 face shrinks it ~2.5x: spots of ~1.6 px
    size = 64
    faces = align.aligned_faces(image, points[None], size)
    assert faces.shape == (1, size, size, 1) and faces.dtype == np.uint8
    face = faces[0].astype(np.float64)
    # the template's five points where the face's were (the generated face's five points are
    # not the template's shape, so compare with the least-squares placement of them)
    scale, rotation, shift = geometry.similarity_fit(five, align.TEMPLATE * size)
    expected = scale * five @ rotation.T + shift
    for point in expected:
        np.testing.assert_allclose(spot_centre(face, point), point, atol=0.35)
    assert np.abs(expected - align.TEMPLATE * size).max() < 0.12 * size  # and that is near the template


def test_an_exact_template_face_lands_exactly():
    size = 96
    five = turned(align.TEMPLATE * 200.0, 1.0, 10.0, (50.0, 80.0))  # the template itself, 200 px, turned
    center, side, angle = align.alignment_crop(five, size)
    assert side == pytest.approx(200.0) and math.degrees(angle) == pytest.approx(10.0)
    face = align.aligned_face(spots((400, 400), five, sigma=4.0), five, size).astype(np.float64)
    for point in align.TEMPLATE * size:
        np.testing.assert_allclose(spot_centre(face, point), point, atol=0.3)


def test_folder_faces_start_from_their_framing(tmp_path):
    """LFW-framed photos start the keypoint search at the measured LFW box; other photos detect."""
    for name, size in (("lfw.jpg", 160), ("other.jpg", 120)):
        Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(tmp_path / name)
    seen = []

    def aligner(images, starts):
        seen.extend(starts)
        return np.zeros((len(images), 32, 32, 1), np.uint8)

    paths = [str(tmp_path / "lfw.jpg"), str(tmp_path / "other.jpg")]
    faces = identities.read_faces(paths, 32, 1, "aligned", aligner)
    assert faces.shape == (2, 32, 32, 1) and seen == [identities.LFW_KEYPOINT_BOX[160], None]
    arrays = identities.arrays_to_faces(np.zeros((3, 1850)), "X", 32, 1, aligner)
    assert arrays.shape == (3, 32, 32, 1) and seen[2:] == [identities.ARRAY_KEYPOINT_BOX] * 3
    with pytest.raises(ValueError, match="1 start boxes for 2 files"):
        identities.read_faces(paths, 32, 1, "aligned", aligner, starts=[(1.0, 1.0, 1.0)])
    with pytest.raises(ValueError, match="need an aligner"):
        identities.read_faces(paths, 32, 1, "aligned")


def test_arcface_and_cosface_logits_match_a_hand_computation():
    cosines = np.array([[0.8, 0.1, -0.3], [0.2, 0.5, 0.9], [-0.95, 0.0, 0.4]], np.float32)
    labels = np.array([0, 2, 0])
    s, m = 30.0, 0.5
    arc = losses.margin_logits(tf.constant(cosines), tf.constant(labels), "arcface", s, m).numpy()
    expected = s * cosines.copy()
    expected[0, 0] = s * math.cos(math.acos(0.8) + m)
    expected[1, 2] = s * math.cos(math.acos(0.9) + m)
    expected[2, 0] = s * (-0.95 - m * math.sin(m))  # theta + m would pass pi: the falling fallback
    np.testing.assert_allclose(arc, expected, rtol=1e-5)
    cos = losses.margin_logits(tf.constant(cosines), tf.constant(labels), "cosface", s, 0.35).numpy()
    np.testing.assert_allclose(cos[1], s * np.array([0.2, 0.5, 0.9 - 0.35]), rtol=1e-6)
    loss = losses.margin_softmax(tf.constant(cosines), tf.constant(labels), "arcface", s, m).numpy()
    log_softmax = expected - np.log(np.exp(expected).sum(1, keepdims=True))
    assert loss == pytest.approx(-log_softmax[np.arange(3), labels].mean(), rel=1e-5)


def test_the_margin_loss_pulls_same_person_embeddings_together():
    rng = np.random.default_rng(0)
    embeddings = tf.Variable(rng.normal(size=(4, 8)).astype(np.float32))
    centres = tf.Variable(rng.normal(size=(8, 2)).astype(np.float32))
    labels = tf.constant([0, 0, 1, 1])

    def same_person_cosine():
        unit = tf.math.l2_normalize(embeddings, axis=1).numpy()
        return float(unit[0] @ unit[1] + unit[2] @ unit[3]) / 2

    before = same_person_cosine()
    optimizer = tf.keras.optimizers.Adam(0.05)
    for _ in range(100):
        with tf.GradientTape() as tape:
            unit = tf.math.l2_normalize(embeddings, axis=1)
            cosines = unit @ tf.math.l2_normalize(centres, axis=0)
            loss = losses.margin_softmax(cosines, labels, "arcface", 16.0, 0.3)
        optimizer.apply_gradients(zip(tape.gradient(loss, [embeddings, centres]), [embeddings, centres]))
    assert same_person_cosine() > before + 0.5
    assert (np.argmax(cosines.numpy(), axis=1) == labels.numpy()).all()  # each nearest its own centre


def test_the_class_centres_are_a_training_only_head():
    cfg = RecognitionConfig(task="embedding", input_size=32, width=8, embedding_dim=16, margin_classes=5)
    model = embedding_network(cfg)
    images = np.random.default_rng(0).uniform(size=(3, 32, 32, 1)).astype(np.float32)
    assert model(images, training=True).shape == (3, 16 + 5)
    inference = model(images, training=False).numpy()
    assert inference.shape == (3, 16) and np.allclose(np.linalg.norm(inference, axis=1), 1.0, atol=1e-5)
    assert embedding_network(RecognitionConfig(embedding_loss="triplet", input_size=32, width=8))(images).shape == (
        3,
        128,
    )


def test_a_run_saved_before_the_margin_loss_existed_loads_as_triplet(tmp_path):
    saved = {**config.to_json(RecognitionConfig(task="embedding"))}
    del saved["embedding_loss"]
    os.makedirs(tmp_path / "old")
    with open(tmp_path / "old" / "config.json", "w") as f:
        json.dump(saved, f)
    assert config.load(str(tmp_path / "old")).embedding_loss == "triplet"


def test_youtube_faces_people_join_the_folder_people_by_name(tmp_path):
    """--extra-data youtube-faces-68: people from file names, aligned from their own keypoint boxes,
    merged with the folder's people by name, exclusions applied to both."""
    yt = write_youtube68(str(tmp_path / "yt"), people=3, per_person=2)
    lfw = str(tmp_path / "lfw")
    for person in ("Person_00", "Zed_Z"):  # Person_00 is in both sources
        os.makedirs(os.path.join(lfw, person))
        Image.fromarray(np.full((50, 50, 3), 99, np.uint8)).save(os.path.join(lfw, person, "a.jpg"))
    seen = []

    def aligner(images, starts):
        seen.extend(starts)
        return np.zeros((len(images), 32, 32, 1), np.uint8)

    cfg = RecognitionConfig(task="embedding", input_size=32, extra_data=yt)
    folder_faces = identities.load_faces(lfw, cfg, aligner=aligner)
    more = identities.load_faces(yt, cfg, exclude={"person_02"}, aligner=aligner)
    assert more.class_names == ["Person_00", "Person_01"] and len(more) == 4
    assert all(start is not None for start in seen[2:])  # frames start from their true keypoint box
    faces = identities.merged(folder_faces, more)
    assert faces.class_names == ["Person_00", "Zed_Z", "Person_01"]
    assert list(faces.labels) == [0, 1, 0, 0, 2, 2]
    assert identities.trained_people(dataclasses.replace(cfg, data=lfw, exclude_people="Person_02")) == {
        "person_00",
        "person_01",
        "zed_z",
    }


def test_a_resumed_margin_run_must_see_the_same_people_not_only_as_many():
    task = tasks.get("embedding")
    faces = identities.Faces(np.zeros((4, 8, 8, 1), np.uint8), np.array([0, 0, 1, 1]), ["Ann_A", "Bob_B"], list("abcd"))
    cfg = task.prepare(RecognitionConfig(task="embedding", face_crop="auto"), faces)
    assert cfg.margin_classes == 2 and len(cfg.margin_people) == 16 and not cfg.aligned_by
    assert task.prepare(cfg, faces) == cfg  # the same people: the run resumes
    others = dataclasses.replace(faces, class_names=["Ann_A", "Cid_C"])
    with pytest.raises(InputError, match="holds other people than the 2 this run was trained on"):
        task.prepare(cfg, others)
    legacy = dataclasses.replace(cfg, margin_people="")  # saved before the names were recorded
    assert task.prepare(legacy, faces) == cfg


def test_a_loaded_or_exported_embedding_has_no_class_centres_and_embeds_alike(tmp_path):
    cfg = RecognitionConfig(task="embedding", input_size=32, width=8, embedding_dim=16, margin_classes=50)
    trained = embedding_network(cfg)
    run, slim = str(tmp_path / "run"), str(tmp_path / "slim")
    write_config(run, cfg)
    RunCheckpoints(run, trained, keras.optimizers.AdamW()).save_best(7, -0.9)
    _, loaded = load_run(run)
    assert "class_centres" in [layer.name for layer in trained.layers]
    assert "class_centres" not in [layer.name for layer in loaded.layers]
    images = np.random.default_rng(0).uniform(size=(3, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded(images).numpy(), trained(images).numpy(), atol=1e-6)
    export_slim(loaded, slim, run)
    assert len(tf.train.load_checkpoint(os.path.join(slim, "best", "ckpt-0")).get_variable_to_shape_map()) < len(
        tf.train.load_checkpoint(os.path.join(run, "best", "ckpt-7")).get_variable_to_shape_map()
    )
    np.testing.assert_allclose(load_run(slim)[1](images).numpy(), trained(images).numpy(), atol=1e-6)


def test_a_run_aligned_by_other_keypoints_is_refused_and_the_digest_follows_the_weights(tmp_path):
    cfg = RecognitionConfig(task="embedding", face_crop="aligned", aligned_by="0123456789abcdef")
    with pytest.raises(InputError, match="not those of the keypoint model that aligned the recognition run"):
        aligner.for_config(cfg)
    assert aligner.shipped_model() == weights_digest(load_run(SHIPPED_ALIGNER)[1])
    run, slim = str(tmp_path / "run"), str(tmp_path / "slim")  # a training checkpoint and its slim export
    model = embedding_network(RecognitionConfig(task="embedding", embedding_loss="triplet", input_size=32, width=8))
    write_config(run, RecognitionConfig(task="embedding", embedding_loss="triplet", input_size=32, width=8))
    RunCheckpoints(run, model, keras.optimizers.AdamW()).save_best(3, -0.5)
    export_slim(model, slim, run)
    assert weights_digest(load_run(run)[1]) == weights_digest(load_run(slim)[1])
    model.variables[0].assign(model.variables[0] + 1.0)
    export_slim(model, slim, run)
    assert weights_digest(load_run(run)[1]) != weights_digest(load_run(slim)[1])


def test_faces_aligned_by_another_keypoint_model_than_the_runs_are_refused():
    cfg = RecognitionConfig(task="embedding", face_crop="aligned", aligned_by="0123456789abcdef")
    aligner.check_keypoint_model(cfg, "0123456789abcdef", "facekp/shipped/keypoints68")  # the same weights
    with pytest.raises(InputError, match="runs/kp: its weights .fedcba9876543210. are not those"):
        aligner.check_keypoint_model(cfg, "fedcba9876543210", "runs/kp")
    for unchecked in (dataclasses.replace(cfg, aligned_by=""), dataclasses.replace(cfg, face_crop="auto")):
        aligner.check_keypoint_model(unchecked, "fedcba9876543210", "runs/kp")  # nothing recorded, or not aligned


def test_the_flatten_head_feeds_every_position_into_the_embedding():
    """--embedding-head flatten: the dense layer reads each of the (S/32)^2 positions of the last
    features apart (64 px: 2 x 2 positions of 8 x width channels); pool reads their average."""
    shapes = {}
    for head in ("pool", "flatten"):
        cfg = RecognitionConfig(task="embedding", input_size=64, width=8, embedding_dim=16, embedding_head=head)
        model = embedding_network(cfg)
        shapes[head] = tuple(model.get_layer("embedding_dense").kernel.shape)
        assert model(np.zeros((2, 64, 64, 1), np.float32)).shape == (2, 16)
    assert shapes == {"pool": (64, 16), "flatten": (2 * 2 * 64, 16)}


def test_a_smaller_face_scale_puts_the_points_nearer_the_centre_and_shows_more_around_them():
    size, five = 96, turned(align.TEMPLATE * 200.0, 1.0, 10.0, (50.0, 80.0))
    mid = (size - 1) / 2.0
    np.testing.assert_allclose(align.template(size, 0.8) - mid, 0.8 * (align.template(size) - mid))
    _, side, _ = align.alignment_crop(five, size)
    _, wider_side, _ = align.alignment_crop(five, size, scale=0.8)
    assert wider_side == pytest.approx(side / 0.8)  # the same face in a crop 1/0.8 as wide
    face = align.aligned_face(spots((400, 400), five, sigma=4.0), five, size, scale=0.8).astype(np.float64)
    for point in align.template(size, 0.8):
        np.testing.assert_allclose(spot_centre(face, point), point, atol=0.3)
    wider_run = aligner.for_config(RecognitionConfig(input_size=size, face_scale=0.8))
    assert (wider_run.size, wider_run.scale) == (size, 0.8)  # a run aligns every face at its own scale


def test_faces_found_by_another_keypoint_model_are_cut_at_the_aligning_models_keypoints():
    """predict.py --identify with the shipped keypoint model (not the one that aligned the shipped
    embedding's faces, and refined otherwise): the embedding's own aligning model finds each face's
    keypoints again from there, and the face is cut at those, as its training faces were."""
    from facekp import photos
    from facekp.detect import as_channels
    from facekp.inference import Predictor
    from facekp.recognise import Recogniser

    rgb = photos.read_image(os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "samples", "obamas.jpg"))
    recogniser, finder = Recogniser(SHIPPED_EMBEDDING), Predictor.shipped()
    assert weights_digest(finder.model) != recogniser.cfg.aligned_by == aligner.shipped_model()
    points = np.stack([p for _, _, p in photos.keypoint_faces(rgb, photos.detect_in(rgb), finder, find_all=True)])
    centers, sides = geometry.face_boxes(points)
    again = recogniser.aligner.keypoints([rgb] * len(points), [(x, y, s) for (x, y), s in zip(centers, sides)])
    cfg = recogniser.cfg
    np.testing.assert_array_equal(
        recogniser.faces_at_keypoints(rgb, points),
        align.aligned_faces(as_channels(rgb, cfg.channels), again, cfg.input_size, cfg.face_scale),
    )
    assert len(points) == 2 and np.abs(again - points).mean() / sides.mean() < 0.03  # the two models agree
