"""Run configuration: one frozen dataclass per task family, flags generated from its fields.

Every field has a default and a help text; `train.py` turns each field into a `--flag`, and a run
directory stores the config as `config.json`, from which everything (model, data, inference) is rebuilt.
"""

from __future__ import annotations

import dataclasses
import json
import math
import importlib.resources
import os
import typing
from collections.abc import Sequence
from typing import Any, ClassVar
from dataclasses import dataclass, field

from facekp.errors import InputError
from facekp.schemes import CONVENTIONS, scheme_of

# The models that ship inside the package (facekp/shipped/: run directories, config.json + best/,
# installed with it as package data): the 68-point model of predict.py, the 68-point model that
# aligns recognition faces (the shipped keypoint model until issue 18; kept apart so that
# recognition runs keep the faces they trained on), and the face embedding.
MODELS = str(importlib.resources.files("facekp").joinpath("shipped"))
SHIPPED_KEYPOINTS = os.path.join(MODELS, "keypoints68")
SHIPPED_ALIGNER = os.path.join(MODELS, "aligner68")
SHIPPED_EMBEDDING = os.path.join(MODELS, "face_embedding")
SHIPPED_EMBEDDING_FOLDS = "1-5"  # the LFW pairs.txt folds whose people its training left out


# Value checks a field may carry: (what the value must be, test).
def _finite(v) -> bool:
    return isinstance(v, int) or math.isfinite(v)  # a Python int is finite however large (isfinite overflows)


POSITIVE = ("a positive number", lambda v: _finite(v) and v > 0)
NON_NEGATIVE = ("a number >= 0", lambda v: _finite(v) and v >= 0)
FRACTION = ("a number in [0, 1]", lambda v: 0 <= v <= 1)
OPEN_FRACTION = ("a number in (0, 1)", lambda v: 0 < v < 1)
BELOW_ONE = ("a number in [0, 1)", lambda v: 0 <= v < 1)
COUNT = ("a whole number from 1 to 2**31 - 1", lambda v: 0 < v < 2**31)
COUNT_OR_ZERO = ("a whole number from 0 to 2**31 - 1", lambda v: 0 <= v < 2**31)
SEED = ("a whole number from 0 to 2**32 - 1", lambda v: 0 <= v < 2**32)
IMAGE_SIDE = ("a number of pixels from 1 to 1024", lambda v: 0 < v <= 1024)
CROP_MARGIN = ("a number in (0, 10]", lambda v: 0 < v <= 10)
MARGIN_OR_ZERO = ("a number in [0, 10]", lambda v: 0 <= v <= 10)
ANGLE = ("a number of degrees in [0, 180]", lambda v: 0 <= v <= 180)
TEXTS = ("a list of text", lambda v: all(isinstance(x, str) for x in v))
FINITE_NUMBERS = (
    "a list of finite numbers",
    lambda v: all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v),
)


def _f(default, help, choices=None, check=None):
    """A config field: its default, help text, and the values it accepts (a list of choices, or
    a check); argparse, `validate` and config.json loading all use these."""
    return field(default=default, metadata={"help": help, "choices": choices, "check": check})


def _from_data(default, help, check=None):
    """A config field that the run fills in from its data (no flag), saved for resume and loading."""
    return field(default=default, metadata={"help": help, "flag": False, "check": check})


