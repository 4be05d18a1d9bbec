"""Named recipes (facekp/configs): every one is a valid config, `train.py --config NAME` starts
from it with flags overriding, and the same command resumes the run."""

import json
import os
import sys

import pytest

import train as train_cli

from facekp import configs
from facekp.config import check_fields
from facekp.errors import InputError
from tests.conftest import FAST_MODEL, write_youtube68
from tests.test_train import _cli


@pytest.mark.parametrize("name", configs.names())
def test_every_recipe_and_its_smoke_twin_is_a_valid_config(name, monkeypatch):
    monkeypatch.setenv("FACEKP_DATA", "/data")
    cfg = check_fields(configs.get(name))
    assert (cfg.steps == 20) == name.endswith("_smoke")
    assert "$FACEKP_DATA" not in json.dumps(cfg.__dict__)


def test_a_recipe_path_needs_facekp_data_or_its_flag(monkeypatch):
    monkeypatch.delenv("FACEKP_DATA", raising=False)
    with pytest.raises(
        InputError, match=r"--config kaggle15: --groups \$FACEKP_DATA/.*: set FACEKP_DATA, or give --groups"
    ):
        configs.get("kaggle15")
    assert configs.get("kaggle15", groups="names.txt").groups == "names.txt"


def _train(args, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py"] + args)
    train_cli.main()


@pytest.mark.slow
def test_train_from_a_recipe_with_flags_then_resume_with_the_same_command(tmp_path, capsys, monkeypatch):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    # seednet traces fastest; the recipe's resnet width field stays in the config
    command = [
        "--config",
        "plain68_smoke",
        "--run",
        run,
        "--data",
        data,
        *FAST_MODEL,
        "--width",
        "8",
        "--batch-size",
        "8",
    ]
    _train(command + ["--steps", "4"], monkeypatch)
    with open(os.path.join(run, "config.json")) as f:
        saved = json.load(f)
    assert (saved["width"], saved["scale_jitter"], saved["steps"]) == (8, 0.25, 4)  # flag, recipe, flag
    _train(command + ["--steps", "6"], monkeypatch)
    assert "from step 4" in capsys.readouterr().out  # resumed: --steps only steers the loop
    with open(os.path.join(run, "config.json")) as f:  # as benchmarks/calibrate_mirror.py --write leaves it
        calibrated = {**json.load(f), "mirror_offsets": [0.5] * 136, "mirror_calibrated_for": "weights x"}
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump(calibrated, f)
    _train(command + ["--steps", "6", "--refine-margin", "1.2"], monkeypatch)  # finished: nothing to train
    assert "already at its last step" in capsys.readouterr().out
    with open(os.path.join(run, "config.json")) as f:
        saved = json.load(f)
    assert (saved["steps"], saved["refine_margin"]) == (6, 1.2)  # the run-control values the run now has
    assert (saved["mirror_offsets"], saved["mirror_calibrated_for"]) == ([0.5] * 136, "weights x")  # kept
    code, err = _cli(command[:-4], capsys)  # the recipe's own width and input size: another run
    assert code == 2 and "--width (8 -> 16)" in err
