"""Embedding ensembles: trained embedding runs side by side as one run (models.recognition.embedding_ensemble).

Each member embeds the same aligned face; the ensemble's embedding is theirs concatenated and scaled
to unit length, so everything that reads an embedding run (verify.py, predict.py --identify, the
LFW 2017 SVM, export.py --format slim) reads an ensemble too. Its threshold and SVM are fitted
anew on its own embeddings, as a trained run's are after training:

    make_ensemble(["runs/arc128F", "runs/arc128A"], "runs/ens128")
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from facekp import models, tasks
from facekp.checkpoints import load_run, write_config
from facekp.config import RecognitionConfig, check_ensemble, load, to_json
from facekp.data import identities
from facekp.errors import InputError
from facekp.export import replace_atomically, save_weights
from facekp.fileio import atomic_write_bytes, atomic_write_json, writer_lock
from facekp.inference import compiled_predict

MEMBERS_FILE = "ensemble.json"  # the member run directories an ensemble was made of, as given


def ensemble_config(
    run_dirs: Sequence[str], configs: Sequence[RecognitionConfig], classify_data: str
) -> RecognitionConfig:
    """The ensemble's config: the first member's (its face, data and people; its training fields
    are the first member's), with every member's config in `members` and the embedding as long as
    theirs together; members that cannot stand side by side are refused."""
    if len(configs) < 2:
        raise InputError("an ensemble needs two or more --member runs")
    check_ensemble(configs, run_dirs)
    return dataclasses.replace(
        configs[0].for_inference(),
        members=tuple(to_json(cfg.for_inference()) for cfg in configs),
        embedding_dim=sum(cfg.embedding_dim for cfg in configs),
        classify_data=classify_data,
        init_from="",
    )


def check_paths(run_dirs: Sequence[str], out_dir: str) -> None:
    """Each member once, and a new out_dir outside every member."""
    real = [os.path.realpath(run_dir) for run_dir in run_dirs]
    twice = [run_dir for i, run_dir in enumerate(run_dirs) if real[i] in real[:i]]
    if twice:
        raise InputError(f"{twice[0]}: given twice as a --member")
    if os.path.exists(out_dir):
        raise InputError(f"{out_dir}: exists already; choose a new --run")
    out = os.path.realpath(out_dir)
    inside = [run_dir for run_dir, path in zip(run_dirs, real) if os.path.commonpath([out, path]) == path]
    if inside:
        raise InputError(f"{out_dir}: inside the member {inside[0]}; choose a --run outside the members")


def trained_people(run_dirs: Sequence[str], configs: Sequence[RecognitionConfig]) -> set[str]:
    """Everyone any member trained on: its saved list (as it trained), else rebuilt from its config."""
    people = set()
    for run_dir, cfg in zip(run_dirs, configs):
        saved = identities.saved_trained_people(run_dir)
        people |= saved if saved is not None else identities.trained_people(cfg)
    return people


def make_ensemble(run_dirs: Sequence[str], out_dir: str, classify_data: str | None = None) -> dict:
    """Write the ensemble of `run_dirs` (their best weights) to the new `out_dir` (whole, or not at
    all): config.json, weights, its threshold on the members' validation people, the SVM on
    `classify_data` (default: the first member's --classify-data) and everyone its members trained on.
    Another process making `out_dir` meanwhile is refused."""
    with writer_lock(out_dir):  # checked and written by one process at a time
        return _make_ensemble(run_dirs, out_dir, classify_data)


def _make_ensemble(run_dirs, out_dir, classify_data):
    check_paths(run_dirs, out_dir)
    configs = [load(run_dir) for run_dir in run_dirs]  # all checked before any weights are read
    if classify_data is None:
        classify_data = getattr(configs[0], "classify_data", "")
    cfg = ensemble_config(run_dirs, configs, classify_data)
    model = models.build(cfg)
    for i, run_dir in enumerate(run_dirs):
        _, member = load_run(run_dir)
        for target, source in zip(model.get_layer(f"member{i}").weights, member.weights, strict=True):
            target.assign(source)
    task = tasks.get("embedding")
    task.check_classify_data(cfg)
    val = task.val_arrays(cfg, task.validation_faces(cfg))  # the members' own validation people
    people = "".join(f"{name}\n" for name in sorted(trained_people(run_dirs, configs)))
    summary = {}

    def write(tmp):
        write_config(tmp, cfg)
        save_weights(model, tmp)
        atomic_write_json(os.path.join(tmp, MEMBERS_FILE), {"members": list(run_dirs)})
        summary.update(task.after_training(cfg, tmp, compiled_predict(model), val))
        atomic_write_bytes(os.path.join(tmp, identities.TRAINED_PEOPLE_FILE), people.encode())

    replace_atomically(out_dir, write)
    return summary
