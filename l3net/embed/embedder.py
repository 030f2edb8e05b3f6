"""A model's embedding networks, built (or loaded) once per directory and reused.

`get_embedder(X)` accepts both directories a user has: an `l3net_export --export_dir`
(l3net.embed.exported.ExportedEmbedder: the SavedModels, no Keras model) or an `l3net_train
--model_dir` (Embedder below). Both offer the same attributes and methods.

`Embedder` wraps the restored AVC model's image and audio embedding sub-models (l3net.models.
embedding_models: L3-Net's 512-d tower outputs, AVE-Net's L2-normalised 128-d embeddings) in
tf.functions with fixed input signatures, so calls with new batch sizes do not retrace. With
`pooled=True` the embedders give the L3 paper's pooled conv features instead (l3net.serving.pooled:
6144-d audio, 8192-d image at paper size; OpenL3's embedding_size 6144 / 8192); `choose_pooled`
turns an OpenL3-style `embedding_size` into that choice.
"""

from __future__ import annotations

import functools
import os
from typing import Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from l3net.embed.exported import ExportedEmbedder, is_export_dir
from l3net.model_dir import MODEL_CONFIG_NAME, ModelDir, ModelDirError
from l3net.models.precision import bfloat16_compute
from l3net.serving import pooled
from l3net.serving.images import prepare_images
from l3net.serving.shared_audio import SharedAudioNetwork