@dataclass(frozen=True)
class TrainConfig:
    """What every task shares: data, optimisation, loop cadence."""

    # Set by each subclass: the --task values it configures and their family's name (--help groups).
    FAMILY: ClassVar[str]
    TASKS: ClassVar[tuple[str, ...]]

    @property
    def extra_folders(self) -> list[str]:
        return [folder.strip() for folder in self.extra_data.split(",") if folder.strip()]

    def for_inference(self) -> TrainConfig:
        """The config of the model that inference builds: float32 (a --mixed-precision run's
        weights are float32, and float16 only pays on a GPU)."""
        return dataclasses.replace(self, mixed_precision=False)

    task: str = _f("keypoints68", "what to train", choices=("keypoints68", "kaggle15", "identity", "embedding"))
    data: str = _f("", "data folder (default: $FACEKP_DATA/<the task's folder>)")
    model: str = _f("resnet", "model function, see facekp/models", choices=("resnet", "seednet"))
    input_size: int = _f(96, "model input side in pixels (square)", check=IMAGE_SIDE)
    channels: int = _f(1, "1 = grayscale, 3 = RGB input", choices=(1, 3))
    batch_size: int = _f(32, "images per training step", check=COUNT)
    steps: int = _f(3000, "total training steps of the run (resuming continues up to this)", check=COUNT)
    lr: float = _f(2e-3, "peak learning rate (AdamW)", check=POSITIVE)
    schedule: str = _f("cosine", "learning-rate schedule", choices=("cosine", "constant", "step"))
    warmup_steps: int = _f(100, "linear warm-up steps before the schedule", check=COUNT_OR_ZERO)
    weight_decay: float = _f(1e-4, "AdamW decoupled weight decay", check=NON_NEGATIVE)
    grad_clip: float = _f(5.0, "clip gradients at this global norm, 0 disables", check=NON_NEGATIVE)
    eval_every: int = _f(250, "validate every N steps (and at the last step)", check=COUNT)
    ckpt_every: int = _f(250, "save a checkpoint every N steps (and at the last step)", check=COUNT)
    log_every: int = _f(25, "write training scalars every N steps", check=COUNT)
    keep_checkpoints: int = _f(3, "how many recent checkpoints to keep (the best is kept apart)", check=COUNT)
    seed: int = _f(0, "seed for shuffling, augmentation and initialisation", check=SEED)
    val_fraction: float = _f(0.15, "fraction of people (groups) held out for validation", check=OPEN_FRACTION)
    split_seed: int = _f(0, "seed of the train/validation split (kept apart from --seed, so runs compare)", check=SEED)
    source: str = _f(
        "tfdata",
        "training input: tfdata (augmented tf.data) or dataset (DataSet.next_batch)",
        choices=("tfdata", "dataset"),
    )
    jit_compile: bool = _f(False, "compile the train step with XLA")
    mixed_precision: bool = _f(
        False, "mixed_float16: float16 compute, float32 weights and outputs, dynamic loss scaling (for GPUs)"
    )
    deterministic: bool = _f(False, "deterministic TF ops: equal runs give equal losses, step by step")
    cache: str = _f(
        "auto",
        "where the decode-once crops (keypoints) or aligned faces (recognition) live: memory, disk "
        "(sharded TFRecord files in the cache folder, streamed; same batches) or auto (disk when they "
        "would take over 1/16 of memory)",
        choices=("auto", "memory", "disk"),
    )
    cache_dir: str = _f("", "disk cache folder (default: $FACEKP_CACHE, else ~/.cache/facekp)")
    strategy: str = _f(
        "default",
        "tf.distribute: default (one device), mirrored (all local GPUs, or "
        "logical CPUs) or multiworker (reads TF_CONFIG)",
        choices=("default", "mirrored", "multiworker"),
    )
    init_from: str = _f("", "start from the matching weights of another run's best checkpoint")
    extra_data: str = _f(
        "",
        "comma list of more folders trained on beside --data, never validated on. keypoints68: the "
        "youtube-faces-68 layout (as label.py writes it), less the validation people; recognition: "
        "DIR/<person>/*.jpg or a youtube-faces-68 folder (the person: the file name before its last _), "
        "same exclusions",
    )
    # Augmentation (facekp/data/augment.py reads these for every task; defaults: keypoints').
    rotation: float = _f(30.0, "max random rotation in degrees", check=ANGLE)
    # Off by default: the shared labels sit ~1 px (at 96 px) right of the features they mark, and
    # a mirror turns that into a 2 px disagreement between twin images (README, measured figures).
    flip: float = _f(0.0, "probability of a horizontal flip (left/right points swapped)", check=FRACTION)
    scale_jitter: float = _f(0.15, "max random crop scale change, as a fraction", check=BELOW_ONE)
    shift_jitter: float = _f(0.08, "max random crop shift, as a fraction of the crop side", check=NON_NEGATIVE)
    brightness: float = _f(0.2, "max random brightness change (images in 0..1)", check=NON_NEGATIVE)
    contrast: float = _f(0.3, "max random contrast change, as a fraction", check=BELOW_ONE)
    low_resolution: float = _f(
        0.0,
        "probability of an image seen at low resolution: shrunk to 1/4-3/5 of its side and enlarged back "
        "(as the 50x37 LFW 2017 faces are, and blocky video frames)",
        check=FRACTION,
    )
    occlusion: float = _f(
        0.0,
        "probability of an image with one random grey rectangle (0.15-0.4 of the side each way) over it, "
        "as a hand or a microphone covers a face; keypoints under it keep their targets",
        check=FRACTION,
    )


