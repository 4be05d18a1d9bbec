"""DataSet: in-memory arrays served by next_batch(batch_size), reshuffled every epoch.

A source for the training loop without tf.data (no augmentation): `batches(batch_size, start_step)`
yields batch dicts from any step, so a resumed run continues with the batch it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class DataSet:
    def __init__(self, arrays, seed=0):
        """arrays: dict of equally long numpy arrays, e.g. image, keypoints, mask."""
        lengths = {len(v) for v in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"arrays differ in length: { {k: len(v) for k, v in arrays.items()} }")
        self.arrays = arrays
        self.num_examples = lengths.pop()
        self.seed = seed
        self.seek(0)

    def _permutation(self, epoch):
        return np.random.RandomState((self.seed * 1_000_003 + epoch) % 2**32).permutation(self.num_examples)

    def seek(self, position: int) -> None:
        """Continue as if `position` examples had already been served."""
        self.epochs_completed, self.index_in_epoch = divmod(position, self.num_examples)
        self._order = self._permutation(self.epochs_completed)

    def next_batch(self, batch_size: int) -> dict[str, np.ndarray]:
        """The next `batch_size` examples; an epoch boundary inside a batch starts a new shuffle."""
        parts = []
        while batch_size > 0:
            take = min(batch_size, self.num_examples - self.index_in_epoch)
            parts.append(self._order[self.index_in_epoch : self.index_in_epoch + take])
            self.index_in_epoch += take
            batch_size -= take
            if self.index_in_epoch == self.num_examples:
                self.epochs_completed += 1
                self.index_in_epoch = 0
                self._order = self._permutation(self.epochs_completed)
        index = np.concatenate(parts)
        return {key: value[index] for key, value in self.arrays.items()}

    def batches(self, batch_size: int, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Endless batches, starting at training step `start_step`."""
        self.seek(start_step * batch_size)
        while True:
            yield self.next_batch(batch_size)
