"""Run a Keras model through TFLite (XNNPACK): 4-9x faster than TensorFlow for one face.

    fast = TFLiteModel(model)          # converted in memory (about a second), nothing written
    points = fast(images)              # (N, ...) float32 numpy in, numpy out, one image per call

The interpreter comes from `ai_edge_litert` (LiteRT, TFLite's successor) where it is installed,
else from `tf.lite`, which TensorFlow still ships but has deprecated.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from facekp.tfenv import muted_stderr

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # platforms without LiteRT wheels (Windows)
    Interpreter = tf.lite.Interpreter


def tflite_bytes(fn: Callable[[tf.Tensor], Any], input_spec: tf.TensorSpec) -> bytes:
    """A TFLite flatbuffer of `fn` (a model, or a function calling one) for one fixed input spec.

    Keras 3 weights stay resource variables in a converted graph (TFLite then reads them
    uninitialised); folding them into constants first gives a self-contained model that needs
    only builtin ops.
    """
    concrete = tf.function(fn, autograph=False).get_concrete_function(input_spec)
    frozen = convert_variables_to_constants_v2(concrete)
    # the frozen graph holds no variables: an empty module is all the converter needs to keep alive
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen], tf.Module()).convert()


def interpreter(model_content: bytes, threads: int | None = None) -> Interpreter:
    """An allocated interpreter on all cores (or `threads`), without the runtime's notices."""
    with warnings.catch_warnings(), muted_stderr():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        runner = Interpreter(model_content=model_content, num_threads=threads or os.cpu_count())
        runner.allocate_tensors()
    return runner


class TFLiteModel:
    """A model's inference (training=False) as a batch-1 TFLite interpreter over numpy arrays.

    Batching buys nothing here (XNNPACK's time per image is the same at batch 1 and 8), so a
    batch runs image by image through one fixed-shape interpreter. An interpreter runs one call
    at a time (another thread's set_tensor during its invoke raises "There is at least 1 reference
    to internal data in the interpreter"): callers on several threads at once each get one of their
    own from a pool, made from the same converted model when none is free.
    """

    def __init__(self, model, threads=None):
        spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
        self.content, self.threads = tflite_bytes(lambda x: model(x, training=False), spec), threads
        runner = interpreter(self.content, threads)
        self.input = runner.get_input_details()[0]["index"]
        self.output = runner.get_output_details()[0]["index"]
        self.output_shape = tuple(runner.get_output_details()[0]["shape"][1:])
        self._free, self._lock = [runner], threading.Lock()  # interpreters no call is using

    def __call__(self, images):
        with self._lock:
            runner = self._free.pop() if self._free else None
        runner = runner or interpreter(self.content, self.threads)  # another caller holds each of the others
        try:
            out = [np.zeros((0, *self.output_shape), np.float32)]
            for image in np.asarray(images, np.float32):
                runner.set_tensor(self.input, image[None])
                runner.invoke()
                out.append(runner.get_tensor(self.output))  # a copy: the interpreter keeps nothing of it
            return np.concatenate(out)
        finally:
            with self._lock:
                self._free.append(runner)
