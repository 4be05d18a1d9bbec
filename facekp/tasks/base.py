"""The hooks the one training loop calls on a task, written down once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from facekp.config import TrainConfig


class Task(Protocol):
    """A kind of run: its data, split, batches, loss and metrics (the model is models.build(cfg))."""

    name: str
    data_subdir: str  # its folder under $FACEKP_DATA
    best_metric: str  # the validation metric that picks the best checkpoint
    higher_is_better: bool

    def load_samples(self, cfg: TrainConfig) -> Any:
        """Read and check all of the task's data, before the run dir exists."""

    def prepare(self, cfg: TrainConfig, samples: Any) -> TrainConfig:
        """The config as the data completes it (the identity classifier's people)."""

    def split(self, cfg: TrainConfig, samples: Any) -> tuple[Any, Any]:
        """(training, validation) samples; validation people are never trained on."""

    def val_arrays(self, cfg: TrainConfig, samples: Any) -> dict[str, np.ndarray]:
        """The validation arrays ("image" and the labels) evaluated every --eval-every steps."""

    def train_batches(self, cfg: TrainConfig, samples: Any, start_step: int) -> tf.data.Dataset:
        """Batch dicts from `start_step` on: a resumed run sees the batches it would have seen."""

    def loss_fn(self, cfg: TrainConfig) -> Callable[[tf.Tensor, dict[str, tf.Tensor]], tf.Tensor]:
        """(model outputs, batch dict) -> scalar loss."""

    def evaluate(self, predictions: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, float]:
        """Validation metrics by name."""

    def summary_images(self, predictions: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """TensorBoard pictures by name, (1, H, W, 3) each."""

    def after_training(
        self, cfg: TrainConfig, run_dir: str, predict_fn: Callable[[np.ndarray], Any], val: dict[str, np.ndarray]
    ) -> dict:
        """What is fitted once training ends (threshold, SVM), saved in the run dir; a summary."""

    def after_training_done(self, cfg: TrainConfig, run_dir: str) -> bool:
        """Whether what after_training saves for this config is in the run dir already (a finished
        run re-run then returns at once)."""
