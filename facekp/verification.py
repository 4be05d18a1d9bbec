"""LFW's verification protocol for embedding runs: per fold of pairs.txt, accuracy at a threshold
chosen on the other folds, and ROC AUC; each fold judged only by a run that never trained on its
people (checked: the run's own data and exclusions say whom it trained on)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from facekp import metrics
from facekp.data import identities
from facekp.errors import InputError
from facekp.plots import save_figure
from facekp.recognise import Recogniser


def pair_distances(recogniser: Recogniser, folder: str, pairs: Sequence[identities.Pair]) -> np.ndarray:
    """Euclidean embedding distance of every pair; images read from folder/<name>/<name>_NNNN.jpg."""
    paths = sorted(
        {identities.pair_path(folder, p.name1, p.number1) for p in pairs}
        | {identities.pair_path(folder, p.name2, p.number2) for p in pairs}
    )
    embedding = dict(zip(paths, recogniser.outputs(recogniser.faces_of_files(paths))))
    return np.array(
        [
            np.linalg.norm(
                embedding[identities.pair_path(folder, p.name1, p.number1)]
                - embedding[identities.pair_path(folder, p.name2, p.number2)]
            )
            for p in pairs
        ]
    )


def evaluate_folds(fold_results: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[int, dict[str, float]]:
    """fold_results: {fold index: (distances, same)}. Each fold's threshold is chosen on the other
    folds' pairs (all folds judged, so no fold picks its own); returns per-fold figures."""
    if len(fold_results) < 2:
        raise InputError("verification needs at least two folds (the threshold is chosen on the others)")
    out = {}
    for fold, (distances, same) in fold_results.items():
        others = [f for f in fold_results if f != fold]
        threshold = metrics.best_threshold(
            np.concatenate([fold_results[f][0] for f in others]), np.concatenate([fold_results[f][1] for f in others])
        )
        out[fold] = metrics.verification_metrics(distances, same, threshold)
    return out


def check_no_overlap(recogniser: Recogniser, folds: Sequence[Sequence[identities.Pair]], run_dir: str) -> None:
    """A run may judge a fold only if it never trained on that fold's people."""
    trained = identities.saved_trained_people(run_dir)  # a shipped model: its data is not here
    overlap = identities.people_of_pairs(folds) & (
        trained if trained is not None else identities.trained_people(recogniser.cfg)
    )
    if overlap:
        raise InputError(
            f"{run_dir}: trained on {len(overlap)} people of the folds it would judge "
            f"(e.g. {sorted(overlap)[0]}); train with --exclude-people PAIRS.txt:FOLDS"
        )


def save_roc(path: str, fold_results: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
    """ROC curves (true positive rate against false positive rate) of every fold, with AUCs."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for fold, (distances, same) in sorted(fold_results.items()):
        fpr, tpr, _ = roc_curve(same, -distances)
        ax.plot(fpr, tpr, lw=1, label=f"fold {fold + 1} (AUC {roc_auc_score(same, -distances):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", c="gray")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="LFW pairs: ROC per fold")
    ax.legend(fontsize=7, loc="lower right")
    save_figure(path, fig, dpi=110)


def run_protocol(
    runs_and_folds: Sequence[tuple[str, str]], pairs_path: str, image_dir: str
) -> tuple[dict[int, dict[str, float]], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """[(run dir, folds it judges as on the command line, e.g. "1-5")] ->
    ({fold index: figures}, {fold index: (distances, same)})."""
    all_folds = identities.read_pairs(pairs_path)
    results = {}
    for run_dir, spec in runs_and_folds:
        folds = identities.parse_folds(spec, len(all_folds), pairs_path)
        recogniser = Recogniser(run_dir)
        if recogniser.cfg.task != "embedding":
            raise InputError(f"{run_dir}: a {recogniser.cfg.task} run, verification needs an embedding run")
        check_no_overlap(recogniser, [all_folds[f] for f in folds], run_dir)
        for f in folds:
            if f in results:
                raise InputError(f"fold {f + 1} is given to two runs")
            pairs = all_folds[f]
            results[f] = (pair_distances(recogniser, image_dir, pairs), np.array([p.same for p in pairs]))
    return evaluate_folds(results), results


def summary(per_fold: dict[int, dict[str, float]]) -> dict[str, Any]:
    accuracy = [r["verification_accuracy"] for r in per_fold.values()]
    return {
        "folds": len(per_fold),
        "accuracy_mean": float(np.mean(accuracy)),
        "accuracy_std": float(np.std(accuracy)),
        "auc_mean": float(np.mean([r["auc"] for r in per_fold.values()])),
    }


def default_image_dir(pairs_path: str) -> str:
    return os.path.dirname(os.path.abspath(pairs_path))
