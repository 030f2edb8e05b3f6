"""A model's embedding networks, built (or loaded) once per directory and reused.

`get_embedder(X)` accepts both directories a user has: an `l3net_export --export_dir`
(l3net.embed.exported.ExportedEmbedder: the SavedModels, no Keras model) or an `l3net_train
--model_dir` (Embedder below). Both offer the same attributes and methods.

`Embedder` wraps the restored AVC model's image and audio embedding sub-models (l3net.models.
embedding_models: L3-Net's 512-d tower outputs, AVE-Net's L2-normalised 128-d embeddings) in
tf.functions with fixed input signatures, so calls with new batch sizes do not retrace.
"""

from __future__ import annotations

import functools
import os
from typing import Union

import numpy as np
import tensorflow as tf

from l3net.embed.exported import ExportedEmbedder, is_export_dir
from l3net.model_dir import MODEL_CONFIG_NAME, ModelDir, ModelDirError
from l3net.serving.images import prepare_images


class Embedder:
    """Audio and image embeddings of one trained model.

    Attributes: sample_rate (Hz the audio model takes), window (samples per audio window),
    image_size, resize_short_side, audio_dim, image_dim, step (checkpoint step), config.
    `checkpoint`: best|latest|<step> (default: the best by validation; latest if none).
    """

    def __init__(self, model_dir: str, checkpoint: Union[str, int, None] = "best"):
        from l3net.models import embedding_models

        directory = ModelDir(model_dir)
        model, cfg, step = directory.load_model(checkpoint)
        image_model, audio_model = embedding_models(model)
        self.model_dir = os.path.abspath(model_dir)
        self.config, self.step = cfg, step
        self.sample_rate, self.window = cfg.sample_rate, cfg.num_audio_samples
        self.image_size = cfg.image_size
        self.resize_short_side = directory.resize_short_side(cfg)
        self.audio_dim = int(audio_model.output.shape[-1])
        self.image_dim = int(image_model.output.shape[-1])
        self._audio = tf.function(lambda x: audio_model(x, training=False), reduce_retracing=True,
                                  input_signature=[tf.TensorSpec([None, self.window], tf.float32)])
        self._image = tf.function(
            lambda x: image_model(prepare_images(x, self.image_size, self.resize_short_side), training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])

    def require(self, kind: str) -> None:
        """Nothing to load: a model directory serves every kind (see ExportedEmbedder.require)."""

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """float32 [K, window] -> float32 [K, audio_dim] (one forward pass; callers batch)."""
        return self._audio(tf.convert_to_tensor(windows, tf.float32)).numpy()

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 [K, H, W, 3] (one size) -> float32 [K, image_dim] (resize + centre crop inside)."""
        return self._image(tf.convert_to_tensor(images, tf.uint8)).numpy()


AnyEmbedder = Union[Embedder, ExportedEmbedder]
_WHAT = "pass an `l3net_export --export_dir` or an `l3net_train --model_dir`"


@functools.lru_cache(maxsize=4)
def _cached(path: str, checkpoint: Union[str, int, None]) -> AnyEmbedder:
    if not os.path.isdir(path):
        raise ModelDirError(f"{path}: no such directory; {_WHAT}")
    if is_export_dir(path):
        return ExportedEmbedder(path)
    if not os.path.isfile(os.path.join(path, MODEL_CONFIG_NAME)):
        raise ModelDirError(f"{path}: neither an export (no audio_embedding/ or image_embedding/) "
                            f"nor a model directory (no {MODEL_CONFIG_NAME}); {_WHAT}")
    return Embedder(path, checkpoint)


def get_embedder(model: Union[str, AnyEmbedder], checkpoint: Union[str, int, None] = "best") -> AnyEmbedder:
    """The embedder of an export or model directory (cached by absolute path), or `model` itself.

    `checkpoint` applies to a model directory (an export holds the weights it was exported with).
    Raises ModelDirError for a directory that is neither (or is unusable).
    """
    if isinstance(model, (Embedder, ExportedEmbedder)):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model={model!r}: pass an export or model directory (str) or an l3net embedder")
    return _cached(os.path.abspath(os.fspath(model)), checkpoint)
