"""Run configuration: one frozen dataclass per task family, flags generated from its fields.

Every field has a default and a help text; `train.py` turns each field into a `--flag`, and a run
directory stores the config as `config.json`, from which everything (model, data, inference) is rebuilt.
"""
import dataclasses
import json
import os
from dataclasses import dataclass, field

from facekp.errors import InputError


def _f(default, help):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """What every task shares: data, optimisation, loop cadence."""
    task: str = _f("keypoints68", "what to train: keypoints68 | kaggle15 | identity | embedding")
    data: str = _f("", "data folder (default: $FACEKP_DATA/<the task's folder>)")
    model: str = _f("resnet", "model function name, see facekp/models")
    input_size: int = _f(96, "model input side in pixels (square)")
    channels: int = _f(1, "1 = grayscale, 3 = RGB input")
    batch_size: int = _f(32, "images per training step")
    steps: int = _f(3000, "total training steps of the run (resuming continues up to this)")
    lr: float = _f(2e-3, "peak learning rate (AdamW)")
    schedule: str = _f("cosine", "learning-rate schedule: cosine | constant | step")
    warmup_steps: int = _f(100, "linear warm-up steps before the schedule")
    weight_decay: float = _f(1e-4, "AdamW decoupled weight decay")
    grad_clip: float = _f(5.0, "clip gradients at this global norm, 0 disables")
    eval_every: int = _f(250, "validate every N steps (and at the last step)")
    ckpt_every: int = _f(250, "save a checkpoint every N steps (and at the last step)")
    log_every: int = _f(25, "write training scalars every N steps")
    keep_checkpoints: int = _f(3, "how many recent checkpoints to keep (the best is kept apart)")
    seed: int = _f(0, "seed for shuffling, augmentation and initialisation")
    val_fraction: float = _f(0.15, "fraction of people (groups) held out for validation")
    split_seed: int = _f(0, "seed of the train/validation split (kept apart from --seed, so runs compare)")
    source: str = _f("tfdata", "training input: tfdata (augmented tf.data) | dataset (DataSet.next_batch)")
    jit_compile: bool = _f(False, "compile the train step with XLA")
    deterministic: bool = _f(False, "deterministic TF ops: equal runs give equal losses, step by step")
    strategy: str = _f("default", "tf.distribute: default (one device) | mirrored (all local GPUs, or "
                                  "logical CPUs) | multiworker (reads TF_CONFIG)")
    init_from: str = _f("", "start from the matching weights of another run's best checkpoint")
    # Augmentation (facekp/data/augment.py reads these for every task; defaults: keypoints').
    rotation: float = _f(30.0, "max random rotation in degrees")
    # Off by default: the shared labels sit ~1 px (at 96 px) right of the features they mark, and
    # a mirror turns that into a 2 px disagreement between twin images (README, measured figures).
    flip: float = _f(0.0, "probability of a horizontal flip (left/right points swapped)")
    scale_jitter: float = _f(0.15, "max random crop scale change, as a fraction")
    shift_jitter: float = _f(0.08, "max random crop shift, as a fraction of the crop side")
    brightness: float = _f(0.2, "max random brightness change (images in 0..1)")
    contrast: float = _f(0.3, "max random contrast change, as a fraction")


@dataclass(frozen=True)
class KeypointConfig(TrainConfig):
    """Keypoint regression: crop, augmentation, loss and model head."""
    loss: str = _f("wing", "keypoint loss: wing | l1 | mse (in input pixels, masked)")
    width: int = _f(32, "model width: channels of the first stage")
    head: str = _f("integral", "resnet head: integral (heatmaps + soft-argmax) | regression")
    margin: float = _f(1.35, "crop side / keypoint-box side")
    groups: str = _f("", "kaggle15: file naming each training row's person, for a grouped split "
                         "(one name per line, or the 68-point CSV whose rows match); default: rows")


