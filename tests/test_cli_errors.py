"""What the commands print: one line with exit 2 for a run dir that cannot be written, an export of
nothing or a bad flag value (that train.py prints no TensorFlow start-up or graph-optimizer lines:
tests/test_train.py's end-to-end test)."""

import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf

from facekp import cli, train_loop
from facekp.data import images
from facekp.errors import InputError, first_line
from tests.conftest import run_script, tiny_config, write_youtube68
from tests.test_train import _cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args, **kwargs):
    return subprocess.run([sys.executable, os.path.join(REPO, script), *args], capture_output=True, text=True, **kwargs)


@pytest.mark.slow
def test_export_of_a_missing_run_is_one_line(tmp_path):
    done = _run("export.py", "--run", str(tmp_path / "nothing"), "--format", "tflite")
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: {tmp_path / 'nothing'}: not a run directory (no config.json)"
    ]


def test_a_run_dir_that_cannot_be_written_is_an_error_before_step_0(tmp_path, monkeypatch):
    data = write_youtube68(str(tmp_path / "data"))
    readonly = tmp_path / "runs"
    os.makedirs(readonly)
    os.chmod(readonly, 0o555)
    if os.geteuid() == 0:  # root writes anyway: make the write fail as it does for everyone else

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(train_loop.tempfile, "TemporaryFile", denied)
    with pytest.raises(InputError, match=re.escape(f"{readonly}: cannot write the run there (Permission denied)")):
        train_loop.train(tiny_config(data), str(readonly / "x"))
    assert os.listdir(readonly) == []


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr", "0"], "--lr: must be a positive number, got 0.0"),
        (["--lr", "nan"], "--lr: must be a positive number, got nan"),
        (["--lr", "inf"], "--lr: must be a positive number, got inf"),
        (["--warmup-steps", "-1"], "--warmup-steps: must be a whole number from 0 to 2**31 - 1, got -1"),
        (["--warmup-steps", "9" * 400], "--warmup-steps: must be a whole number from 0 to 2**31 - 1"),
        (["--margin", "0"], "--margin: must be a number in (0, 10], got 0.0"),
        (["--margin", "1e9"], "--margin: must be a number in (0, 10], got 1000000000.0"),
        (["--rotation", "1e9"], "--rotation: must be a number of degrees in [0, 180], got 1000000000.0"),
        (["--steps", "99999999999999999999"], "--steps: must be a whole number from 1 to 2**31 - 1"),
        (["--seed", "-5"], "--seed: must be a whole number from 0 to 2**32 - 1, got -5"),
        (["--input-size", "100000"], "--input-size: must be a number of pixels from 1 to 1024, got 100000"),
        (["--face-crop", "middle", "--task", "identity"], "--face-crop: invalid choice: 'middle'"),
        (["--model", "vgg"], "--model: invalid choice: 'vgg'"),
        (["--loss", "huber"], "--loss: invalid choice: 'huber'"),
        (["--head", "dense"], "--head: invalid choice: 'dense'"),
        (["--model", "seednet", "--head", "heatmap"], "--head heatmap: a resnet head (--model seednet has its own)"),
        (["--task", "identity", "--model", "seednet"], "--model: unknown value 'seednet' (choose from resnet)"),
        (["--groups", "people.txt"], "--groups: kaggle15 only (keypoints68 reads each image's person"),
    ],
)
def test_bad_values_are_refused_before_any_data_is_read(tmp_path, capsys, flags, message):
    """The data folder does not exist: the value is refused first, in one line."""
    code, err = _cli(["--run", str(tmp_path / "run"), "--data", str(tmp_path / "missing")] + flags, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "run")


def test_tensorflow_internals_never_reach_our_messages(tmp_path):
    raw = tf.errors.InvalidArgumentError(
        None,
        None,
        "{{function_node __wrapped__IteratorGetNext_output_types_2_device_/job:localhost/replica:0}} "
        "Input is empty.\n\t [[{{node DecodeImage}}]] [Op:IteratorGetNext] name: ",
    )
    assert first_line(raw) == "Input is empty."
    mapped = tf.errors.InvalidArgumentError(
        None,
        None,
        "Error in user-defined function passed to ParallelMapDatasetV2:1 transformation with iterator: "
        "Iterator::Root::ParallelMapV2: Integer division by zero",
    )
    assert first_line(mapped) == "Integer division by zero"
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(InputError) as error:
        images.decode_crops([str(tmp_path / "bad.jpg")], [[10.0, 10.0]], [20.0], 16, 1)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'bad.jpg'}: unreadable image (") and "{{" not in message
    assert "[Op:" not in message and len(message.splitlines()) == 1


def test_an_interrupt_a_command_does_not_handle_is_one_line_and_exit_130(capsys):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        cli.run_main(interrupted, quiet=False)
    assert stopped.value.code == 130 and capsys.readouterr().err == "interrupted\n"


@pytest.mark.parametrize("script", ["predict", "verify", "infer_and_submit", "label", "export", "ensemble"])
def test_a_bad_command_line_is_one_line_for_every_command(script, capsys):
    code, _, err = run_script(script, ["--no-such-flag"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and err.endswith("(see --help)\n"), (
        err
    )


@pytest.mark.parametrize(
    "script, args",
    [
        ("predict", ["photo.jpg"]),
        ("infer_and_submit", ["--task", "kaggle15"]),
        ("export", ["--run", "r", "--format", "slim"]),
        ("label", ["photos", "--run", "r"]),
    ],
)
def test_an_empty_out_or_run_is_refused_not_taken_as_the_default(script, args, capsys):
    code, _, err = run_script(script, ["--out", "", *args], capsys)
    assert code == 2 and err == "error: --out: empty (name the file or folder) (see --help)\n"
    if "--run" not in args:
        code, _, err = run_script(script, [*args, "--run", ""], capsys)
        assert code == 2 and err == "error: --run: empty (name the file or folder) (see --help)\n"


def test_predict_out_that_is_a_file_is_refused_first(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    code, _, err = run_script("predict", ["--out", str(tmp_path / "afile"), "photo.jpg"], capsys)
    assert (
        code == 2
        and err == f"error: {tmp_path / 'afile'}: not a folder (--out names the folder the CSV and plot go into)\n"
    )
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.mark.parametrize("value, identify", [("nan", True), ("-1", True), ("0", True), ("inf", True), ("0.5", False)])
def test_predict_threshold_is_a_distance_between_unit_embeddings_with_identify(value, identify, tmp_path, capsys):
    args = ["--threshold", value, *(["--identify", str(tmp_path)] if identify else []), "photo.jpg"]
    code, _, err = run_script("predict", args, capsys)
    assert code == 2 and err.startswith(f"error: --threshold {float(value)}: a distance in (0, 2]"), err
