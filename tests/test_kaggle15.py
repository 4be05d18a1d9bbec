"""Kaggle 15-point files: parsing, missing labels, training, byte-exact submissions and --check."""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from facekp import submission, tasks
from facekp.config import KeypointConfig
from facekp.data import kaggle_fkd
from facekp.errors import InputError
from facekp.train_loop import train
from tests.conftest import run_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pixel_string(seed):
    return " ".join(str(v) for v in np.random.default_rng(seed).integers(0, 256, 9216))


def write_kaggle(folder, rows=12, zipped=True, partial_every=2):
    """training.csv (+zip), test.csv and a CRLF IdLookupTable.csv like Kaggle's."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = [",".join(kaggle_fkd.KEYPOINT_COLUMNS + ["Image"])]
    for r in range(rows):
        pts = rng.uniform(20, 76, 30)
        cells = [f"{v:.4f}" for v in pts]
        if r % partial_every == 1:  # keep only the 4 Kaggle points: eye centres, nose tip, bottom lip
            keep = {0, 1, 2, 3, 20, 21, 28, 29}
            cells = [c if i in keep else "" for i, c in enumerate(cells)]
        lines.append(",".join(cells + [pixel_string(r)]))
    text = "\n".join(lines) + "\n"
    if zipped:
        with zipfile.ZipFile(os.path.join(folder, "training.zip"), "w") as z:
            z.writestr("training.csv", text)
    else:
        open(os.path.join(folder, "training.csv"), "w").write(text)
    test = ["ImageId,Image"] + [f"{i + 1},{pixel_string(100 + i)}" for i in range(3)]
    open(os.path.join(folder, "test.csv"), "w").write("\n".join(test) + "\n")
    lookup = [
        "RowId,ImageId,FeatureName,Location",
        "1,1,left_eye_center_x,",
        "2,1,left_eye_center_y,",
        "3,2,nose_tip_y,",
        "4,3,mouth_center_bottom_lip_x,",
        "5,3,right_eye_center_y,",
    ]
    with open(os.path.join(folder, "IdLookupTable.csv"), "w", newline="") as f:
        f.write("\r\n".join(lookup) + "\r\n")
    return folder


def test_reads_zip_and_plain_csv_with_missing_points(tmp_path):
    for zipped in (True, False):
        folder = write_kaggle(str(tmp_path / f"k{zipped}"), zipped=zipped)
        images, points, mask = kaggle_fkd.read_training(folder)
        assert images.shape == (12, 96, 96, 1) and images.dtype == np.uint8
        expected = np.array(pixel_string(3).split(), dtype=np.uint8).reshape(96, 96)
        np.testing.assert_array_equal(images[3, ..., 0], expected)
        assert mask[0].sum() == 15 and mask[1].sum() == 4
        assert np.isnan(points[1, 2]).all() and not np.isnan(points[1, 0]).any()
        np.testing.assert_array_equal(mask[1], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1])


def _corrupt(folder, line, change):
    path = os.path.join(folder, "training.csv")
    lines = open(path).read().splitlines()
    lines[line - 1] = change(lines[line - 1])
    open(path, "w").write("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda l: l.rsplit(" ", 1)[0], "line 4: Image has 9215 values, expected 9216"),
        (lambda l: l[:-3] + "x12", "line 4: Image is not space-separated integers"),
        (lambda l: l.rsplit(" ", 1)[0] + " 256", "line 4: Image has values above 255"),
        (lambda l: "97.0" + l[l.index(",") :], "line 4: left_eye_center_x = 97.0 is outside the 96x96 image"),
        (lambda l: "abc" + l[l.index(",") :], "line 4: left_eye_center_x is not a number"),
    ],
)
def test_malformed_rows_are_named(tmp_path, change, message):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    _corrupt(folder, 4, change)
    with pytest.raises(InputError, match=message):
        kaggle_fkd.read_training(folder)


def test_wrong_header(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    _corrupt(folder, 1, lambda l: l.replace("left_eye_center_x", "lx"))
    with pytest.raises(InputError, match="line 1: header"):
        kaggle_fkd.read_training(folder)


@pytest.fixture(scope="module")
def kaggle_run(tmp_path_factory):
    """(validation results, data folder, run dir) of a tiny kaggle15 run, trained once."""
    root = tmp_path_factory.mktemp("kaggle15")
    folder = write_kaggle(str(root / "k"), rows=16)
    cfg = KeypointConfig(
        task="kaggle15",
        data=folder,
        width=8,
        batch_size=4,
        steps=4,
        eval_every=4,
        ckpt_every=4,
        log_every=2,
        val_fraction=0.25,
    )
    return train(cfg, str(root / "run")), folder, str(root / "run")


def test_kaggle15_trains_with_masked_loss(kaggle_run):
    results, _, _ = kaggle_run
    assert {"rmse", "rmse_full", "rmse_partial", "nme"} <= set(results)
    assert all(np.isfinite(results[k]) for k in ("rmse", "rmse_full", "rmse_partial"))


def test_groups_file_gives_grouped_split(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"))
    groups = tmp_path / "groups.txt"
    groups.write_text("\n".join(f"person{i // 3}" for i in range(12)) + "\n")
    cfg = KeypointConfig(task="kaggle15", data=folder, groups=str(groups), val_fraction=0.25)
    task = tasks.get("kaggle15")
    train_part, val_part = task.split(cfg, task.load_samples(cfg))
    assert not set(train_part.groups) & set(val_part.groups) and len(set(val_part.groups)) == 1
    groups.write_text("a\nb\n")
    with pytest.raises(InputError, match="2 groups for 12 training rows"):
        task.load_samples(cfg)


def test_submission_is_byte_exact(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"))
    lookup = kaggle_fkd.read_lookup(folder)
    predictions = np.zeros((3, 15, 2))
    predictions[0, 0] = [30.25, 97.5]  # y beyond the image: clipped to 96
    predictions[1, 10] = [48.0, 60.123456]
    predictions[2, 14] = [-1.0, 0.0]  # clipped to 0
    predictions[2, 1] = [0.0, 38.5]
    out = str(tmp_path / "sub.csv")
    submission.write_keypoint_submission(out, lookup, submission.keypoint_locations(lookup, [1, 2, 3], predictions))
    expected = b"RowId,Location\n1,30.2500\n2,96.0000\n3,60.1235\n4,0.0000\n5,38.5000\n"
    assert open(out, "rb").read() == expected
    assert submission.check_keypoint_submission(out, lookup) == []


def test_check_catches_wrong_row_count_order_and_range(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"))
    lookup = kaggle_fkd.read_lookup(folder)
    bad = tmp_path / "bad.csv"
    bad.write_text("RowId,Location\n1,3.0\n3,4.0\n2,100.0\n")
    problems = submission.check_keypoint_submission(str(bad), lookup)
    assert any("3 rows, IdLookupTable has 5" in p for p in problems)
    assert any("line 3: RowId '3', expected 2" in p for p in problems)
    assert any("line 4: Location '100.0'" in p for p in problems)
    bad.write_text("Id,Location\n")
    assert "header must be exactly 'RowId,Location'" in submission.check_keypoint_submission(str(bad), lookup)[0]


@pytest.mark.slow
def test_infer_and_submit_end_to_end(kaggle_run, tmp_path, capsys):
    _, folder, run = kaggle_run
    script = os.path.join(REPO, "infer_and_submit.py")
    out = str(tmp_path / "out" / "sub.csv")
    os.makedirs(os.path.dirname(out))
    done = subprocess.run(  # a real process
        [sys.executable, script, "--task", "kaggle15", "--run", run, "--out", out], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = open(out).read().splitlines()
    assert lines[0] == "RowId,Location" and [l.split(",")[0] for l in lines[1:]] == ["1", "2", "3", "4", "5"]
    assert all(0 <= float(l.split(",")[1]) <= 96 for l in lines[1:])
    assert [f for f in os.listdir(os.path.dirname(out)) if f.startswith("plot-") and f.endswith(".png")]
    check = ["--task", "kaggle15", "--check", out, "--data", folder]
    code, printed, _ = run_script("infer_and_submit", check, capsys)
    assert code == 0 and "valid submission" in printed
    open(out, "a").write("6,1.0\n")
    code, _, err = run_script("infer_and_submit", check, capsys)
    assert code == 2 and "6 rows, IdLookupTable has 5" in err
    assert len(err.strip().splitlines()) == 1
