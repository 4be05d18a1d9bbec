"""facekp as users install it: a real wheel, installed into a fresh venv, used from a folder
outside the repository (the shipped models must come with it), then uninstalled without a trace."""

import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

import facekp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "samples", "obamas.jpg")
MAX_WHEEL_BYTES = 15 * 2**20


def _build_wheel(out: str) -> str:
    """`pip wheel` of a copy of the checkout's files (those git does not ignore: no stale build/
    folder) with this environment's setuptools (no download); the wheel's path."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    source = os.path.join(out, "source")
    for name in filter(None, listed.split("\0")):
        if os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(os.path.dirname(os.path.join(source, name)), exist_ok=True)
            shutil.copy(os.path.join(REPO, name), os.path.join(source, name))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, source],
        check=True,
        capture_output=True,
    )
    (wheel,) = glob.glob(os.path.join(out, "facekp-*.whl"))
    return wheel


def _venv_beside_this_one(folder: str) -> str:
    """A fresh venv that sees this environment's packages (TensorFlow, ...) after its own, but not
    its editable facekp (a path line in a .pth file: the .pth files there are not run); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
    python = os.path.join(folder, "bin", "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(site, "test_environment.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _pip(python: str, *args: str) -> subprocess.CompletedProcess:
    """This environment's pip acting on the venv of `python`."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, *args], check=True, capture_output=True, text=True
    )


@pytest.mark.slow
def test_the_wheel_carries_its_models_and_works_outside_the_checkout(tmp_path):
    wheel = _build_wheel(str(tmp_path / "dist"))
    assert os.path.getsize(wheel) <= MAX_WHEEL_BYTES
    names = zipfile.ZipFile(wheel).namelist()
    for model in ("keypoints68", "aligner68", "face_embedding"):
        assert f"facekp/shipped/{model}/config.json" in names and f"facekp/shipped/{model}/README.md" in names
        assert any(n.startswith(f"facekp/shipped/{model}/best/ckpt-0.data") for n in names)
    assert "facekp/shipped/face_embedding/classifier.pkl" in names
    assert not [n for n in names if n.startswith(("tests/", "runs/", "data/", "benchmarks/"))]

    python = _venv_beside_this_one(str(tmp_path / "venv"))
    _pip(python, "install", "-q", "--no-deps", wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    script = (
        "import json, facekp; faces = facekp.face_landmarks(%r); embedded = facekp.face_embeddings(%r); "
        "print(json.dumps([facekp.__file__, facekp.__version__, len(faces), len(faces[0].points), "
        "facekp.same_person(embedded[0], embedded[0]), facekp.same_person(embedded[0], embedded[1])]))"
    ) % (SAMPLE, SAMPLE)
    done = subprocess.run([python, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    where, version, faces, points, same, different = json.loads(done.stdout.splitlines()[-1])
    assert where.startswith(str(tmp_path / "venv")) and version == facekp.__version__
    assert (faces, points, same, different) == (2, 68, True, False)

    predict = os.path.join(tmp_path, "venv", "bin", "facekp-predict")
    done = subprocess.run(
        [predict, "--detect", SAMPLE, "--out", str(elsewhere / "out")], cwd=elsewhere, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    (csv,) = glob.glob(str(elsewhere / "out" / "prediction-*.csv"))
    assert len(open(csv).read().splitlines()) == 3  # the header and the two faces

    site = os.path.dirname(os.path.dirname(where))
    _pip(python, "uninstall", "-q", "-y", "facekp")
    left = [n for n in os.listdir(site) if n.lower().startswith("facekp")]
    assert left == [] and not os.path.exists(os.path.join(tmp_path, "venv", "bin", "facekp-predict"))


def test_every_program_says_its_version(capsys, monkeypatch):
    from facekp.commands import ensemble, export, label, predict, submit, train, verify

    for program in (ensemble, export, label, predict, submit, train, verify):
        monkeypatch.setattr(sys, "argv", [program.__name__, "--version"])
        with pytest.raises(SystemExit) as stop:
            program.main()
        assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"facekp {facekp.__version__}"