@dataclass(frozen=True)
class KeypointConfig(TrainConfig):
    """Keypoint regression: crop, augmentation, loss and model head."""

    FAMILY: ClassVar[str] = "keypoint"
    TASKS: ClassVar[tuple[str, ...]] = ("keypoints68", "kaggle15")

    loss: str = _f(
        "wing", "keypoint loss (in input pixels, masked; --head heatmap has its own)", choices=("wing", "l1", "mse")
    )
    width: int = _f(32, "model width: channels of the first stage", check=COUNT)
    head: str = _f(
        "integral",
        "resnet head: integral (heatmaps + soft-argmax), heatmap (the best cell + its offset) or regression",
        choices=("integral", "heatmap", "regression"),
    )
    margin: float = _f(1.35, "crop side / keypoint-box side", check=CROP_MARGIN)
    refine_margin: float = _f(
        0.0,
        "refinement passes (predict.py, label.py, the API): crop side / side of the box of the model's "
        "own keypoints (tighter than a detector's box; 0: --margin)",
        check=MARGIN_OR_ZERO,
    )
    mirror_offsets: tuple = _from_data(
        (),
        "the mirrored refinement pass: each point's mean offset from the truth (x0, y0, x1, ... in "
        "input pixels), added back; measured by benchmarks/calibrate_mirror.py (empty: no mirrored pass)",
        check=FINITE_NUMBERS,
    )
    mirror_calibrated_for: str = _from_data(
        "", "what mirror_offsets were measured with (weights digest, refine margin, input size)"
    )
    averaged_runs: tuple = _from_data(
        (), "export --average: the runs whose weights this model's are the mean of (a weight soup)", check=TEXTS
    )
    flip_bias: float = _f(
        0.0,
        "the labels' offset right of what they mark, as a fraction of the face crop's side: "
        "mirrored images' targets are moved back by twice it (for --flip with biased labels)",
    )
    conventions: str = _f(
        "pooled",
        "keypoints68 on sources of both labelling conventions (300-W's .pts/imglab XML, the YouTube-Faces "
        "CSV): pooled (one head learns both), heads (one head per convention, on one trunk) or offset "
        "(one head; the YouTube convention its points plus a learnt per-point offset)",
        choices=("pooled", "heads", "offset"),
    )
    hold_out_extra: bool = _f(
        False,
        "leave out of training the validation people of every source: each --extra-data source split "
        "by person (--val-fraction, --split-seed) as if it were --data, so the run can be measured on them too",
    )
    convention: str = _from_data(
        "youtube",
        "the labelling convention of the model's points (--conventions heads, offset: its first head's, "
        "300w; pooled: --data's)",
        check=("300w or youtube", lambda v: v in CONVENTIONS),
    )
    groups: str = _f(
        "",
        "kaggle15: file naming each training row's person, for a grouped split "
        "(one name per line, or the 68-point CSV whose rows match); default: rows",
    )

    @property
    def head_conventions(self) -> tuple[str, ...]:
        """The convention of each head, in output order: (300w, youtube), or pooled's one."""
        return CONVENTIONS if self.conventions != "pooled" else (self.convention,)

    @property
    def refinement_margin(self) -> float:
        """The crop margin of refinement passes: refine_margin, or margin where it is 0."""
        return self.refine_margin or self.margin