class Embedder:
    """Audio and image embeddings of one trained model.

    Attributes: sample_rate (Hz the audio model takes), window (samples per audio window),
    image_size, resize_short_side, audio_dim, image_dim, audio_pooled_dim, image_pooled_dim,
    step (checkpoint step), config, shared_geometry (l3net.serving.shared_plan).
    `bfloat16`: the networks compute in bfloat16 (Keras' mixed_bfloat16; weights stay float32):
    1.7x faster at paper size on a CPU with AVX512-BF16, embeddings within cosine 0.9994 of
    float32 (README "Shared window computation"); slower on CPUs without bf16 instructions.
    `checkpoint`: best|latest|<step> (default: the best by validation; latest if none).
    """

    def __init__(self, model_dir: str, checkpoint: Union[str, int, None] = "best", bfloat16: bool = False):
        from l3net.models import embedding_models

        directory = ModelDir(model_dir)
        with bfloat16_compute(bfloat16):
            model, cfg, step = directory.load_model(checkpoint)
        self.bfloat16 = bfloat16
        image_model, _ = embedding_models(model)
        shared = SharedAudioNetwork(model, cfg)  # both audio paths: shared maps and exact windows
        self.shared_geometry = shared.geometry
        self.model_dir = os.path.abspath(model_dir)
        self.config, self.step = cfg, step
        self.sample_rate, self.window = cfg.sample_rate, cfg.num_audio_samples
        self.image_size = cfg.image_size
        self.resize_short_side = directory.resize_short_side(cfg)
        self.audio_dim, self.audio_pooled_dim = shared.dim, shared.pooled_dim
        self.image_dim = int(image_model.output.shape[-1])
        window_spec = [tf.TensorSpec([None, self.window], tf.float32)]
        self._windows = {flag: tf.function(lambda x, flag=flag: shared.embed_windows(x, flag), reduce_retracing=True,
                                           input_signature=window_spec) for flag in (False, True)}
        segment_spec = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)]
        self._segments = {flag: tf.function(lambda s, c, flag=flag: shared.embed(s, c, flag), reduce_retracing=True,
                                            input_signature=segment_spec) for flag in (False, True)}
        self._image = tf.function(
            lambda x: image_model(prepare_images(x, self.image_size, self.resize_short_side), training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        image_pooled, self.image_pooled_dim = pooled.image_pooled_function(model)
        self._image_pooled = tf.function(
            lambda x: image_pooled(prepare_images(x, self.image_size, self.resize_short_side)),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])

    def require(self, kind: str, pooled: bool = False) -> None:
        """Nothing to load: a model directory serves every kind (see ExportedEmbedder.require)."""

    def embed_windows(self, windows: np.ndarray, pooled: bool = False) -> np.ndarray:
        """float32 [K, window] -> float32 [K, audio_dim] (or [K, audio_pooled_dim]); callers batch."""
        return self._windows[bool(pooled)](tf.convert_to_tensor(windows, tf.float32)).numpy()

    def embed_segments(self, segments: np.ndarray, columns: np.ndarray, pooled: bool = False) -> np.ndarray:
        """float32 [B, L] segments, int32 [n] window columns -> [B, n, D] (l3net.serving.shared_audio)."""
        return self._segments[bool(pooled)](tf.convert_to_tensor(segments, tf.float32),
                                            tf.convert_to_tensor(columns, tf.int32)).numpy()

    def embed_images(self, images: np.ndarray, pooled: bool = False) -> np.ndarray:
        """uint8 [K, H, W, 3] (one size) -> float32 [K, image_dim] (or pooled; resize + centre crop inside)."""
        fn = self._image_pooled if pooled else self._image
        return fn(tf.convert_to_tensor(images, tf.uint8)).numpy()


AnyEmbedder = Union[Embedder, ExportedEmbedder]
AUDIO_KIND, IMAGE_KIND = "audio", "image"


def embedding_sizes(embedder: AnyEmbedder, kind: str) -> Tuple[Optional[int], Optional[int]]:
    """(embedding size, pooled size) of `kind` ('audio' or 'image'); None where unknown."""
    if kind == AUDIO_KIND:
        return embedder.audio_dim, embedder.audio_pooled_dim
    return embedder.image_dim, embedder.image_pooled_dim


def choose_pooled(embedder: AnyEmbedder, kind: str, embedding_size: Optional[int]) -> bool:
    """Whether an OpenL3-style `embedding_size` asks for the pooled conv features of `kind`.

    None: the model's embedding (its tower output: 512 for L3-Net at paper size; AVE-Net's
    128-d). Otherwise the size itself, as OpenL3 takes it: the embedding's size, or the pooled
    features' (6144 audio / 8192 image at paper size). When both are equal the embedding is
    used. Raises ValueError naming the sizes this model offers.
    """
    if embedding_size is None:
        return False
    plain, pooled_size = embedding_sizes(embedder, kind)
    if embedding_size == plain:
        return False
    if pooled_size is not None and embedding_size == pooled_size:
        return True
    offered = f"{plain} (its embedding)" + (f" or {pooled_size} (pooled conv features)" if pooled_size else
                                            "; this export predates the pooled conv features: re-run `l3net_export`")
    raise ValueError(f"embedding_size={embedding_size}: this model's {kind} embedding_size is {offered}")
_WHAT = "pass an `l3net_export --export_dir` or an `l3net_train --model_dir`"


@functools.lru_cache(maxsize=4)
def _cached(path: str, checkpoint: Union[str, int, None], bfloat16: bool) -> AnyEmbedder:
    if not os.path.isdir(path):
        raise ModelDirError(f"{path}: no such directory; {_WHAT}")
    if is_export_dir(path):
        if bfloat16:
            raise ModelDirError(f"{path}: an export's SavedModels compute in float32; for bfloat16 pass the "
                                "`l3net_train --model_dir` it was exported from")
        return ExportedEmbedder(path)
    if not os.path.isfile(os.path.join(path, MODEL_CONFIG_NAME)):
        raise ModelDirError(f"{path}: neither an export (no audio_embedding/ or image_embedding/) "
                            f"nor a model directory (no {MODEL_CONFIG_NAME}); {_WHAT}")
    return Embedder(path, checkpoint, bfloat16)


def get_embedder(model: Union[str, AnyEmbedder], checkpoint: Union[str, int, None] = "best",
                 bfloat16: bool = False) -> AnyEmbedder:
    """The embedder of an export or model directory (cached by absolute path), or `model` itself.

    `checkpoint` applies to a model directory (an export holds the weights it was exported with);
    so does `bfloat16` (Embedder). Raises ModelDirError for a directory that is neither (or is
    unusable), or for bfloat16 with an export.
    """
    if isinstance(model, (Embedder, ExportedEmbedder)):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model={model!r}: pass an export or model directory (str) or an l3net embedder")
    return _cached(os.path.abspath(os.fspath(model)), checkpoint, bool(bfloat16))
