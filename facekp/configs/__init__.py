"""Named experiments, one function per recipe (as in big_vision): each returns the full config of
a run that the README reports, and its docstring holds the command and what it measured.

    python train.py --config plain68 --run runs/ship68_w16           # $FACEKP_DATA or --data
    python train.py --config plain68_smoke --run runs/try --steps 40  # flags override the recipe

Every recipe has a `NAME_smoke` twin: the same settings for 20 steps, to check a set-up in a
minute. Paths in recipes may use $FACEKP_DATA; they are expanded when the recipe is taken. The
shipped keypoint model's chain reads what its earlier steps wrote, under runs/ of the working
folder: label.py with the model shipped two models before (runs/labels_lfw68s), student68_long;
label.py with the model shipped before (runs/labels_lfw68t), student68_round3, two ship68
fine-tunes of it averaged (runs/soup_r3); label.py with that (runs/labels_lfw68u),
student68_round4, then ship68 (its --init-from) twice and export.py --average. The model shipped
before came from student68_long and ship68 --init-from runs/stu16_40k, and the one before it from
teacher68, label.py (runs/labels_lfw68), student68, then ship68 --init-from runs/stu16_lfw20k.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from facekp.config import SHIPPED_ALIGNER, SHIPPED_KEYPOINTS, KeypointConfig, RecognitionConfig, TrainConfig
from facekp.errors import InputError

# The keypoint models shipped before the current one (issue 18), whose LFW labels its students
# learnt: facekp/shipped/keypoints68 of commits 46f4684 (student68_long's labels) and 163ea61
# (student68_round3's), checked out beside the repository by
#     git worktree add ../facekp-46f4684 46f4684
#     git worktree add ../facekp-163ea61 163ea61
PREVIOUS_KEYPOINTS = "../facekp-46f4684/models/keypoints68"
SOUP40_KEYPOINTS = "../facekp-163ea61/models/keypoints68"

LFW_TEST_FOLDS = "$FACEKP_DATA/lfw/pairs.txt"


def plain68() -> KeypointConfig:
    """The 68-point model on the labelled frames alone (0.42M parameters): 10,000 steps in 11.5 min
    on a 2-core CPU, NME 4.41% on unseen people's true-box crops, 4.48% through predict.py. The
    shipped model until issue 18; now facekp/shipped/aligner68, which aligns recognition faces.

        python train.py --config plain68 --run runs/ship68_w16 --data ../shared/data/youtube-faces-68
    """
    return KeypointConfig(steps=10000, width=16, scale_jitter=0.25, shift_jitter=0.1)


def teacher68() -> KeypointConfig:
    """plain68 at width 32 (1.68M parameters) for 40,000 steps, 84 min: NME 4.10% on true-box
    crops, 4.12% through predict.py, at 4x the cost per face. Its keypoints label LFW's photos
    for student68 (label.py, 6 min):

        python train.py --config teacher68 --run runs/teacher32 --data ../shared/data/youtube-faces-68
        python label.py ../shared/data/lfw --run runs/teacher32 --out runs/labels_lfw68
    """
    return dataclasses.replace(plain68(), width=32, steps=40000, eval_every=2000)


def student68() -> KeypointConfig:
    """plain68 on the labelled frames and teacher68's labels of 13,119 LFW photos (the validation
    people's left out) for 20,000 steps, 28 min: NME 4.18% on true-box crops; the start of the model
    shipped before (10,000 steps: 4.37%). Those labels were made before the refinement change (the last of
    label.py's three passes, not their mean), so a new labelling differs a little.

        python train.py --config student68 --run runs/stu16_lfw20k --data ../shared/data/youtube-faces-68
    """
    return dataclasses.replace(plain68(), extra_data="runs/labels_lfw68", steps=20000, eval_every=1000)


def student68_long() -> KeypointConfig:
    """plain68 on the labelled frames and 13,119 LFW photos labelled by the model shipped before
    (commit 46f4684: label.py's three passes, one mirrored) for 40,000 steps, 47 min: NME 4.16%
    on true-box crops (best 4.15% at step 32,000; student68's 20,000 steps: 4.18%). The start of ship68.

        git worktree add ../facekp-46f4684 46f4684   # PREVIOUS_KEYPOINTS
        python label.py ../shared/data/lfw --run ../facekp-46f4684/models/keypoints68 --out runs/labels_lfw68s
        python train.py --config student68_long --run runs/stu16_40k --data ../shared/data/youtube-faces-68
    """
    return dataclasses.replace(plain68(), extra_data="runs/labels_lfw68s", steps=40000, eval_every=2000)


def student68_round3() -> KeypointConfig:
    """student68_long (runs/stu16_40k) trained on for 16,000 steps at half the peak rate, on the
    labelled frames and LFW labelled afresh by the model shipped after it (SOUP40_KEYPOINTS: the
    mean of its two fine-tunes, 4.05% through predict.py), 18 min: NME 4.10% on true-box crops
    (4.16% before). Its two ship68 fine-tunes (4.11% each), averaged and calibrated, score 4.02%
    through predict.py, and label LFW for student68_round4:

        git worktree add ../facekp-163ea61 163ea61   # SOUP40_KEYPOINTS
        python label.py ../shared/data/lfw --run ../facekp-163ea61/models/keypoints68 --out runs/labels_lfw68t
        python train.py --config student68_round3 --run runs/stu_r3 --data ../shared/data/youtube-faces-68
        python train.py --config ship68 --init-from runs/stu_r3 --run runs/ft_r3_s0     # FACEKP_DATA set
        python train.py --config ship68 --init-from runs/stu_r3 --run runs/ft_r3_s1 --seed 1
        python export.py --run runs/ft_r3_s0 --average runs/ft_r3_s1 --format slim --out runs/soup_r3
        python benchmarks/calibrate_mirror.py --run runs/soup_r3 --write
    """
    return dataclasses.replace(
        student68_long(), init_from="runs/stu16_40k", extra_data="runs/labels_lfw68t", steps=16000, lr=1e-3
    )


def student68_round4() -> KeypointConfig:
    """student68_round3 (runs/stu_r3) trained on once more the same way, on LFW labelled afresh by
    the mean of its two fine-tunes (runs/soup_r3), 18 min: NME 4.09% on true-box crops (best, at
    step 14,000; 4.10% before): the rounds are saturating. The start of ship68.

        python label.py ../shared/data/lfw --run runs/soup_r3 --out runs/labels_lfw68u
        python train.py --config student68_round4 --run runs/stu_r4 --data ../shared/data/youtube-faces-68
    """
    return dataclasses.replace(student68_round3(), init_from="runs/stu_r3", extra_data="runs/labels_lfw68u")


def teacher68_round5() -> KeypointConfig:
    """teacher68 (width 32) on the labelled frames and student68_round4's LFW labels (runs/soup_r3's,
    runs/labels_lfw68u) for 24,000 steps, 55 min: NME 3.97% on true-box crops (teacher68: 4.10%),
    3.97% through predict.py (calibrated) at 3x the shipped network's time. Its labels of the
    validation frames (benchmarks/label_quality.py) err 3.95% against the shipped model's 3.98%,
    and the student that learns them gains nothing (student68_round5).

        python train.py --config teacher68_round5 --run runs/teacher_r5 --data ../shared/data/youtube-faces-68
    """
    return dataclasses.replace(teacher68(), extra_data="runs/labels_lfw68u", steps=24000, refine_margin=1.2)


def student68_round5() -> KeypointConfig:
    """student68_round4 (runs/stu_r4) trained on once more the same way, on LFW labelled by the
    width-32 teacher68_round5 (runs/labels_lfw68v), 18 min: NME 4.09% on true-box crops, as round 4.
    The mean of its two ship68 fine-tunes (--init-from runs/stu_r5: 4.08%, 4.09%) ties the shipped
    model through predict.py (4.00%), so it was not shipped.

        python benchmarks/calibrate_mirror.py --run runs/teacher_r5 --write
        python label.py ../shared/data/lfw --run runs/teacher_r5 --out runs/labels_lfw68v
        python train.py --config student68_round5 --run runs/stu_r5 --data ../shared/data/youtube-faces-68
    """
    return dataclasses.replace(student68_round3(), init_from="runs/stu_r4", extra_data="runs/labels_lfw68v")


def ship68() -> KeypointConfig:
    """A member of the shipped 68-point model, facekp/shipped/keypoints68: student68_round4 fine-tuned on
    the labelled frames alone, 4000 steps at half the peak rate, 5 min: NME 4.10% on true-box
    crops (seeds 0 and 1). The shipped model is the mean of the weights of two (--seed 0 and 1),
    with the mirrored pass calibrated:

        python train.py --config ship68 --run runs/ft_r4_s0 --data ../shared/data/youtube-faces-68
        python train.py --config ship68 --run runs/ft_r4_s1 --seed 1 --data ../shared/data/youtube-faces-68
        python export.py --run runs/ft_r4_s0 --average runs/ft_r4_s1 --format slim --out runs/soup_r4
        python benchmarks/calibrate_mirror.py --run runs/soup_r4 --write

    The models shipped before it were this recipe with --init-from runs/stu16_40k (student68_long:
    runs/ft40_s0 and runs/ft40_s1, 4.12% each, and their mean runs/soup40), and before them with
    --init-from runs/stu16_lfw20k (student68).
    """
    return dataclasses.replace(plain68(), init_from="runs/stu_r4", steps=4000, lr=1e-3, refine_margin=1.2)


def wild68() -> KeypointConfig:
    """The 68-point model on in-the-wild photos: 300-W's human labels of HELEN and AFW (wild-68,
    validated on its own held-out photos) beside the YouTube-Faces frames (their validation people
    held out too), one head per labelling convention on one trunk (a one-head start fills both),
    from plain68's weights (facekp/shipped/aligner68, which plain68 rebuilds from scratch): the
    first step of the rebuild (`python -m facekp.reproduce keypoints68`): 4000 steps, 8 min, NME
    4.29% on wild-68's held-out true-box crops. Started from the model shipped until issue 34
    instead (--init-from; the shipped model's first step): 3.89% (--conventions offset 4.24%,
    pooled 4.48%).

        python train.py --config wild68 --run runs/w68_heads     # FACEKP_DATA=../shared/data
    """
    return dataclasses.replace(
        plain68(),
        data="$FACEKP_DATA/wild-68",
        extra_data="$FACEKP_DATA/youtube-faces-68",
        conventions="heads",
        hold_out_extra=True,
        init_from=SHIPPED_ALIGNER,
        steps=4000,
        lr=1e-3,
        eval_every=500,
        refine_margin=1.2,
    )


def wild68_student() -> KeypointConfig:
    """wild68 on, beside its own data, LFW's 13,233 photos labelled by a wild68 run in 300-W's
    convention (label.py --convention 300w): 12,000 steps, 30 min, NME 3.86% (3.89% before).

        python label.py ../shared/data/lfw --run runs/w68_heads --convention 300w --out runs/labels_lfw_w68
        python train.py --config wild68_student --run runs/w68_student
    """
    return dataclasses.replace(
        wild68(),
        init_from="runs/w68_heads",
        extra_data="$FACEKP_DATA/youtube-faces-68,runs/labels_lfw_w68",
        steps=12000,
        eval_every=2000,
    )


def wild68_finetune() -> KeypointConfig:
    """wild68_student fine-tuned on the human labels alone (wild-68 and the YouTube frames): 4000
    steps, 8 min, NME 3.78%; with its mirrored pass calibrated, the shipped facekp/shipped/keypoints68.

        python train.py --config wild68_finetune --run runs/w68_ft
    """
    return dataclasses.replace(wild68(), init_from="runs/w68_student")


def selftrain68() -> KeypointConfig:
    """The model shipped before (PREVIOUS_KEYPOINTS) trained on for 8000 steps on the labelled
    frames and its own labels of LFW (the labels student68_long learns), 12 min: NME 4.17% on
    true-box crops (its own 4.15%): no gain. The 96 px control of selftrain68_128.

        python label.py ../shared/data/lfw --run ../facekp-46f4684/models/keypoints68 --out runs/labels_lfw68s
        python train.py --config selftrain68 --run runs/e96 --data ../shared/data/youtube-faces-68
    """
    return dataclasses.replace(
        plain68(),
        init_from=PREVIOUS_KEYPOINTS,
        extra_data="runs/labels_lfw68s",
        steps=8000,
        lr=1e-3,
        eval_every=1000,
        refine_margin=1.2,
    )


def selftrain68_128() -> KeypointConfig:
    """selftrain68 at 128 px input (the same weights: the network is fully convolutional), 15 min:
    NME 4.15% on true-box crops, 0.02 below its 96 px control, at 1.3x the time per face.

        python train.py --config selftrain68_128 --run runs/e128 --data ../shared/data/youtube-faces-68
    """
    return dataclasses.replace(selftrain68(), input_size=128)


def kaggle15() -> KeypointConfig:
    """Kaggle 15 points, fine-tuned from the shipped 68-point model's trunk (facekp/shipped/keypoints68;
    its heads are not used) with a split by person: 3000 steps, 4 min, validation RMSE 1.32 (from
    plain68's trunk, facekp/shipped/aligner68, as until issue 34: 1.37). Trained from a model that
    learnt 300-W's annotations, it is for non-commercial research as that model is.

    python train.py --config kaggle15 --run runs/k15 --data ../shared/data/kaggle-fkd-yt
    """
    return KeypointConfig(
        task="kaggle15",
        steps=3000,
        width=16,
        init_from=SHIPPED_KEYPOINTS,
        groups="$FACEKP_DATA/youtube-faces-68/training_frames_keypoints.csv",
    )


def identity_lfw2017() -> RecognitionConfig:
    """The identity classifier of Kaggle LFW 2017's 7 people on faces aligned by
    facekp/shipped/aligner68, from its trunk: 1.6 min, macro F1 0.992 (0.980 on the unaligned arrays,
    --face-crop auto).

        python train.py --config identity_lfw2017 --run runs/id7_al --data ../shared/data/lfw2017
    """
    return RecognitionConfig(task="identity", steps=2000, width=16, init_from=SHIPPED_ALIGNER)


def _lfw_embedding(held_out_folds, **fields):
    """An embedding on the LFW people outside `held_out_folds` of pairs.txt and outside the LFW 2017
    people, batches of 128, 10% of the people held out for validation."""
    return RecognitionConfig(
        task="embedding",
        batch_size=128,
        val_fraction=0.1,
        exclude_people=f"{LFW_TEST_FOLDS}:{held_out_folds},lfw2017",
        **fields,
    )


def _embedding(held_out_folds, **fields):
    """_lfw_embedding with the YouTube-Faces-68 people too (same exclusions): 128 px gray faces
    aligned by facekp/shipped/aligner68 (96 px: 88.3% on folds 1-5 in 8000 steps), the trunk started
    from its weights, its last features flattened into the embedding
    (pooled: 88.9%), ArcFace over every person (those with one photo too)."""
    return _lfw_embedding(
        held_out_folds,
        face_crop="aligned",
        input_size=128,
        steps=6000,
        eval_every=1000,
        width=16,
        init_from=SHIPPED_ALIGNER,
        min_images=1,
        extra_data="$FACEKP_DATA/youtube-faces-68",
        **{"embedding_loss": "arcface", "embedding_head": "flatten", **fields},
    )


def embedding_folds1_5() -> RecognitionConfig:
    """The first member of the shipped embedding, facekp/shipped/face_embedding (with embedding_triplet_folds1_5,
    joined by ensemble.py: 91.3%): judged alone on pairs.txt folds 1-5, 89.2%; fits the SVM on the
    LFW 2017 faces after training (cross-validated macro F1 0.981); 23 min of training.

        python train.py --config embedding_folds1_5 --run runs/arc128F --data ../shared/data/lfw
    """
    return _embedding("1-5", classify_data="$FACEKP_DATA/lfw2017")


def embedding_folds6_10() -> RecognitionConfig:
    """The twin of embedding_folds1_5, judged on pairs.txt folds 6-10.

    python train.py --config embedding_folds6_10 --run runs/arc128G --data ../shared/data/lfw
    """
    return _embedding("6-10")


def embedding_pool_folds1_5() -> RecognitionConfig:
    """embedding_folds1_5 with the last features averaged over their positions (--embedding-head
    pool): 88.9% on folds 1-5 alone; with embedding_folds1_5 by ensemble.py 90.6% (the triplet
    network is the better partner: 91.3%); 23 min of training.

        python train.py --config embedding_pool_folds1_5 --run runs/arc128A --data ../shared/data/lfw
    """
    return _embedding("1-5", embedding_head="pool", classify_data="$FACEKP_DATA/lfw2017")


def embedding_pool_folds6_10() -> RecognitionConfig:
    """The twin of embedding_pool_folds1_5, judged on pairs.txt folds 6-10.

    python train.py --config embedding_pool_folds6_10 --run runs/arc128B --data ../shared/data/lfw
    """
    return _embedding("6-10", embedding_head="pool")


def embedding_triplet_folds1_5() -> RecognitionConfig:
    """embedding_folds1_5 with FaceNet's triplet loss instead of ArcFace (32 people x 4 faces a
    batch, semi-hard negatives): 90.3% on folds 1-5 alone, the best single network; the shipped
    embedding's second member; 24 min.

        python train.py --config embedding_triplet_folds1_5 --run runs/tri128F --data ../shared/data/lfw
    """
    return _embedding("1-5", embedding_loss="triplet", classify_data="$FACEKP_DATA/lfw2017")


def embedding_triplet_folds6_10() -> RecognitionConfig:
    """The twin of embedding_triplet_folds1_5, judged on pairs.txt folds 6-10.

    python train.py --config embedding_triplet_folds6_10 --run runs/tri128G --data ../shared/data/lfw
    """
    return _embedding("6-10", embedding_loss="triplet")


def triplet_folds1_5() -> RecognitionConfig:
    """The first embedding (FaceNet's triplet loss, 32 people x 4 faces a batch, fixed LFW face box,
    from scratch): 82.1% over the 10 folds with its twin; SVM on LFW 2017 macro F1 0.787.

        python train.py --config triplet_folds1_5 --run runs/embA_b128 --data ../shared/data/lfw
    """
    return _triplet("1-5", classify_data="$FACEKP_DATA/lfw2017")


def triplet_folds6_10() -> RecognitionConfig:
    """The twin of triplet_folds1_5, judged on pairs.txt folds 6-10.

    python train.py --config triplet_folds6_10 --run runs/embB_b128 --data ../shared/data/lfw
    """
    return _triplet("6-10")


def _triplet(held_out_folds, **fields):
    """_lfw_embedding with the triplet loss on the fixed LFW face box, from scratch."""
    return _lfw_embedding(
        held_out_folds, embedding_loss="triplet", face_crop="auto", steps=3000, min_images=2, **fields
    )


RECIPES = {
    fn.__name__: fn
    for fn in (
        ship68,
        teacher68_round5,
        student68_round5,
        student68_round4,
        student68_round3,
        student68_long,
        plain68,
        wild68,
        wild68_student,
        wild68_finetune,
        selftrain68,
        selftrain68_128,
        teacher68,
        student68,
        kaggle15,
        identity_lfw2017,
        embedding_folds1_5,
        embedding_folds6_10,
        embedding_pool_folds1_5,
        embedding_pool_folds6_10,
        embedding_triplet_folds1_5,
        embedding_triplet_folds6_10,
        triplet_folds1_5,
        triplet_folds6_10,
    )
}
SMOKE_SUFFIX = "_smoke"


def names() -> list[str]:
    return [name + suffix for name in RECIPES for suffix in ("", SMOKE_SUFFIX)]


def get(name: str, **overrides: Any) -> TrainConfig:
    """The config of recipe `name` (or of its 20-step smoke twin) with `overrides` (field values,
    e.g. from flags) applied and $FACEKP_DATA expanded."""
    smoke = name.endswith(SMOKE_SUFFIX)
    recipe = RECIPES.get(name[: -len(SMOKE_SUFFIX)] if smoke else name)
    if recipe is None:
        raise InputError(f"--config: unknown recipe '{name}' (choose from {', '.join(names())})")
    cfg = recipe()
    if smoke:
        cfg = dataclasses.replace(cfg, steps=20, eval_every=10, ckpt_every=10, log_every=5, warmup_steps=5)
    cfg = dataclasses.replace(cfg, **overrides)
    paths = {
        f.name: os.path.expandvars(getattr(cfg, f.name))
        for f in dataclasses.fields(cfg)
        if isinstance(getattr(cfg, f.name), str)
    }
    unset = [field for field, value in paths.items() if "$FACEKP_DATA" in value]
    if unset:
        flag = "--" + unset[0].replace("_", "-")
        raise InputError(f"--config {name}: {flag} {paths[unset[0]]}: set FACEKP_DATA, or give {flag}")
    return dataclasses.replace(cfg, **paths)