@dataclass(frozen=True)
class RecognitionConfig(TrainConfig):
    """Face recognition: an identity classifier, or an embedding (margin softmax or triplet loss)."""

    FAMILY: ClassVar[str] = "recognition"
    TASKS: ClassVar[tuple[str, ...]] = ("identity", "embedding")

    def for_inference(self) -> RecognitionConfig:
        """Also without the margin loss's class centres: a training-only head."""
        return dataclasses.replace(super().for_inference(), margin_classes=0)

    task: str = _f(
        "identity",
        "identity (CNN classifier) or embedding (face embedding: ArcFace, CosFace or triplet loss)",
        choices=("identity", "embedding"),
    )
    model: str = _f("resnet", "model function: the keypoint resnet's trunk", choices=("resnet",))
    input_size: int = _f(64, "model input side in pixels (faces are resized to a square)", check=IMAGE_SIDE)
    batch_size: int = _f(64, "images per step (embedding: people_per_batch x images_per_person)", check=COUNT)
    steps: int = _f(2000, "total training steps of the run (resuming continues up to this)", check=COUNT)
    val_fraction: float = _f(
        0.2,
        "identity: fraction of each person's images held out; embedding: fraction of people held out",
        check=OPEN_FRACTION,
    )
    width: int = _f(32, "channels of the first residual stage (the keypoint resnet's trunk)", check=COUNT)
    dropout: float = _f(0.3, "dropout before the head", check=BELOW_ONE)
    face_crop: str = _f(
        "aligned",
        "how a face is cut from its image: aligned (the aligning keypoint model's eye centres, nose tip "
        "and mouth corners warped onto one template), or a fixed box resized: auto (LFW's 250 or "
        "160 px framing -> the LFW 2017 face box, else the whole image), lfw or full",
        choices=("aligned", "auto", "lfw", "full"),
    )
    face_scale: float = _f(
        1.0,
        "aligned faces: the five-point template's size as a fraction of ArcFace's (its 112 px "
        "template); below 1 the face is smaller in the crop, with more of the hair and face outline",
        check=POSITIVE,
    )
    exclude_people: str = _f(
        "",
        "comma list of people never to train on: names, files of names, "
        "PAIRS.txt:FOLDS (e.g. pairs.txt:1-5) or lfw2017 (its 7 people)",
    )
    min_images: int = _f(
        1, "people with fewer images are left out (triplet embedding: at least 2 in training)", check=COUNT
    )
    class_weighting: bool = _f(True, "identity: weight the loss by inverse class frequency")
    label_smoothing: float = _f(0.1, "identity: cross-entropy label smoothing", check=BELOW_ONE)
    embedding_dim: int = _f(128, "embedding: size of the L2-normalised embedding", check=COUNT)
    embedding_head: str = _f(
        "pool",
        "embedding: pool (global average of the last features, then dense) or flatten (every position's "
        "features into the dense layer, ArcFace's 'E' output: aligned faces keep their parts in place)",
        choices=("pool", "flatten"),
    )
    images_per_person: int = _f(4, "embedding: K images of each of batch_size/K people per batch", check=COUNT)
    embedding_loss: str = _f(
        "arcface",
        "embedding: arcface (additive angular margin softmax over the training people), cosface "
        "(additive cosine margin) or triplet (FaceNet's, semi-hard negatives in P x K batches)",
        choices=("arcface", "cosface", "triplet"),
    )
    softmax_scale: float = _f(32.0, "embedding (arcface, cosface): the scale s of the logits", check=POSITIVE)
    softmax_margin: float = _f(
        0.4, "embedding (arcface: radians added to the angle; cosface: subtracted from the cosine)", check=NON_NEGATIVE
    )
    margin_classes: int = _from_data(0, "embedding (arcface, cosface): how many training people", check=COUNT_OR_ZERO)
    margin_people: str = _from_data("", "embedding (arcface, cosface): a digest of the training people's names")
    triplet_margin: float = _f(0.2, "embedding: triplet loss margin (squared distances, unit sphere)", check=POSITIVE)
    classify_data: str = _f(
        "",
        "embedding: after training, fit an SVM on this data's people "
        "(lfw2017 arrays or DIR/<person>/*.jpg) and save it in the run",
    )
    class_names: tuple = _from_data((), "identity: the people")
    aligned_by: str = _from_data("", "face_crop aligned: a digest of the weights of the keypoint model that aligned")
    members: tuple = _from_data(
        (), "embedding ensemble (ensemble.py): its member runs' configs, their embeddings side by side"
    )
    backbone_weights: str = _f("", "start the trunk from this local .weights.h5 file (matching layers)")
    # Gentler geometry than keypoints' (faces are already aligned crops); mirroring keeps identity.
    rotation: float = _f(10.0, "max random rotation in degrees", check=ANGLE)
    flip: float = _f(0.5, "probability of a horizontal flip", check=FRACTION)
    scale_jitter: float = _f(0.1, "max random scale change, as a fraction", check=BELOW_ONE)
    shift_jitter: float = _f(0.06, "max random shift, as a fraction of the image side", check=NON_NEGATIVE)


CONFIG_CLASSES = {cls.__name__: cls for cls in (KeypointConfig, RecognitionConfig)}

