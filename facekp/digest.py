"""Short content digests: what a cache, a model's weights or a list of names holds, in a few hex digits."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


def content_digest(*parts: object, length: int = 20) -> str:
    """A hex digest of `parts`: arrays by their bytes, anything else by its repr."""
    digest = hashlib.sha1()
    for part in parts:
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()[:length]


def weights_digest(model: keras.Model) -> str:
    """A digest of a Keras model's weights, in the model's order: equal for equal weights, however
    they were saved (a training checkpoint or a slim export)."""
    return content_digest(*(np.asarray(v.numpy()) for v in model.weights), length=16)
