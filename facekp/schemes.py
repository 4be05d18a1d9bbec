"""Keypoint schemes: point names, the left/right flip permutation, and the NME normaliser points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scheme:
    name: str
    names: tuple  # point names, in model output order
    flip_perm: tuple  # flip_perm[i] = the point that i becomes after a horizontal flip
    norm_points: tuple  # two point indices whose distance normalises NME
    # MTCNN's five landmarks as groups of this scheme's points (each the mean of its group): eye
    # centres, nose tip, mouth corners, each pair image-left first
    five: tuple

    @property
    def num_points(self) -> int:
        return len(self.names)

    def five_points(self, points: np.ndarray) -> np.ndarray:
        """(..., 5, 2) eye centres, nose tip and mouth corners of (..., K, 2) points."""
        return np.stack([points[..., list(group), :].mean(-2) for group in self.five], axis=-2)


def _perm_from_pairs(n, pairs):
    perm = list(range(n))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


_IBUG_PAIRS = (
    [(i, 16 - i) for i in range(8)]  # jaw
    + [(17 + i, 26 - i) for i in range(5)]  # brows
    + [(31, 35), (32, 34)]  # nostrils
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip
    + [(60, 64), (61, 63), (65, 67)]  # inner lip
)

IBUG68 = Scheme(
    name="ibug68",
    names=tuple(f"p{i}" for i in range(68)),
    flip_perm=_perm_from_pairs(68, _IBUG_PAIRS),
    norm_points=(36, 45),  # outer eye corners: the 300-W inter-ocular convention
    five=(tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,)),
)

KAGGLE15_NAMES = (
    "left_eye_center",
    "right_eye_center",
    "left_eye_inner_corner",
    "left_eye_outer_corner",
    "right_eye_inner_corner",
    "right_eye_outer_corner",
    "left_eyebrow_inner_end",
    "left_eyebrow_outer_end",
    "right_eyebrow_inner_end",
    "right_eyebrow_outer_end",
    "nose_tip",
    "mouth_left_corner",
    "mouth_right_corner",
    "mouth_center_top_lip",
    "mouth_center_bottom_lip",
)

KAGGLE15 = Scheme(
    name="kaggle15",
    names=KAGGLE15_NAMES,
    flip_perm=_perm_from_pairs(15, [(0, 1), (2, 4), (3, 5), (6, 8), (7, 9), (11, 12)]),
    norm_points=(0, 1),  # eye centres
    five=((1,), (0,), (10,), (12,), (11,)),  # the subject's left eye is on the image's right
)

SCHEMES = {s.name: s for s in (IBUG68, KAGGLE15)}

# The two ways the 68 points are labelled in our data: 300-W's (the .pts files and imglab XML:
# what every face tool follows) and the YouTube-Faces set's (Udacity's CSV), whose jaw line, brows
# and eye corners sit a little differently. A model trained on both has one head per convention
# (config --conventions heads or offset), in this order.
CONVENTIONS = ("300w", "youtube")


def tiled_flip_perm(scheme: Scheme, heads: int) -> tuple:
    """The flip permutation of `heads` copies of a scheme's points side by side (one per head)."""
    n = scheme.num_points
    return tuple(p + h * n for h in range(heads) for p in scheme.flip_perm)


def flip_perm_array(scheme: Scheme) -> np.ndarray:
    return np.asarray(scheme.flip_perm, np.int32)


def scheme_of(task: str) -> Scheme:
    """The keypoint scheme a keypoint task predicts."""
    return {"keypoints68": IBUG68, "kaggle15": KAGGLE15}[task]