# The value a run saved before a field existed behaves as (its config.json lacks the field).
BEFORE_FIELD_EXISTED = {"embedding_loss": "triplet"}

# Fields that calibration tools write into a trained run's config.json (never training: a resumed
# run keeps them, and inference checks they still fit the weights).
CALIBRATION_FIELDS = ("mirror_offsets", "mirror_calibrated_for")

# Fields that only steer the loop (or inference): a resumed run may change them without starting a new run.
RUN_CONTROL_FIELDS = (
    "steps",
    "eval_every",
    "ckpt_every",
    "log_every",
    "data",
    "classify_data",
    "cache",
    "cache_dir",
    "refine_margin",
    *CALIBRATION_FIELDS,
)


def _problem(cfg, f):
    """Why the value of field `f` of `cfg` is not acceptable (type, choices, range), or None."""
    hint, value = typing.get_type_hints(type(cfg))[f.name], getattr(cfg, f.name)
    if hint is tuple:
        ok, kind = isinstance(value, (list, tuple)), "a list"
    elif hint is float:
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        ok, kind = type(value) is hint, {int: "an integer", str: "a string", bool: "true or false"}[hint]
    if not ok:
        return f"must be {kind}, got {value!r}"
    choices, check = f.metadata.get("choices"), f.metadata.get("check")
    if choices and value not in choices:
        return f"unknown value {value!r} (choose from {', '.join(map(str, choices))})"
    if check and not check[1](value):
        return f"must be {check[0]}, got {value!r}"
    return None


def check_fields(cfg: TrainConfig, source: str | None = None) -> TrainConfig:
    """Every field's type, choices and range; errors name the flag, or the field in `source`."""
    for f in dataclasses.fields(cfg):
        problem = _problem(cfg, f)
        if problem:
            where = f"--{f.name.replace('_', '-')}" if source is None else f'{source}: "{f.name}"'
            raise InputError(f"{where}: {problem}")
    return cfg


def validate(cfg: TrainConfig) -> TrainConfig:
    """A run's config from flags: every field's value, then what one field cannot say alone."""
    check_fields(cfg)
    if cfg.init_from and not os.path.isfile(os.path.join(cfg.init_from, "config.json")):
        raise InputError(f"--init-from: {cfg.init_from}: not a run directory (no config.json)")
    if cfg.init_from and getattr(load(cfg.init_from), "members", ()):
        raise InputError(f"--init-from: {cfg.init_from}: an ensemble (its members' weights share names); give a member")
    if isinstance(cfg, KeypointConfig) and cfg.head == "heatmap" and cfg.model != "resnet":
        raise InputError(f"--head heatmap: a resnet head (--model {cfg.model} has its own)")
    if cfg.task == "kaggle15" and cfg.extra_data:
        raise InputError("--extra-data: kaggle15 trains on --data alone")
    if isinstance(cfg, KeypointConfig) and cfg.conventions != "pooled" and cfg.task != "keypoints68":
        raise InputError(f"--conventions {cfg.conventions}: keypoints68 only (kaggle15 has one labelling)")
    if isinstance(cfg, KeypointConfig) and cfg.groups and cfg.task != "kaggle15":
        raise InputError(f"--groups: kaggle15 only ({cfg.task} reads each image's person from its file name)")
    if isinstance(cfg, KeypointConfig) and cfg.cache == "disk" and cfg.source == "dataset":
        raise InputError("--cache disk: --source dataset holds its arrays in memory (use --source tfdata)")
    triplet = isinstance(cfg, RecognitionConfig) and cfg.task == "embedding" and cfg.embedding_loss == "triplet"
    if triplet and cfg.cache == "disk":
        raise InputError(
            "--cache disk: the triplet loss draws K faces of each person per batch, which needs every "
            "face at hand (use --cache memory, or --embedding-loss arcface or cosface)"
        )
    if triplet and (cfg.images_per_person < 2 or cfg.batch_size % cfg.images_per_person):
        raise InputError(
            f"--batch-size {cfg.batch_size} must be a multiple of --images-per-person "
            f"{cfg.images_per_person} (at least 2)"
        )
    return cfg


# What an ensemble's members (ensemble.py) share: the same face (size, channels, crop, aligning
# keypoint model) and the same people (data, exclusions, validation split), so that one face crop,
# one threshold and one list of whom the ensemble trained on hold for all of them.
ENSEMBLE_SHARED_FIELDS = (
    "input_size",
    "channels",
    "face_crop",
    "face_scale",
    "aligned_by",
    "data",
    "extra_data",
    "exclude_people",
    "min_images",
    "val_fraction",
    "split_seed",
)


