"""Tiny generated fixtures: a YouTube-Faces-68-style folder of synthetic faces (no ../shared), a tiny
run trained once per session, and the commands run in this process."""

import importlib
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import facekp  # noqa: E402,F401  (sets TensorFlow's oneDNN switch before any test imports TF, as the commands do)

import numpy as np
import pytest
from PIL import Image, ImageDraw

from facekp.cli import run_main  # noqa: E402
from facekp.config import KeypointConfig  # noqa: E402


def flag_words(**flags):
    """Command-line words for flags given as keyword arguments: input_size=32 -> --input-size 32."""
    return [word for name, value in flags.items() for word in (f"--{name.replace('_', '-')}", str(value))]


# train.py flags of a model small enough to train a few steps in a test
TINY_MODEL = flag_words(input_size=32, width=8)

# The model that builds and traces fastest (a run of a few steps: about 3 s instead of 7 for the
# tiny resnet), for tests of the loop's bookkeeping (checkpoints, resuming, stopping, signals), not
# of what a model learns; seednet needs at least 102 pixels.
FAST = dict(model="seednet", input_size=104)
FAST_MODEL = flag_words(**FAST)


def tiny_config(data, **overrides):
    """A tiny resnet keypoints68 config: 6 steps, no augmentation."""
    base = dict(
        data=data,
        input_size=32,
        width=8,
        batch_size=8,
        steps=6,
        eval_every=3,
        ckpt_every=3,
        log_every=3,
        warmup_steps=2,
        val_fraction=0.25,
        rotation=0.0,
        scale_jitter=0.0,
        shift_jitter=0.0,
        flip=0.0,
        brightness=0.0,
        contrast=0.0,
    )
    return KeypointConfig(**{**base, **overrides})


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def assert_each_message_is_a_line(err, message, count):
    """stderr `err` of a command run into a log: `count` lines each exactly one `message` (a
    compiled pattern), no other line about a file's fate, and no progress bar redrawn over itself."""
    lines = err.splitlines()
    assert sum(bool(message.fullmatch(line)) for line in lines) == count, lines
    assert not [line for line in lines if ("no face" in line or "unreadable" in line) and not message.fullmatch(line)]
    assert "\r" not in err


def run_script(script, args, capsys):
    """(exit code, stdout, stderr) of a top-level command (`train`, `predict`, ...) run in this
    process, as `python SCRIPT.py ARGS` runs it (run_main: bad input is one line and exit 2): for
    tests of what a command does rather than of its process (each test module keeps a real
    subprocess for that)."""
    module = importlib.import_module(script)
    old = sys.argv
    sys.argv = [f"{script}.py", *map(str, args)]
    capsys.readouterr()
    try:
        run_main(module.main)
        code = 0
    except SystemExit as stopped:
        code = stopped.code or 0
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def template68():
    """A plausible iBUG-68 mean shape in a unit box centred at 0 (x right, y down)."""
    # 0 = image-left temple, down around the chin (y grows downwards), to 16 = image-right temple
    jaw = [(-0.5 * np.cos(t), -0.05 + 0.5 * np.sin(t)) for t in np.linspace(0, np.pi, 17)]
    brows = [(-0.4 + 0.065 * i, -0.3 - 0.04 * np.sin(np.pi * i / 4)) for i in range(5)] + [
        (0.14 + 0.065 * i, -0.3 - 0.04 * np.sin(np.pi * i / 4)) for i in range(5)
    ]
    nose = [(0, -0.2 + 0.07 * i) for i in range(4)] + [(-0.08 + 0.04 * i, 0.1) for i in range(5)]

    def eye(cx):
        return [
            (cx - 0.1, -0.15),
            (cx - 0.05, -0.18),
            (cx + 0.03, -0.18),
            (cx + 0.08, -0.15),
            (cx + 0.03, -0.12),
            (cx - 0.05, -0.12),
        ]

    mouth_outer = [(0.18 * np.cos(a), 0.28 - 0.08 * np.sin(a)) for a in np.linspace(np.pi, -np.pi, 13)[:12]]
    mouth_inner = [(0.1 * np.cos(a), 0.28 - 0.03 * np.sin(a)) for a in np.linspace(np.pi, -np.pi, 9)[:8]]
    pts = jaw + brows + nose + eye(-0.22) + eye(0.2) + mouth_outer + mouth_inner
    assert len(pts) == 68
    return np.array(pts, np.float32)


