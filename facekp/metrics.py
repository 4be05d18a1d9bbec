"""Keypoint metrics in numpy: NME (normalised mean error), RMSE, failure rate.

Keypoints are (N, K, 2) pixels, x then y; mask (N, K) marks labelled points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def nme_per_face(pred: np.ndarray, true: np.ndarray, mask: np.ndarray, norm_points: Sequence[int]) -> np.ndarray:
    """Mean point-to-point error over each face's labelled points / the normaliser distance.

    norm_points: the two indices whose distance normalises (outer eye corners 36/45 for iBUG-68).
    Faces without both normaliser points get NaN.
    """
    a, b = norm_points
    norm = np.linalg.norm(true[:, a] - true[:, b], axis=-1)
    has_norm = (mask[:, a] > 0) & (mask[:, b] > 0) & (norm > 0)
    dist = np.linalg.norm(np.nan_to_num(pred - true), axis=-1)  # (N, K)
    mean_dist = (dist * mask).sum(1) / np.maximum(mask.sum(1), 1)
    return np.where(has_norm, mean_dist / np.where(has_norm, norm, 1.0), np.nan)


def rmse(pred: np.ndarray, true: np.ndarray, mask: np.ndarray) -> float:
    """Root mean squared error over labelled coordinates (Kaggle's metric)."""
    sq = np.nan_to_num(pred - true) ** 2 * mask[..., None]
    return float(np.sqrt(sq.sum() / max(2 * mask.sum(), 1)))


def keypoint_metrics(
    pred: np.ndarray, true: np.ndarray, mask: np.ndarray, norm_points: Sequence[int], fail_at: float = 0.10
) -> dict[str, float]:
    """The validation summary: NME mean/median, failure rate, RMSE (input pixels)."""
    nme = nme_per_face(pred, true, mask, norm_points)
    nme = nme[np.isfinite(nme)]
    return {
        "nme": float(nme.mean()) if nme.size else float("nan"),
        "nme_median": float(np.median(nme)) if nme.size else float("nan"),
        "failure_rate": float((nme > fail_at).mean()) if nme.size else float("nan"),
        "rmse": rmse(pred, true, mask),
    }


def kaggle_subset_rmse(pred: np.ndarray, true: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """RMSE over rows with all points labelled, and over the partly labelled rows."""
    full = mask.sum(1) == mask.shape[1]
    return {
        "rmse_full": rmse(pred[full], true[full], mask[full]) if full.any() else float("nan"),
        "rmse_partial": rmse(pred[~full], true[~full], mask[~full]) if (~full).any() else float("nan"),
    }


# ---- Recognition metrics.

# Same-person validation pairs drawn per person (LFW's pairs.txt: 3,000 same pairs of 4,000-odd
# people with two or more photos).
SAME_PAIRS_PER_PERSON = 3


def classification_metrics(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 (every class present in `labels` counts equally) of predicted labels."""
    from sklearn.metrics import f1_score

    return {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(f1_score(labels, predicted, labels=np.unique(labels), average="macro", zero_division=0)),
    }


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold (same person when distance <= it) with the highest accuracy."""
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order].astype(np.int64)
    # Threshold between d[i] and d[i+1]: pairs 0..i called same. Accuracy = TP + TN over all.
    tp = np.cumsum(s)
    tn = (len(s) - s.sum()) - (np.arange(1, len(s) + 1) - tp)
    correct = np.concatenate([[len(s) - s.sum()], tp + tn])  # first entry: nothing called same
    best = int(np.argmax(correct))
    if best == 0:
        return float(d[0]) - 1e-6
    return float((d[best - 1] + d[best]) / 2.0) if best < len(d) else float(d[-1]) + 1e-6


def verification_metrics(distances: np.ndarray, same: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """Accuracy at `threshold` (chosen on these pairs when None) and ROC AUC of -distance."""
    from sklearn.metrics import roc_auc_score

    distances, same = np.asarray(distances, np.float64), np.asarray(same, bool)
    if threshold is None:
        threshold = best_threshold(distances, same)
    return {
        "verification_accuracy": float(((distances <= threshold) == same).mean()),
        "auc": float(roc_auc_score(same, -distances)),
        "threshold": float(threshold),
    }


def embedding_verification(embeddings: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """verification_metrics over validation_pairs of the embeddings."""
    i, j, same = validation_pairs(labels)
    return verification_metrics(np.linalg.norm(embeddings[i] - embeddings[j], axis=1), same)


def validation_pairs(
    labels: np.ndarray, same_per_person: int = SAME_PAIRS_PER_PERSON, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, as LFW's pairs.txt draws them: up to `same_per_person` same-person
    pairs of each person (so the ten near-identical video frames of one person, 45 pairs, do not
    outweigh the people with two photos) and as many different-person pairs, seeded."""
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    positive = np.flatnonzero(same)
    per_person = [positive[labels[i[positive]] == person] for person in np.unique(labels[i[positive]])]
    positive = np.concatenate(
        [rng.choice(pairs, min(len(pairs), same_per_person), replace=False) for pairs in per_person] or [[]]
    ).astype(int)
    negative = np.flatnonzero(~same)
    negative = rng.choice(negative, min(len(negative), max(1, len(positive))), replace=False)
    keep = np.sort(np.concatenate([positive, negative]))
    return i[keep], j[keep], same[keep]
