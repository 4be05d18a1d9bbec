"""Bad data refused with one line naming the file (and line): degenerate keypoints, encodings,
paths out of the data folder, Kaggle cells and zips, submission RowIds, atomic writes, clear_ckpts.sh."""

import errno
import os
import re
import shutil
import stat
import subprocess
import zipfile

import numpy as np
import pytest

from facekp import cli, fileio, submission
from facekp.data import identities, kaggle_fkd, youtube68
from facekp.errors import InputError
from facekp.tasks.kaggle15 import read_groups
from facekp.train_loop import train
from tests.conftest import run_script, tiny_config, write_youtube68
from tests.test_kaggle15 import write_kaggle

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def yt(tmp_path):
    """4 faces: lines 2-5 of the CSV are Person_00_00, Person_00_01, Person_01_00, Person_01_01."""
    return write_youtube68(str(tmp_path / "yt"), people=2, per_person=2)


def edit_line(path, number, change, encoding="utf-8"):
    """Replace line `number` (from 1) of a text file by change(line), written in `encoding`."""
    lines = open(path, encoding="latin-1").read().splitlines()
    lines[number - 1] = change(lines[number - 1])
    open(path, "w", encoding=encoding).write("\n".join(lines) + "\n")


def yt_csv(folder):
    return os.path.join(folder, youtube68.CSV_NAME)


def set_points(points):
    """A row change: keep the file name, write these (68, 2) keypoints."""
    return lambda line: line.split(",", 1)[0] + "," + ",".join(f"{v:g}" for v in np.ravel(points))


@pytest.mark.parametrize(
    "points, message",
    [
        (np.full((68, 2), 40.0), "all keypoints at one point"),
        (np.stack([np.full(68, 40.0), np.arange(68.0)], axis=1), "keypoint box has zero width"),
        (np.stack([np.arange(68.0), np.full(68, 40.0)], axis=1), "keypoint box has zero height"),
    ],
)
def test_degenerate_keypoints_are_refused_when_read(yt, points, message):
    edit_line(yt_csv(yt), 3, set_points(points))
    with pytest.raises(InputError, match=rf"keypoints.csv: line 3 \(Person_00_01.jpg\): {message}"):
        youtube68.load(yt)


@pytest.mark.parametrize("name", ["../outside.jpg", "training/../../outside.jpg", "ABSOLUTE"])
def test_image_names_leaving_the_data_folder_are_refused(yt, tmp_path, name):
    outside = tmp_path / "outside.jpg"
    shutil.copy(os.path.join(yt, "training", "Person_00_00.jpg"), outside)  # it exists: only the name is wrong
    name = str(outside) if name == "ABSOLUTE" else name
    edit_line(yt_csv(yt), 2, lambda line: name + line[line.index(",") :])
    with pytest.raises(InputError, match=r"line 2 \(.*outside.jpg\): image name leaves the image folder"):
        youtube68.load(yt)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_68_point_csv_reads_in_utf8_and_latin1(yt, encoding):
    os.rename(os.path.join(yt, "training", "Person_00_00.jpg"), os.path.join(yt, "training", "José_00.jpg"))
    edit_line(yt_csv(yt), 2, lambda line: "José_00.jpg" + line[line.index(",") :], encoding)
    ann = youtube68.load(yt)
    assert ann.paths[0].endswith("José_00.jpg") and ann.groups[0] == "José"


def test_text_files_read_in_latin1(tmp_path):
    """The groups file and target_names.txt: accented names in Latin-1 read as the same names."""
    groups = tmp_path / "groups.txt"
    groups.write_bytes("José\nRenée\n".encode("latin-1"))
    assert read_groups(str(groups), 2) == ["José", "Renée"]
    (tmp_path / "target_names.txt").write_bytes("Zoë Ball\n".encode("latin-1"))
    assert identities.read_target_names(str(tmp_path)) == ["Zoë Ball"]


