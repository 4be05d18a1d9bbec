"""One writer at a time: train.py on a run, export.py, ensemble.py and label.py on their --out
(another process holding the lock, as fileio.writer_lock takes it, is refused with its pid; a
holder killed with kill -9 blocks nobody), and the temporary folders of a killed writer are
removed by the next one, never those of a live one."""

import contextlib
import os
import signal
import subprocess
import sys

import pytest

from facekp import fileio
from facekp.config import SHIPPED_KEYPOINTS
from tests.conftest import FAST_MODEL, run_script, write_youtube68
from tests.test_ensemble import members  # noqa: F401 (a fixture)
from tests.test_labelling import photo_folder  # noqa: F401 (a fixture)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A second process: it takes `target`'s lock, says so, and (with "write") starts replacing the
# folder atomically, then waits to be killed.
HOLDER = """
import os, sys, time
from facekp.fileio import writer_lock
target, write = sys.argv[1], sys.argv[2:] == ["write"]
with writer_lock(target):
    def stuck(tmp):
        open(os.path.join(tmp, "half-written"), "w").close()
        print("writing", flush=True)
        time.sleep(600)
    if write:
        from facekp.export import replace_atomically
        replace_atomically(target, stuck)
    print("locked", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def held(target, write=False):
    """A real second process holding `target`'s lock (and, with `write`, half-way through writing
    it) until the block ends: then it is killed with kill -9, as a crash would end it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target), *(["write"] if write else [])],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == ("writing\n" if write else "locked\n")
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


def refusal(target, proc):
    return f"error: {target}: another process (pid {proc.pid}) is writing it; wait for it to end, or stop it\n"


@pytest.mark.slow
def test_a_second_training_of_a_run_is_refused_at_once_and_a_killed_one_blocks_nothing(tmp_path, capsys):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "runs" / "x")
    args = ["--run", run, "--data", data, *FAST_MODEL, "--steps", "2", "--eval-every", "2"]
    with held(run) as other:
        code, out, err = run_script("train", args, capsys)
        assert (code, err) == (2, refusal(run, other)) and "data:" not in out  # before any data is read
        assert not os.path.exists(run)
    code, out, err = run_script("train", args, capsys)  # the killed holder's lock is gone with it
    assert code == 0 and f"starting {run} from scratch" in out, err
    assert os.listdir(tmp_path / "runs") == ["x"]  # the lock file goes with the lock


@pytest.mark.slow
def test_export_ensemble_and_label_refuse_an_out_that_another_process_writes(
    trained_run,
    members,  # noqa: F811
    photo_folder,  # noqa: F811
    tmp_path,
    capsys,
):
    _, run = trained_run
    commands = {
        "export": ["--run", run, "--format", "slim", "--out", str(tmp_path / "slim")],
        "ensemble": ["--member", members[0], "--member", members[1], "--run", str(tmp_path / "ens")],
        "label": ["--run", SHIPPED_KEYPOINTS, "--out", str(tmp_path / "labels"), str(photo_folder)],
    }
    for script, args in commands.items():
        out = args[args.index("--run" if script == "ensemble" else "--out") + 1]
        with held(out) as other:
            code, _, err = run_script(script, args, capsys)
            assert (code, err) == (2, refusal(out, other)), script
            assert not os.path.exists(out)
    code, _, err = run_script("export", commands["export"], capsys)
    assert code == 0, err


@pytest.mark.slow
def test_a_killed_writers_temporary_folders_are_removed_by_the_next_never_a_live_ones(trained_run, tmp_path, capsys):
    _, run = trained_run
    exports = tmp_path / "exports"
    with held(exports / "a", write=True):
        (live,) = [name for name in os.listdir(exports) if name.startswith(".tmp-")]
        assert live.startswith(".tmp-a-")  # a temporary folder named after what it becomes
        code, _, err = run_script("export", ["--run", run, "--format", "slim", "--out", exports / "b"], capsys)
        assert code == 0, err
        assert sorted(os.listdir(exports)) == [".a.lock", live, "b"]  # another export's, alive: kept
    code, _, err = run_script("export", ["--run", run, "--format", "savedmodel", "--out", exports / "a"], capsys)
    assert code == 0, err
    assert sorted(os.listdir(exports)) == ["a", "b"]  # the killed export's temporary folder is gone


def test_an_earlier_folder_moved_aside_by_a_killed_swap_is_put_back(tmp_path):
    """A kill between moving the earlier folder aside and moving the new one in leaves both under
    temporary names: the earlier one comes back, the other goes."""
    aside = tmp_path / ".tmp-out-abcd1234-old"
    aside.mkdir()
    (aside / "a.txt").write_text("earlier")
    (tmp_path / ".tmp-out-abcd1234").mkdir()
    (tmp_path / ".tmp-outside-abcd1234").mkdir()  # another folder's
    with fileio.writer_lock(str(tmp_path / "out")):
        assert sorted(os.listdir(tmp_path)) == [".out.lock", ".tmp-outside-abcd1234", "out"]
    assert (tmp_path / "out" / "a.txt").read_text() == "earlier"


def test_a_lock_released_leaves_no_file_and_is_free_again(tmp_path):
    target = str(tmp_path / "out")
    for _ in range(2):
        with fileio.writer_lock(target):
            assert os.listdir(tmp_path) == [".out.lock"]
        assert os.listdir(tmp_path) == []
