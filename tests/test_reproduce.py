"""facekp.reproduce: a shipped model's chain of commands, resumed where it stopped."""

import os
import re
import sys

import pytest

from facekp import configs, reproduce
from facekp.errors import InputError

STEP_SCRIPT = """import os, sys
out, fail_flag = sys.argv[1], sys.argv[2]
if os.path.exists(fail_flag):
    os.remove(fail_flag)
    sys.exit(1)
open(out, "w").write("done")
"""


def test_a_failed_step_stops_the_chain_and_the_same_command_resumes_after_the_done_steps(tmp_path, monkeypatch, capsys):
    script = tmp_path / "step.py"
    script.write_text(STEP_SCRIPT)
    (tmp_path / "fail_once").write_text("")
    chain = (
        reproduce.Step("first", (str(script), "{work}/first", "{work}/never"), "{work}/first"),
        reproduce.Step("second", (str(script), "{work}/second", str(tmp_path / "fail_once")), "{work}/second"),
    )
    monkeypatch.setitem(reproduce.CHAINS, "toy", chain)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(InputError, match="toy: step second failed"):
        reproduce.rebuild("toy", str(work), str(tmp_path))
    assert (work / "first").exists() and not (work / "second").exists()
    capsys.readouterr()
    assert reproduce.rebuild("toy", str(work), str(tmp_path)) == str(work / "toy")
    out = capsys.readouterr().out
    assert "[1/2] first: done" in out and f"[2/2] second: {script}" in out and (work / "second").exists()


def test_a_field_marker_is_done_only_when_the_json_field_is_set(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"mirror_offsets": []}')
    assert not reproduce.is_done(f"{config}:mirror_offsets")
    config.write_text('{"mirror_offsets": [1.0, 2.0]}')
    assert reproduce.is_done(f"{config}:mirror_offsets") and not reproduce.is_done(f"{tmp_path}/none")


def test_every_chain_step_is_a_script_of_the_repository_and_names_known_recipes(monkeypatch, capsys):
    for model, chain in reproduce.CHAINS.items():
        for step in chain:
            assert os.path.isfile(os.path.join(reproduce.REPO, step.command[0])), step
            for name in re.findall(r"--config', '([a-z0-9_]+)", str(step.command)):
                assert name in configs.names(), name
        monkeypatch.setattr(sys, "argv", ["reproduce", model, "--work", "/nonexistent/w", "--dry-run"])
        reproduce.main()
        assert capsys.readouterr().out.count("/nonexistent/w") >= len(chain)
