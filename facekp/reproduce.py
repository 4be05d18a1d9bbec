"""Rebuild a shipped model from ../shared/data alone, from scratch, step by step:

    python -m facekp.reproduce keypoints68 --work runs/repro68 [--data ../shared/data]

Each step is one of the repository's own commands (train.py with a recipe, label.py, the mirror
calibration, export.py), run in its own process under WORK; a step whose output is complete is
skipped, so the same command resumes an interrupted rebuild where it stopped (train.py itself
resumes a run from its newest checkpoint). The model ends in WORK/<model>; `--dry-run` prints the
commands. Runs from a checkout (it calls the repository's scripts).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass

from facekp.cli import ArgumentParser, run_main
from facekp.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Step:
    """A command (the script and its arguments; {work} and {data} filled in) and the file whose
    existence says it is done."""

    name: str
    command: tuple[str, ...]
    done_when: str


def _trained(run: str) -> str:
    return f"{run}/best/checkpoint"


# keypoints68: plain68 from scratch (11.5 min), wild68 from it (8 min), its labels of LFW (8 min),
# the student on them (30 min), the student fine-tuned on the human labels (8 min), its mirrored
# pass calibrated (1 min), exported.
CHAINS = {
    "keypoints68": (
        Step("plain68", ("train.py", "--config", "plain68", "--run", "{work}/plain68"), _trained("{work}/plain68")),
        Step(
            "wild68",
            ("train.py", "--config", "wild68", "--init-from", "{work}/plain68", "--run", "{work}/wild68"),
            _trained("{work}/wild68"),
        ),
        Step(
            "labels",
            ("label.py", "{data}/lfw", "--run", "{work}/wild68", "--convention", "300w", "--out", "{work}/labels_lfw"),
            "{work}/labels_lfw/training_frames_keypoints.csv",
        ),
        Step(
            "student",
            (
                "train.py",
                "--config",
                "wild68_student",
                "--init-from",
                "{work}/wild68",
                "--extra-data",
                "{data}/youtube-faces-68,{work}/labels_lfw",
                "--run",
                "{work}/student",
            ),
            _trained("{work}/student"),
        ),
        Step(
            "finetune",
            ("train.py", "--config", "wild68_finetune", "--init-from", "{work}/student", "--run", "{work}/finetune"),
            _trained("{work}/finetune"),
        ),
        Step(
            "mirror",
            ("benchmarks/calibrate_mirror.py", "--run", "{work}/finetune", "--write"),
            "{work}/finetune/config.json:mirror_offsets",
        ),
        Step(
            "export",
            ("export.py", "--run", "{work}/finetune", "--format", "slim", "--out", "{work}/keypoints68"),
            "{work}/keypoints68/config.json",
        ),
    )
}


def is_done(marker: str) -> bool:
    """A step's output is there: a file, or (`FILE:field`) a JSON file whose field is set."""
    path, _, field = marker.partition(":")
    if not os.path.isfile(path):
        return False
    if not field:
        return True
    with open(path) as f:
        return bool(json.load(f).get(field))


def rebuild(model: str, work: str, data: str, dry_run: bool = False) -> str:
    """Run the chain of `model` under `work`, skipping finished steps; the folder of the model."""
    if not os.path.isfile(os.path.join(REPO, "train.py")):
        raise InputError(f"{REPO}: not a facekp checkout (no train.py): reproduce runs the repository's scripts")
    values = {"work": os.path.abspath(work), "data": os.path.abspath(data)}
    env = {**os.environ, "FACEKP_DATA": values["data"]}
    for number, step in enumerate(CHAINS[model], start=1):
        command = [sys.executable] + [part.format(**values) for part in step.command]
        command[1] = os.path.join(REPO, command[1])
        if is_done(step.done_when.format(**values)):
            print(f"[{number}/{len(CHAINS[model])}] {step.name}: done")
            continue
        print(f"[{number}/{len(CHAINS[model])}] {step.name}: {' '.join(command[1:])}", flush=True)
        if not dry_run and subprocess.run(command, env=env).returncode != 0:
            raise InputError(f"{model}: step {step.name} failed (its own message is above); run again to resume")
    return os.path.join(values["work"], model)


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=sorted(CHAINS))
    parser.add_argument("--work", required=True, help="folder of the chain's runs and labels (resumed if there)")
    parser.add_argument(
        "--data", default=os.environ.get("FACEKP_DATA", "../shared/data"), help="the shared data folder"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the steps and their state, run nothing")
    args = parser.parse_args()
    print(f"{args.model}: {rebuild(args.model, args.work, args.data, args.dry_run)}")


if __name__ == "__main__":
    run_main(main, quiet=False)
