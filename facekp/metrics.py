"""Keypoint metrics in numpy: NME (normalised mean error), RMSE, failure rate.

Keypoints are (N, K, 2) pixels, x then y; mask (N, K) marks labelled points.
"""
import numpy as np


def nme_per_face(pred, true, mask, norm_points):
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


def rmse(pred, true, mask):
    """Root mean squared error over labelled coordinates (Kaggle's metric)."""
    sq = np.nan_to_num(pred - true) ** 2 * mask[..., None]
    return float(np.sqrt(sq.sum() / max(2 * mask.sum(), 1)))


def keypoint_metrics(pred, true, mask, norm_points, fail_at=0.10):
    """The validation summary: NME mean/median, failure rate, RMSE (input pixels)."""
    nme = nme_per_face(pred, true, mask, norm_points)
    nme = nme[np.isfinite(nme)]
    return {
        "nme": float(nme.mean()) if nme.size else float("nan"),
        "nme_median": float(np.median(nme)) if nme.size else float("nan"),
        "failure_rate": float((nme > fail_at).mean()) if nme.size else float("nan"),
        "rmse": rmse(pred, true, mask),
    }


def kaggle_subset_rmse(pred, true, mask):
    """RMSE over rows with all points labelled, and over the partly labelled rows."""
    full = mask.sum(1) == mask.shape[1]
    return {"rmse_full": rmse(pred[full], true[full], mask[full]) if full.any() else float("nan"),
            "rmse_partial": rmse(pred[~full], true[~full], mask[~full]) if (~full).any() else float("nan")}
