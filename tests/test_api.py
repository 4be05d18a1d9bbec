"""The one-call API: facekp.face_landmarks on the sample photos, from a path, a numpy array or a PIL
image; the model loaded once; bad images and runs of another task refused with one clear line."""

import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points

import numpy as np
import pytest
from PIL import Image

import facekp
from facekp import api, config as config_lib, inference, recognise
from facekp.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBAMAS = os.path.join(REPO, "data", "samples", "obamas.jpg")


@pytest.fixture(scope="module")
def obamas_faces():
    return facekp.face_landmarks(OBAMAS)


def test_face_landmarks_finds_both_faces_of_the_sample_with_68_points_inside_them(obamas_faces):
    assert len(obamas_faces) == 2 and all(isinstance(face, facekp.Face) for face in obamas_faces)
    for face in obamas_faces:
        x, y, w, h = face.box
        assert face.points.shape == (68, 2) and 0.9 <= face.score <= 1.0
        inside = (face.points >= (x - 0.2 * w, y - 0.1 * h)) & (face.points <= (x + 1.2 * w, y + 1.1 * h))
        assert inside.all()
        left_eye, right_eye = face.points[36:42].mean(0), face.points[42:48].mean(0)
        assert left_eye[0] < face.points[30, 0] < right_eye[0] < face.points[16, 0]  # iBUG order, upright
        assert max(left_eye[1], right_eye[1]) < face.points[30, 1] < face.points[57, 1] < face.points[8, 1]


def test_a_numpy_array_a_gray_array_and_a_pil_image_give_the_same_faces(obamas_faces):
    rgb = np.asarray(Image.open(OBAMAS).convert("RGB"))
    expected = sorted(face.box[0] for face in obamas_faces)
    for image in (rgb, rgb.astype(np.float32), Image.open(OBAMAS), np.dstack([rgb, np.full(rgb.shape[:2], 255)])):
        faces = facekp.face_landmarks(image)
        np.testing.assert_allclose(sorted(face.box[0] for face in faces), expected, atol=1.0)
    gray = facekp.face_landmarks(np.asarray(Image.open(OBAMAS).convert("L")))
    assert len(gray) == 2


def test_the_model_is_loaded_once_and_reused(obamas_faces):
    before = api.predictor.cache_info()
    facekp.face_landmarks(OBAMAS)
    after = api.predictor.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 1


