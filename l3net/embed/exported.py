"""An `l3net_export` directory as an embedder: its SavedModels, loaded with tf.saved_model.load only.

Why: users pass to `l3net_embed --model X` the X they gave `l3net_export --export_dir X`. No
Keras model is rebuilt; the SavedModels are what run. Audio goes through the audio_embedding
model's "embed_windows" signature, fed windows the Python API cut itself from audio it
resampled and streamed (l3net.audio_files), so long files keep bounded memory exactly as with a
model directory, and the embeddings equal the model directory's. Images go through
image_embedding's "embed_images" (resize and centre crop inside the graph).

Each SavedModel is loaded on first use, so an export with only some of the uses serves those.
The input contract (rate, window, sizes) comes from each use's l3net_export.json. The pooled conv
features (`pooled=True`) come from the "embed_windows_pooled" / "embed_images_pooled" signatures;
an export written before they existed says to re-run `l3net_export`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf

from l3net.model_dir import ModelDirError
from l3net.models.config import ModelConfig
from l3net.serving.export import INFO_NAME
from l3net.serving.shared_plan import shared_geometry
from l3net.serving.signatures import (AUDIO, IMAGE, POOLED_SIGNATURES, SEGMENTS_SIGNATURES, SIGNATURE_NAMES,
                                     WINDOWS_SIGNATURE)

# The SavedModels each `l3net_embed` kind needs.
USES_FOR_KIND = {"audio": (AUDIO,), "image": (IMAGE,), "video": (AUDIO, IMAGE)}
_SIGNATURE = {AUDIO: WINDOWS_SIGNATURE, IMAGE: SIGNATURE_NAMES[IMAGE]}


def is_export_dir(path: str) -> bool:
    """Whether `path` holds an audio_embedding/ or image_embedding/ SavedModel of `l3net_export`."""
    return any(os.path.isfile(os.path.join(path, use, INFO_NAME)) for use in (AUDIO, IMAGE))


class ExportedEmbedder:
    """The Embedder interface (l3net.embed.embedder) over an export directory.

    Attributes: sample_rate, window, image_size, resize_short_side, audio_dim, image_dim,
    audio_pooled_dim, image_pooled_dim (None if that SavedModel, or its pooled signature, is
    absent), step (checkpoint step), config (ModelConfig), shared_geometry (None for an export
    without the "embed_segments" signatures: its audio is then embedded window by window).
    """

    def __init__(self, export_dir: str):
        self.export_dir = os.path.abspath(export_dir)
        self._info = {use: self._read_info(use) for use in (AUDIO, IMAGE)}
        any_info = self._info[AUDIO] or self._info[IMAGE]
        if any_info is None:
            raise ModelDirError(f"{export_dir}: no audio_embedding/ or image_embedding/ export; "
                                "run `l3net_export --export_dir` first")
        self.config = ModelConfig.from_dict(any_info["model_config"])
        self.step = int(any_info["checkpoint_step"])
        self.sample_rate, self.window = self.config.sample_rate, self.config.num_audio_samples
        self.image_size = self.config.image_size
        self.resize_short_side = int(any_info["resize_short_side"])
        self.audio_dim = self._info[AUDIO] and int(self._info[AUDIO]["embedding_size"])
        self.image_dim = self._info[IMAGE] and int(self._info[IMAGE]["embedding_size"])
        self.audio_pooled_dim = self._pooled_dim(AUDIO)
        self.image_pooled_dim = self._pooled_dim(IMAGE)
        self._functions: Dict[Any, Any] = {}
        self._loaded: Dict[str, Any] = {}
        # Exports written before shared window maps lack the segment signatures: exact windows then.
        audio_signatures = (self._info[AUDIO] or {}).get("signatures", [])
        self.shared_geometry = (shared_geometry(self.config) if SEGMENTS_SIGNATURES[False] in audio_signatures
                                else None)

    def _pooled_dim(self, use: str):
        size = (self._info[use] or {}).get("pooled_embedding_size")
        return int(size) if size else None

    def _read_info(self, use: str):
        path = os.path.join(self.export_dir, use, INFO_NAME)
        if not os.path.isfile(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise ModelDirError(f"{path}: unreadable ({e}); re-run `l3net_export`") from None

    def require(self, kind: str, pooled: bool = False) -> None:
        """Loads the SavedModels `kind` ('audio', 'image' or 'video') needs; ModelDirError if absent."""
        for use in USES_FOR_KIND[kind]:
            self._function(use, pooled)

    def _function(self, use: str, pooled: bool = False, name: Optional[str] = None):
        key = (use, pooled, name)
        if key not in self._functions:
            path = os.path.join(self.export_dir, use)
            if self._info[use] is None:
                raise ModelDirError(f"{path}: missing; re-run `l3net_export` to write it")
            if use not in self._loaded:
                self._loaded[use] = tf.saved_model.load(path)
            name = name or (POOLED_SIGNATURES[use] if pooled else _SIGNATURE[use])
            signatures = self._loaded[use].signatures
            if name not in signatures:
                raise ModelDirError(f"{path}: has no {name!r} signature (an older export); re-run `l3net_export`")
            self._functions[key] = signatures[name]
        return self._functions[key]

    def embed_windows(self, windows: np.ndarray, pooled: bool = False) -> np.ndarray:
        """float32 [K, window] -> float32 [K, audio_dim] (or [K, audio_pooled_dim])."""
        fn = self._function(AUDIO, pooled)
        return fn(windows=tf.convert_to_tensor(windows, tf.float32))["embeddings"].numpy()

    def embed_segments(self, segments: np.ndarray, columns: np.ndarray, pooled: bool = False) -> np.ndarray:
        """float32 [B, L] segments, int32 [n] window columns -> [B, n, D] ("embed_segments" signatures)."""
        fn = self._function(AUDIO, pooled, SEGMENTS_SIGNATURES[bool(pooled)])
        return fn(segments=tf.convert_to_tensor(segments, tf.float32),
                  columns=tf.convert_to_tensor(columns, tf.int32))["embeddings"].numpy()

    def embed_images(self, images: np.ndarray, pooled: bool = False) -> np.ndarray:
        """uint8 [K, H, W, 3] (one size) -> float32 [K, image_dim] (or pooled; resize + centre crop inside)."""
        fn = self._function(IMAGE, pooled)
        return fn(images=tf.convert_to_tensor(images, tf.uint8))["embeddings"].numpy()
