"""A real multi-worker run: two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.conftest import TINY_MODEL, flag_words, read_jsonl, write_youtube68

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 12
DEADLINE_S = 240  # for each group of processes; they are killed past it

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {repo!r})
    from facekp.train_loop import train
    from tests.conftest import tiny_config
    cfg = tiny_config({data!r}, strategy={strategy!r}, steps={steps}, log_every=1, ckpt_every=2, eval_every=4,
                      grad_clip=0.0, deterministic=True)
    print("RESULTS " + json.dumps(train(cfg, {run!r})), flush=True)
""")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start(data, run, tmp, strategy="multiworker", workers=2):
    """The training processes of one run: `workers` of a cluster on free local ports, or one."""
    script = SCRIPT.format(repo=REPO, data=data, strategy=strategy, steps=STEPS, run=run)
    ports = free_ports(workers)
    procs = []
    for index in range(workers):
        env = dict(os.environ, TMPDIR=str(tmp))
        if strategy == "multiworker":
            cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        )
    return procs


def finish(procs):
    """Each process's (exit code, output), waiting until DEADLINE_S; always reaped."""
    deadline = time.monotonic() + DEADLINE_S
    try:
        return [
            (proc.wait(timeout=max(1.0, deadline - time.monotonic())), proc.stdout.read().decode()) for proc in procs
        ]
    finally:
        stop(procs)


def stop(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def results_of(output):
    (line,) = [line for line in output.splitlines() if line.startswith("RESULTS ")]
    return json.loads(line[len("RESULTS ") :])


def losses(run):
    """{step: training loss} of a run's log; a step logged again after a resume keeps its last value."""
    rows = read_jsonl(os.path.join(run, "metrics.jsonl"))
    return {row["step"]: row["loss"] for row in rows if row["split"] == "train"}


@pytest.mark.slow
def test_two_workers_train_as_one_process_and_resume_after_a_kill(tmp_path):
    """One pair of workers, killed once the chief has saved step 2 and restarted: together its two
    parts train as one process with the same global batch does, and only the chief writes."""
    data = write_youtube68(str(tmp_path / "data"))
    single, pair = str(tmp_path / "single"), str(tmp_path / "pair")
    before, after = tmp_path / "tmp_before", tmp_path / "tmp_after"
    before.mkdir()
    after.mkdir()

    ((code, single_out),) = finish(start(data, single, before, strategy="default", workers=1))
    assert code == 0, single_out[-3000:]

    # Kill the second worker once the chief has saved step 2, then the chief (stuck without it).
    procs = start(data, pair, before)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not os.path.exists(os.path.join(pair, "ckpt", "ckpt-2.index")):
            assert time.monotonic() < deadline and procs[0].poll() is None, "the chief never saved step 2"
            time.sleep(0.01)
        procs[1].send_signal(signal.SIGKILL)
        time.sleep(3)
    finally:
        stop(procs)
    resumed = finish(start(data, pair, after))
    for code, out in resumed:
        assert code == 0, out[-3000:]
        assert "MultiWorkerMirroredStrategy over 2 replicas" in out
        assert f"resuming {pair} from step " in out
    assert results_of(resumed[0][1]) == results_of(resumed[1][1])  # the workers hold the same weights
    for name, value in results_of(resumed[0][1]).items():  # ... as one process with the same global batch
        np.testing.assert_allclose(value, results_of(single_out)[name], rtol=1e-3)
    trained, reference = losses(pair), losses(single)
    assert sorted(trained) == sorted(reference) == list(range(1, STEPS + 1))
    np.testing.assert_allclose([trained[s] for s in reference], list(reference.values()), rtol=1e-3, atol=1e-4)
    assert sorted(os.listdir(os.path.join(pair, "ckpt"))) == sorted(os.listdir(os.path.join(single, "ckpt")))
    assert not os.listdir(after)  # the other worker's own saves and logs are gone


def train_py(data, run, tf_config, steps=2):
    """A train.py worker process of a multi-worker run, on `tf_config` (a dict, or TF_CONFIG's text)."""
    flags = flag_words(run=run, data=data, strategy="multiworker", steps=steps, eval_every=steps, batch_size=8)
    command = [sys.executable, os.path.join(REPO, "train.py"), *flags, *TINY_MODEL]
    text = tf_config if isinstance(tf_config, str) else json.dumps(tf_config)
    env = dict(os.environ, TF_CONFIG=text)
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_train_py_runs_two_workers_and_a_bad_tf_config_is_one_line(tmp_path):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    procs = [train_py(data, run, {"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(2)]
    for code, out in finish(procs):
        assert code == 0, out[-3000:]
        assert "MultiWorkerMirroredStrategy over 2 replicas" in out and "Traceback" not in out
    assert os.path.isfile(os.path.join(run, "ckpt", "ckpt-2.index"))
    bad = {
        "{not json": "error: TF_CONFIG: not JSON (",
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 2}}): (
            "error: TF_CONFIG: task worker 2 is not in its cluster (2 worker tasks: index 0 to 1)"
        ),
    }
    for tf_config, message in bad.items():
        ((code, out),) = finish([train_py(data, str(tmp_path / "bad"), tf_config)])
        (line,) = [line for line in out.splitlines() if not line.startswith("config: ")]  # stderr's
        assert code == 2 and line.startswith(message), out
        assert not os.path.exists(tmp_path / "bad")