def synthetic_face(rng, size=None):
    """An image with a face-like drawing and its 68 keypoints (pixels)."""
    w = size or int(rng.integers(80, 130))
    h = size or int(rng.integers(80, 130))
    scale = rng.uniform(0.35, 0.55) * min(w, h)
    center = np.array([w / 2, h / 2]) + rng.uniform(-0.1, 0.1, 2) * min(w, h)
    angle = rng.uniform(-0.3, 0.3)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = template68() @ rot.T * scale + center
    image = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 60, 3)))
    draw = ImageDraw.Draw(image)
    draw.polygon([tuple(p) for p in np.concatenate([pts[:17], pts[26:16:-1]])], fill=(150, 120, 100))
    for x, y in pts[17:]:
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(255, 255, 255))
    return image, pts.astype(np.float32)


def write_youtube68(folder, people=8, per_person=4, seed=0, formats=("jpeg",)):
    """A folder in the 68-point CSV + training/ layout; formats cycle over jpeg, rgba-png, gray-jpeg."""
    rng = np.random.default_rng(seed)
    images = os.path.join(folder, "training")
    os.makedirs(images, exist_ok=True)
    rows = []
    for p in range(people):
        for i in range(per_person):
            name = f"Person_{p:02d}_{i:02d}.jpg"
            image, pts = synthetic_face(rng)
            kind = formats[(p * per_person + i) % len(formats)]
            path = os.path.join(images, name)
            if kind == "rgba-png":
                image.convert("RGBA").save(path, format="PNG")  # PNG bytes under a .jpg name
            elif kind == "gray-jpeg":
                image.convert("L").save(path, format="JPEG", quality=95)
            else:
                image.save(path, format="JPEG", quality=95)
            rows.append(name + "," + ",".join(f"{v:.1f}" for v in pts.reshape(-1)))
    with open(os.path.join(folder, "training_frames_keypoints.csv"), "w") as f:
        f.write("," + ",".join(str(i) for i in range(136)) + "\n" + "\n".join(rows) + "\n")
    return folder


@pytest.fixture
def yt_folder(tmp_path):
    return write_youtube68(str(tmp_path / "yt68"), formats=("jpeg", "rgba-png", "gray-jpeg"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """(cfg, run dir) of a tiny resnet run with augmentation trained once per session (once per
    worker under pytest-xdist): 6 steps, checkpoints at steps 3 and 6 and a best one. Read it only;
    a test that writes to a run takes `trained_copy`."""
    return train_generated(tmp_path_factory.mktemp("trained"), steps=6, rotation=20.0, flip=0.5)


@pytest.fixture
def trained_copy(trained_run, tmp_path):
    """A fresh copy of `trained_run`, for a test to resume, damage or rewrite."""
    return copy_of(trained_run, tmp_path / "trained")


def train_generated(folder, make_config=tiny_config, **overrides):
    """(cfg, run dir) of a run trained in `folder` on a generated 68-point folder, with the config
    `make_config(data, **overrides)`."""
    from facekp.train_loop import train

    cfg = make_config(write_youtube68(str(folder / "data")), **overrides)
    train(cfg, str(folder / "run"))
    return cfg, str(folder / "run")


def copy_of(trained, folder):
    """(cfg, run dir) of a copy of a trained (cfg, run dir) in `folder`."""
    cfg, run = trained
    shutil.copytree(run, folder)
    return cfg, str(folder)