def check_ensemble(members: Sequence[TrainConfig], names: Sequence[str]) -> None:
    """Members that can stand side by side in one ensemble: two or more embedding runs (none an
    ensemble itself) sharing ENSEMBLE_SHARED_FIELDS, and the same people where both recorded them;
    else one line naming the member (`names`: its run dir, or where config.json holds it)."""
    for name, cfg in zip(names, members):
        if not isinstance(cfg, RecognitionConfig) or cfg.task != "embedding":
            raise InputError(f"{name}: a {cfg.task} run; an ensemble's members are embedding runs")
        if cfg.members:
            raise InputError(f"{name}: an ensemble already; give its member runs instead")
        first = members[0]
        differing = [f for f in ENSEMBLE_SHARED_FIELDS if getattr(cfg, f) != getattr(first, f)]
        if cfg.margin_people and first.margin_people and cfg.margin_people != first.margin_people:
            differing.append("margin_people")  # the same folders, other people in them when trained
        if differing:
            field_name = differing[0]
            raise InputError(
                f"{name}: {field_name} {getattr(cfg, field_name)!r}, but {names[0]} has "
                f"{getattr(first, field_name)!r} (an ensemble's members share the face and the people they trained on)"
            )


def _ensemble_members(cfg: TrainConfig, path: str) -> None:
    """A loaded ensemble's "members": each a config (checked like any), together an ensemble whose
    embedding is as long as theirs together."""
    members = getattr(cfg, "members", ())
    if not members:
        return
    names = [f"{path}: members[{i}]" for i in range(len(members))]
    if len(members) < 2 or not all(isinstance(member, dict) for member in members):
        raise InputError(f'{path}: "members" must be two or more member configs')
    configs = [from_json(member, name) for member, name in zip(members, names)]
    check_ensemble(configs, names)
    if cfg.embedding_dim != sum(member.embedding_dim for member in configs):
        raise InputError(f'{path}: "embedding_dim" {cfg.embedding_dim} is not its members\' together')


def to_json(cfg: TrainConfig) -> dict[str, Any]:
    return {"config_class": type(cfg).__name__, **dataclasses.asdict(cfg)}


def from_json(obj: dict[str, Any], path: str = "config.json") -> TrainConfig:
    """Rebuild a config from its JSON; unknown or missing fields are a clear error."""
    obj = dict(obj)
    cls = CONFIG_CLASSES.get(obj.pop("config_class", None))
    if cls is None:
        raise InputError(f"{path}: no known config_class (one of {', '.join(CONFIG_CLASSES)})")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise InputError(f"{path}: unknown config fields {unknown}")
    legacy = {k: v for k, v in BEFORE_FIELD_EXISTED.items() if k in names and k not in obj}
    tuples = {f.name for f in dataclasses.fields(cls) if f.type in ("tuple", tuple)}
    obj = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in obj.items()}  # JSON has lists
    try:
        cfg = check_fields(cls(**legacy, **obj), path)
    except TypeError as e:
        raise InputError(f"{path}: {e}")
    _ensemble_members(cfg, path)
    problem = mirror_offsets_problem(cfg)
    if problem:
        raise InputError(f'{path}: "mirror_offsets": {problem}')
    return cfg


def mirror_offsets_problem(cfg: TrainConfig) -> str | None:
    """How a keypoint config's mirror_offsets fail to fit its points (x and y of each), or None."""
    offsets = getattr(cfg, "mirror_offsets", ())
    if not offsets:
        return None
    expected = 2 * scheme_of(cfg.task).num_points
    return None if len(offsets) == expected else f"{len(offsets)} values, expected {expected} (x and y of each point)"


def load(run_dir: str | os.PathLike) -> TrainConfig:
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise InputError(f"{run_dir}: not a run directory (no config.json)")
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable config ({e})")
    if not isinstance(obj, dict):
        raise InputError(f"{path}: not a config object")
    return from_json(obj, path)


def differing_fields(old: TrainConfig, new: TrainConfig) -> list[str]:
    """Names of the fields whose values differ between two configs."""
    return [f.name for f in dataclasses.fields(old) if getattr(old, f.name) != getattr(new, f.name, None)]