def test_bad_images_are_refused_with_what_is_wrong(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        facekp.face_landmarks(tmp_path / "missing.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty.jpg: unreadable image"):
        facekp.face_landmarks(str(tmp_path / "empty.jpg"))
    with pytest.raises(ValueError, match=r"got shape \(4, 4, 2\)"):
        facekp.as_rgb(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(TypeError, match="not list"):
        facekp.as_rgb([[0, 0, 0]])
    for array, message in [
        (np.ones((4, 4, 3), bool), "got bool values"),
        (np.full((4, 4, 3), "a"), "got <U1 values"),
        (np.full((4, 4, 3), np.nan), "NaN or infinite"),
        (np.full((4, 4, 3), 300), "values from 300 to 300, expected the 0-255 scale"),
        (np.full((4, 4, 3), 0.5), "floats from 0 to 1; multiply by 255"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            facekp.as_rgb(array)


def test_bad_arguments_are_refused_with_what_is_wrong():
    for refine in (-1, 1.5, None, "2", 100, True):
        with pytest.raises(ValueError, match=re.escape(f"refine: a whole number from 0 to 8, got {refine!r}")):
            facekp.face_landmarks(OBAMAS, refine=refine)
    with pytest.raises(TypeError, match="run: a run directory's path, not int"):
        facekp.face_landmarks(OBAMAS, run=5)


def test_16_bit_photos_are_scaled_not_saturated(tmp_path):
    rgb = facekp.as_rgb(OBAMAS)
    wide = rgb.astype(np.uint16) * 257
    np.testing.assert_array_equal(facekp.as_rgb(wide), rgb)
    gray = np.asarray(Image.open(OBAMAS).convert("L")).astype(np.uint16) * 257
    Image.fromarray(gray).save(tmp_path / "g16.png")
    sixteen = Image.open(tmp_path / "g16.png")
    assert sixteen.mode.startswith("I;16")
    np.testing.assert_array_equal(facekp.as_rgb(sixteen)[..., 0], gray // 257)


def test_a_photo_without_faces_gives_an_empty_list():
    assert facekp.face_landmarks(np.full((240, 320, 3), 90, np.uint8)) == []


@pytest.mark.slow
def test_a_run_of_another_task_is_refused_before_any_weights_are_read(tmp_path):
    run = tmp_path / "identity_run"
    run.mkdir()
    cfg = config_lib.RecognitionConfig(task="identity", data=str(tmp_path))
    (run / "config.json").write_text(json.dumps(config_lib.to_json(cfg)))
    with pytest.raises(InputError, match="trained for identity, not keypoints"):
        facekp.face_landmarks(OBAMAS, run=str(run))
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "predict.py"), "--run", str(run), OBAMAS, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert (
        done.returncode == 2
        and "not keypoints (needs a keypoints68 or kaggle15 run)" in done.stderr
        and "Traceback" not in done.stderr
    )


def test_importing_facekp_does_not_import_tensorflow():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, facekp, facekp.config; print('tensorflow' in sys.modules)"],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "False"


COMMANDS = {"facekp-train": "train", "facekp-predict": "predict", "facekp-submit": "submit"}
COMMANDS.update(
    {"facekp-verify": "verify", "facekp-export": "export", "facekp-ensemble": "ensemble", "facekp-label": "label"}
)


@pytest.mark.slow
def test_pip_install_puts_the_console_scripts_beside_python(tmp_path):
    """`pip install -e .` installs facekp-train, -predict, -submit, -verify, -export and -ensemble, each the
    `run` of its facekp/commands module (the top-level scripts call the same); facekp-predict on
    the sample photos writes its CSV and plot."""
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts") if ep.name.startswith("facekp-")}
    assert scripts == {name: f"facekp.commands.{module}:run" for name, module in COMMANDS.items()}
    bin_dir = os.path.dirname(sys.executable)
    assert all(os.path.isfile(os.path.join(bin_dir, name)) for name in COMMANDS)
    done = subprocess.run(
        [os.path.join(bin_dir, "facekp-predict"), "--detect", os.path.join(REPO, "data", "samples"), "--out", tmp_path],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (csv,) = [f for f in os.listdir(tmp_path) if f.endswith(".csv")]
    assert len(open(tmp_path / csv).read().splitlines()) == 1 + 3  # the header and the samples' three faces


def test_the_shipped_embedding_embeds_the_sample_faces_and_tells_people_apart():
    """facekp/shipped/face_embedding loads on a fresh clone (no training) and gives unit embeddings; a face
    and its mirror image are one person, Barack and Michelle Obama two."""
    faces = facekp.face_embeddings(OBAMAS)
    assert len(faces) == 2 and all(face.embedding.shape == (256,) for face in faces)  # two members' 128 each
    np.testing.assert_allclose([np.linalg.norm(face.embedding) for face in faces], 1.0, atol=1e-5)
    mirrored = facekp.face_embeddings(np.asarray(Image.open(OBAMAS).convert("RGB"))[:, ::-1])
    for face in faces:  # the same face in the mirrored photo: its box mirrored
        twin = min(mirrored, key=lambda m: abs((m.box[0] + m.box[2]) - (759 - face.box[0])))
        assert facekp.same_person(face, twin)
    assert not facekp.same_person(faces[0], faces[1])
    vector = faces[0].embedding
    for wrong, message in [
        (0.0, r"one face's 256 finite numbers, got \(\)"),
        (faces[0].points, r"one face's 256 finite numbers, got \(68, 2\)"),
        (np.stack([vector, vector]), r"got \(2, 256\)"),
        ("a face", "got str"),
        (faces, r"got list"),
        (np.zeros(256), "unit length, got 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            facekp.same_person(wrong, faces[0])
    recogniser = api.recogniser()
    assert recogniser.cfg.face_crop == "aligned" and 0.0 < recogniser.threshold() < 2.0


def test_callers_on_several_threads_get_what_one_caller_gets(monkeypatch):
    """Four threads calling the API at once, cold (TFLite raised "There is at least 1 reference to
    internal data in the interpreter" in 11 of 20 calls): no call fails, every result equals one
    thread's, each model loads once, and stderr stays where it was (decoding redirects fd 2)."""
    api.predictor.cache_clear()
    api.recogniser.cache_clear()
    loads = Counter()
    for module in (inference, recognise):

        def counted(run_dir, *args, _load=module.load_run, **kwargs):
            loads[os.path.basename(os.path.normpath(run_dir))] += 1
            return _load(run_dir, *args, **kwargs)

        monkeypatch.setattr(module, "load_run", counted)
    stderr = os.fstat(2)
    start = threading.Barrier(4)

    def embeddings_and_same_person():
        faces = facekp.face_embeddings(OBAMAS)
        return faces, facekp.same_person(faces[0], faces[1])

    calls = [  # what each thread calls: landmarks by MTCNN, and by Haar (OpenCV's cascades), embeddings
        lambda: (facekp.face_landmarks(OBAMAS), None),
        lambda: (facekp.face_landmarks(OBAMAS, detector="haar"), None),
        embeddings_and_same_person,
        lambda: (facekp.face_embeddings(OBAMAS), None),
    ]

    def caller(k):
        start.wait()
        results = []
        for _ in range(3):
            try:
                results.append(calls[k]())
            except Exception as e:  # counted, not raised: every thread makes its calls
                results.append(e)
        return results

    with ThreadPoolExecutor(4) as pool:
        by_thread = list(pool.map(caller, range(4)))
    errors = [r for results in by_thread for r in results if isinstance(r, Exception)]
    assert not errors, f"{len(errors)} of 12 calls failed: {errors[0]!r}"
    assert loads == {"keypoints68": 1, "face_embedding": 1, "aligner68": 1}
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (stderr.st_dev, stderr.st_ino)
    for call, results in zip(calls, by_thread):
        alone, _ = call()
        for faces, same in results:
            assert len(faces) == len(alone) and len(alone) >= 1 and same in (None, False)
            for face, expected in zip(faces, alone):
                np.testing.assert_allclose(face.points, expected.points, atol=1e-3)
                np.testing.assert_allclose(face.box, expected.box, atol=1e-3)
                if expected.embedding is not None:
                    np.testing.assert_allclose(face.embedding, expected.embedding, atol=1e-5)


def test_haar_searches_on_several_threads_find_what_one_search_finds():
    """OpenCV's cascades keep their buffers: two searches at once in photos of other sizes failed
    an assertion (`cascadedetect.hpp:46: error: (-215:Assertion failed)`) or found other boxes in
    most calls; the API runs one at a time."""
    photos = [facekp.as_rgb(OBAMAS), facekp.as_rgb(os.path.join(REPO, "data", "samples", "mona_lisa.jpg"))]
    alone = [[face.box for face in facekp.face_landmarks(rgb, detector="haar", refine=0)] for rgb in photos]
    start = threading.Barrier(4)

    def caller(k):
        start.wait()
        return [[face.box for face in facekp.face_landmarks(photos[k % 2], "haar", refine=0)] for _ in range(3)]

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(caller, range(4))) == [[alone[k % 2]] * 3 for k in range(4)]
