"""A new user's first hour: train.py --help, the summary that ends a run, a finished run re-run."""

import re

import pytest

import train as train_cli
from facekp import tasks
from facekp.config import CONFIG_CLASSES

KEYPOINT_GROUP = "keypoint tasks (--task keypoints68, kaggle15)"
RECOGNITION_GROUP = "recognition tasks (--task identity, embedding)"


def _help_sections(capsys, monkeypatch):
    """train.py --help (unwrapped) as {section heading: {flag: its help text}}."""
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        train_cli.parse_args(["--help"])
    sections, heading, flag = {}, None, None
    for line in capsys.readouterr().out.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            heading = line[:-1]
            sections[heading] = {}
        elif heading and line.startswith("  -"):  # a flag, its help beside it or on the next line
            flag, _, text = line.strip().partition("  ")
            flag = flag.split()[0].rstrip(",")
            sections[heading][flag] = text.strip()
        elif heading and flag and line.strip():
            sections[heading][flag] = (sections[heading][flag] + " " + line.strip()).strip()
    return sections


def test_help_shows_each_default_once_and_never_empty_or_by_class_name(capsys, monkeypatch):
    sections = _help_sections(capsys, monkeypatch)
    helps = {flag: text for flags in sections.values() for flag, text in flags.items()}
    assert len(helps) > 40
    for flag, text in helps.items():
        assert text.count("default:") <= 1, (flag, text)
        assert "(default: )" not in text and "Config" not in text, (flag, text)
    assert helps["--task"].endswith("(default: keypoints68)")
    assert helps["--data"].endswith("(default: $FACEKP_DATA/<the task's folder>)")
    assert helps["--input-size"].endswith("(default: 96 for keypoint tasks, 64 for recognition tasks)")
    assert helps["--deterministic"].endswith("(default: off)")
    assert helps["--init-from"].endswith("best checkpoint")  # no default to show


def test_help_groups_the_flags_by_task(capsys, monkeypatch):
    sections = _help_sections(capsys, monkeypatch)
    assert list(sections)[-3:] == ["common to every task", KEYPOINT_GROUP, RECOGNITION_GROUP]
    assert {"--steps", "--input-size", "--rotation", "--width"} <= set(sections["common to every task"])
    assert {"--loss", "--head", "--margin", "--groups"} == set(sections[KEYPOINT_GROUP])
    assert {"--dropout", "--face-crop", "--classify-data", "--triplet-margin"} <= set(sections[RECOGNITION_GROUP])
    assert {"--run", "--config"} <= set(sections["options"])


def test_each_task_is_in_its_config_class_family():
    for name, task in tasks.TASKS.items():
        assert name in task.config_class.TASKS, name
    listed = [name for cls in CONFIG_CLASSES.values() for name in cls.TASKS]
    assert sorted(listed) == sorted(tasks.TASKS)
    assert all(re.fullmatch("[a-z]+", cls.FAMILY) for cls in CONFIG_CLASSES.values())
