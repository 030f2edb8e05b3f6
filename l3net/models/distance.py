"""Euclidean distance between two embeddings, the only path from AVE-Net's towers to its decision."""

from __future__ import annotations

from typing import Any, Sequence, Tuple

import keras
from keras import ops

# Floor under the squared distance before the square root: the gradient of sqrt is infinite at 0
# (identical embeddings); 1e-12 changes distances between unit vectors by at most 1e-6.
SQUARED_DISTANCE_FLOOR = 1e-12


@keras.saving.register_keras_serializable(package="l3net")
class EuclideanDistance(keras.layers.Layer):
    """[a, b], each [B, D] -> ||a - b||_2 as [B, 1]."""

    def call(self, inputs: Sequence[Any]) -> Any:
        a, b = inputs
        squared = ops.sum(ops.square(a - b), axis=-1, keepdims=True)
        return ops.sqrt(ops.maximum(squared, SQUARED_DISTANCE_FLOOR))

    def compute_output_shape(self, input_shape: Sequence[Tuple[Any, ...]]) -> Tuple[Any, ...]:
        return (input_shape[0][0], 1)