@dataclass(frozen=True)
class RecognitionConfig(TrainConfig):
    """Face recognition: an identity classifier, or an embedding trained with triplet loss."""
    task: str = _f("identity", "identity (CNN classifier) | embedding (FaceNet-style, triplet loss)")
    input_size: int = _f(64, "model input side in pixels (faces are resized to a square)")
    batch_size: int = _f(64, "images per step (embedding: people_per_batch x images_per_person)")
    steps: int = _f(2000, "total training steps of the run (resuming continues up to this)")
    val_fraction: float = _f(0.2, "identity: fraction of each person's images held out; "
                                  "embedding: fraction of people held out")
    width: int = _f(32, "channels of the first residual stage (the keypoint resnet's trunk)")
    dropout: float = _f(0.3, "dropout before the head")
    face_crop: str = _f("auto", "part of a folder image that is the face: auto (LFW's 250 or 160 px "
                                "framing -> the LFW 2017 face box, else the whole image) | lfw | full")
    exclude_people: str = _f("", "comma list of people never to train on: names, files of names, "
                                 "PAIRS.txt:FOLDS (e.g. pairs.txt:1-5) or lfw2017 (its 7 people)")
    min_images: int = _f(1, "people with fewer images are left out (embedding: at least 2)")
    class_weighting: bool = _f(True, "identity: weight the loss by inverse class frequency")
    label_smoothing: float = _f(0.1, "identity: cross-entropy label smoothing")
    embedding_dim: int = _f(128, "embedding: size of the L2-normalised embedding")
    images_per_person: int = _f(4, "embedding: K images of each of batch_size/K people per batch")
    triplet_margin: float = _f(0.2, "embedding: triplet loss margin (squared distances, unit sphere)")
    classify_data: str = _f("", "embedding: after training, fit an SVM on this data's people "
                                "(lfw2017 arrays or DIR/<person>/*.jpg) and save it in the run")
    class_names: tuple = field(default=(), metadata={"help": "identity: the people (from the data)",
                                                     "flag": False})
    backbone_weights: str = _f("", "start the trunk from this local .weights.h5 file (matching layers)")
    # Gentler geometry than keypoints' (faces are already aligned crops); mirroring keeps identity.
    rotation: float = _f(10.0, "max random rotation in degrees")
    flip: float = _f(0.5, "probability of a horizontal flip")
    scale_jitter: float = _f(0.1, "max random scale change, as a fraction")
    shift_jitter: float = _f(0.06, "max random shift, as a fraction of the image side")


CONFIG_CLASSES = {cls.__name__: cls for cls in (KeypointConfig, RecognitionConfig)}

# Fields that only steer the loop: a resumed run may change them without starting a new run.
RUN_CONTROL_FIELDS = ("steps", "eval_every", "ckpt_every", "log_every", "data", "classify_data")


def validate(cfg):
    """Range checks that a dataclass type cannot express."""
    positive = ("input_size", "batch_size", "steps", "eval_every", "ckpt_every", "log_every",
                "keep_checkpoints")
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')}: must be a positive integer, got {getattr(cfg, name)}")
    if cfg.channels not in (1, 3):
        raise InputError(f"--channels: must be 1 or 3, got {cfg.channels}")
    if cfg.schedule not in ("cosine", "constant", "step"):
        raise InputError(f"--schedule: unknown schedule '{cfg.schedule}' (cosine | constant | step)")
    if cfg.strategy not in ("default", "mirrored", "multiworker"):
        raise InputError(f"--strategy: unknown strategy '{cfg.strategy}' (default | mirrored | multiworker)")
    if cfg.init_from and not os.path.isfile(os.path.join(cfg.init_from, "config.json")):
        raise InputError(f"--init-from: {cfg.init_from}: not a run directory (no config.json)")
    if cfg.source not in ("tfdata", "dataset"):
        raise InputError(f"--source: unknown source '{cfg.source}' (tfdata | dataset)")
    if isinstance(cfg, RecognitionConfig) and cfg.task == "embedding" and (
            cfg.images_per_person < 2 or cfg.batch_size % cfg.images_per_person):
        raise InputError(f"--batch-size {cfg.batch_size} must be a multiple of --images-per-person "
                         f"{cfg.images_per_person} (at least 2)")
    if not 0.0 < cfg.val_fraction < 1.0:
        raise InputError(f"--val-fraction: must be in (0, 1), got {cfg.val_fraction}")
    return cfg


def to_json(cfg):
    return {"config_class": type(cfg).__name__, **dataclasses.asdict(cfg)}


def from_json(obj, path="config.json"):
    """Rebuild a config from its JSON; unknown or missing fields are a clear error."""
    obj = dict(obj)
    cls = CONFIG_CLASSES.get(obj.pop("config_class", None))
    if cls is None:
        raise InputError(f"{path}: no known config_class (one of {', '.join(CONFIG_CLASSES)})")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise InputError(f"{path}: unknown config fields {unknown}")
    try:
        return cls(**obj)
    except TypeError as e:
        raise InputError(f"{path}: {e}")


def load(run_dir):
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


def differing_fields(old, new):
    """Names of the fields whose values differ between two configs."""
    return [f.name for f in dataclasses.fields(old)
            if getattr(old, f.name) != getattr(new, f.name, None)]