def test_kaggle_files_read_with_a_bom(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    for name in ("training.csv", "test.csv", "IdLookupTable.csv"):
        data = open(os.path.join(folder, name), "rb").read()
        open(os.path.join(folder, name), "wb").write(b"\xef\xbb\xbf" + data)
    assert kaggle_fkd.read_training(folder)[0].shape == (12, 96, 96, 1)
    assert list(kaggle_fkd.read_test(folder)[0]) == [1, 2, 3]
    assert len(kaggle_fkd.read_lookup(folder)) == 5


@pytest.mark.parametrize("zipped", [False, True])
def test_kaggle_files_in_latin1_are_read_not_a_unicode_error(tmp_path, zipped):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    edit_line(os.path.join(folder, "training.csv"), 3, lambda line: "é" + line[line.index(",") :], "latin-1")
    edit_line(os.path.join(folder, "test.csv"), 2, lambda line: "é" + line[line.index(",") :], "latin-1")
    edit_line(os.path.join(folder, "IdLookupTable.csv"), 2, lambda line: line.replace("left", "léft"), "latin-1")
    name = "training.csv"
    if zipped:
        with zipfile.ZipFile(os.path.join(folder, "training.zip"), "w") as archive:
            archive.write(os.path.join(folder, "training.csv"), "training.csv")
        os.remove(os.path.join(folder, "training.csv"))
        name = "training.zip"
    with pytest.raises(InputError, match=f"{name}: line 3: left_eye_center_x is not a number: 'é'"):
        kaggle_fkd.read_training(folder)
    with pytest.raises(InputError, match="test.csv: line 2: ImageId 'é' is not a whole number"):
        kaggle_fkd.read_test(folder)
    with pytest.raises(InputError, match="IdLookupTable.csv: line 2: unknown FeatureName 'léft_eye_center_x'"):
        kaggle_fkd.read_lookup(folder)


@pytest.mark.parametrize(
    "name, line, edit, message",
    [
        (
            "IdLookupTable.csv",
            2,
            lambda l: "99999999999999999999999" + l[l.index(",") :],
            "RowId '99999999999999999999999'",
        ),
        (
            "IdLookupTable.csv",
            2,
            lambda l: "-1" + l[l.index(",") :],
            "RowId '-1' is not a whole number from 0 to 2**31 - 1",
        ),
        ("IdLookupTable.csv", 3, lambda l: "1" + l[l.index(",") :], "line 3: RowId 1 repeats an earlier line's"),
        ("IdLookupTable.csv", 2, lambda l: l.replace(",1,", ",1.5,", 1), "line 2: ImageId '1.5' is not a whole number"),
        ("test.csv", 3, lambda l: "1" + l[l.index(",") :], "test.csv: line 3: ImageId 1 repeats an earlier line's"),
    ],
)
def test_kaggle_ids_are_whole_numbers_and_row_ids_unique(tmp_path, name, line, edit, message):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    edit_line(os.path.join(folder, name), line, edit)
    read = kaggle_fkd.read_test if name == "test.csv" else kaggle_fkd.read_lookup
    with pytest.raises(InputError, match=re.escape(message)):
        read(folder)


def test_kaggle_training_rows_without_any_keypoint_are_refused(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    path = os.path.join(folder, "training.csv")
    with open(path) as f:
        lines = f.read().splitlines()
    header, rows = lines[0], [",," * 15 + line.rsplit(",", 1)[1] for line in lines[1:]]
    with open(path, "w") as f:
        f.write("\n".join([header, *rows]) + "\n")
    with pytest.raises(InputError, match="training.csv: no labelled keypoints"):
        kaggle_fkd.read_training(folder)


def test_kaggle_empty_image_cell(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    edit_line(os.path.join(folder, "training.csv"), 4, lambda line: line.rsplit(",", 1)[0] + ",")
    with pytest.raises(InputError, match="training.csv: line 4: empty Image cell"):
        kaggle_fkd.read_training(folder)


@pytest.mark.parametrize(
    "members, message",
    [
        ({"README.txt": "no data here"}, "training.zip: no CSV file inside"),
        ({"a.csv": "x", "b.csv": "y"}, r"training.zip: 2 CSV files inside \(a.csv, b.csv\), expected one"),
        (None, "training.zip: unreadable zip file"),
    ],
)
def test_kaggle_zip_without_one_csv(tmp_path, members, message):
    path = tmp_path / "training.zip"
    if members is None:
        path.write_bytes(b"PK\x03\x04 truncated")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in members.items():
                archive.writestr(name, text)
    with pytest.raises(InputError, match=message):
        kaggle_fkd.read_training(str(tmp_path))


@pytest.mark.parametrize("row_id", ["1.0", "+1", "01", "1e0", " 1", "0", "-1", ""])
def test_check_refuses_row_ids_that_are_not_plain_integers(tmp_path, row_id):
    lookup = kaggle_fkd.read_lookup(write_kaggle(str(tmp_path / "k")))
    sub = tmp_path / "sub.csv"
    sub.write_text(f"RowId,Location\n1,3.0\n{row_id},4.0\n3,5.0\n4,6.0\n5,7.0\n")
    assert submission.check_keypoint_submission(str(sub), lookup) == [
        f"{sub}: line 3: RowId {row_id!r} is not a plain positive integer (1 such rows)"
    ]


def test_check_cli_is_one_line_and_exit_2(tmp_path, capsys):
    folder = write_kaggle(str(tmp_path / "k"))
    sub = tmp_path / "sub.csv"
    sub.write_bytes("RowId,Location\n1.0,3.0\n2,4.0\n3,5.0\n4,6.0\n5,\xe9\n".encode("latin-1"))
    code, _, err = run_script("infer_and_submit", ["--task", "kaggle15", "--check", sub, "--data", folder], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "line 2: RowId '1.0' is not a plain positive integer" in err
    assert "line 6: Location 'é'" in err


def _fail_replace(src, dst):
    raise OSError(errno.EXDEV, "Invalid cross-device link", src, dst)


def _fail_fsync(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "target, patch, message",
    [
        ("missing/sub.csv", None, "No such file or directory"),  # mkstemp in a folder that is not there
        ("sub.csv", ("replace", _fail_replace), "Invalid cross-device link"),  # an error naming the temporary file
        ("sub.csv", ("fsync", _fail_fsync), "No space left on device"),  # an error naming no file
    ],
)
def test_atomic_write_errors_name_the_users_path(tmp_path, monkeypatch, capsys, target, patch, message):
    (tmp_path / "folder").mkdir()
    path = str(tmp_path / target)
    if patch:
        monkeypatch.setattr(fileio.os, *patch)
    with pytest.raises(OSError) as raised:
        fileio.atomic_write_text(path, "RowId,Location\n")
    assert raised.value.filename == path and ".tmp-" not in str(raised.value)
    with pytest.raises(SystemExit) as code:
        cli.run_main(lambda: fileio.atomic_write_text(path, "RowId,Location\n"), quiet=False)
    assert code.value.code == 2 and capsys.readouterr().err == f"error: {path}: {message}\n"
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []


def test_an_atomic_write_refuses_a_folder_or_device_and_writes_through_a_link(tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    for path in (str(tmp_path / "folder"), str(tmp_path / "pipe"), os.devnull):  # os.devnull: a device
        with pytest.raises(SystemExit) as code:
            cli.run_main(lambda: fileio.atomic_write_text(path, "RowId,Location\n"), quiet=False)
        assert code.value.code == 2
        assert (
            capsys.readouterr().err
            == f"error: {path}: exists and is not a regular file (a folder, device or pipe): write to another name\n"
        )
    assert (tmp_path / "folder").is_dir() and stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)
    (tmp_path / "target.csv").write_text("old\n")
    os.symlink("target.csv", tmp_path / "link.csv")
    fileio.atomic_write_text(str(tmp_path / "link.csv"), "new\n")
    assert os.path.islink(tmp_path / "link.csv") and (tmp_path / "target.csv").read_text() == "new\n"
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []


def _clear_ckpts(script, cwd, *args):
    return subprocess.run(
        ["bash", script, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(cwd.parent / "home")},
    )


def _run_dir(path, config=True):
    path.mkdir(parents=True)
    if config:
        (path / "config.json").write_text("{}\n")
    return path


def test_clear_ckpts_resolves_paths_from_the_callers_folder(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    script = shutil.copy(os.path.join(REPO, "clear_ckpts.sh"), repo)
    beside_script = _run_dir(repo / "runs" / "exp1")
    caller = tmp_path / "work"
    mine, other = _run_dir(caller / "runs" / "exp1"), _run_dir(caller / "runs" / "exp2", config=False)
    elsewhere = _run_dir(tmp_path / "elsewhere" / "exp3")
    done = _clear_ckpts(script, caller, "-y", "runs/exp1", str(elsewhere))
    assert done.returncode == 0, done.stderr
    assert not mine.exists() and not elsewhere.exists() and beside_script.exists() and other.exists()
    done = _clear_ckpts(script, caller, "-y")  # no arguments: every run in the caller's ./runs
    assert done.returncode == 0 and not other.exists() and beside_script.exists()


def test_clear_ckpts_refuses_what_is_not_a_run(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    script = shutil.copy(os.path.join(REPO, "clear_ckpts.sh"), repo)
    (repo / "config.json").write_text("{}\n")
    caller = _run_dir(tmp_path / "work")  # the current folder is a run, and still refused
    home = _run_dir(tmp_path / "home")
    plain = _run_dir(tmp_path / "plain", config=False)
    for arg, message in [
        ("/", "the root folder"),
        (".", "the current folder"),
        (str(home), "the home folder"),
        (str(repo), "the facekp repository"),
        (str(plain), "not a run directory"),
        ("nope", "no such run directory"),
    ]:
        done = _clear_ckpts(script, caller, "-y", arg)
        assert done.returncode == 2 and done.stderr.startswith(f"error: {arg}: {message}"), (arg, done.stderr)
        assert len(done.stderr.splitlines()) == 1
    assert caller.exists() and home.exists() and repo.exists() and plain.exists()
    shipped = _run_dir(repo / "facekp" / "shipped" / "keypoints68")
    done = _clear_ckpts(script, caller, "-y", str(shipped))
    assert done.returncode == 2 and done.stderr.startswith(f"error: {shipped}: a model this repository ships")
    target = _run_dir(tmp_path / "other" / "realrun")
    os.symlink(target, caller / "link")
    done = _clear_ckpts(script, caller, "-y", "link")  # the link goes, the run it names stays
    assert done.returncode == 0 and not os.path.lexists(caller / "link") and target.exists() and shipped.exists()


def test_data_of_one_person_is_refused_before_a_run_dir_exists(tmp_path, capsys):
    data = write_youtube68(str(tmp_path / "data"), people=1)
    with pytest.raises(InputError, match=re.escape(f"{data}: 0 training / 4 validation images after the split")):
        train(tiny_config(data), str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def test_a_folder_in_place_of_a_kaggle_file_is_named_as_such(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    os.remove(os.path.join(folder, "IdLookupTable.csv"))
    os.mkdir(os.path.join(folder, "IdLookupTable.csv"))
    with pytest.raises(InputError, match=re.escape("IdLookupTable.csv: not a regular file")):
        kaggle_fkd.read_lookup(folder)


def test_a_kaggle_header_with_a_wrong_name_says_which_column(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"), zipped=False)
    edit_line(os.path.join(folder, "test.csv"), 1, lambda line: "Id,Image")
    with pytest.raises(InputError, match=re.escape("test.csv: line 1: header must be ImageId,Image")) as raised:
        kaggle_fkd.read_test(folder)
    assert str(raised.value).endswith("got column 1 is 'Id', not 'ImageId'")
