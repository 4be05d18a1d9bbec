"""Tasks plug into the one training loop (facekp/train_loop.py): each supplies its data, split,
batches, loss and metrics through the hooks of `base.Task`; `models.build(cfg)` makes the model.
Only train.py and the loop import this package."""

import os

from facekp.errors import InputError
from facekp.tasks.base import Task
from facekp.tasks.embedding import EmbeddingTask
from facekp.tasks.identity import IdentityTask
from facekp.tasks.kaggle15 import KAGGLE15_TASK
from facekp.tasks.keypoints import KEYPOINTS68

TASKS: dict[str, Task] = {
    "keypoints68": KEYPOINTS68,
    "kaggle15": KAGGLE15_TASK,
    "identity": IdentityTask("identity", "lfw2017", best_metric="macro_f1"),
    "embedding": EmbeddingTask("embedding", "lfw", best_metric="verification_accuracy"),
}


def resolve_data_dir(data: str, subdir: str) -> str:
    """--data, else $FACEKP_DATA/<subdir>."""
    if data:
        return os.path.abspath(data)
    root = os.environ.get("FACEKP_DATA")
    if not root:
        raise InputError("--data: no data folder given and FACEKP_DATA is not set")
    return os.path.abspath(os.path.join(root, subdir))


def get(name: str) -> Task:
    if name not in TASKS:
        raise InputError(f"--task: unknown task '{name}' (choose from {', '.join(TASKS)})")
    return TASKS[name]
