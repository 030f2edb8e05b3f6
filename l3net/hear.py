"""The HEAR 2021 common API over an l3net model, for `hear-eval-kit` and `hear-validator`.

    import l3net.hear as hear
    model = hear.load_model("X")          # an `l3net_export --export_dir` or an `l3net_train --model_dir`
    emb, ts = hear.get_timestamp_embeddings(audio, model)   # audio: float32 [n, samples] at model.sample_rate
    scene = hear.get_scene_embeddings(audio, model)

The API (https://hearbenchmark.com/hear-api.html): `load_model(model_file_path)` returns a
`tf.Module` with int attributes `sample_rate`, `scene_embedding_size` and
`timestamp_embedding_size`; `get_timestamp_embeddings(audio, model)` returns (embeddings float32
[n, T, D], timestamps float32 [n, T] in milliseconds); `get_scene_embeddings(audio, model)`
returns float32 [n, D]. Inputs and outputs are TensorFlow tensors (numpy arrays are accepted).

How l3net answers it:
  * sample_rate: the model's rate if HEAR allows it (16, 22.05, 32, 44.1 or 48 kHz); otherwise
    the next allowed rate above it (48 kHz at most), and the audio is resampled to the model's
    rate inside (libswresample, as the embedding API does; l3net.audio_files.resample_audio).
  * Timestamp embeddings: one window of the model's audio_seconds centred on every multiple of
    the hop (50 ms by default, the largest HEAR suggests) inside the clip, zeros outside it
    (layout "center_full" of l3net.serving.windows); the timestamps are those centres, exactly
    (hop = int(hop_seconds * model rate) samples, timestamps = i * hop / rate, so they never
    drift from the windows). D = the model's audio embedding, or the pooled conv features with
    `load_model(..., embedding_size=...)` (OpenL3's argument, e.g. 6144 at paper size).
  * Scene embeddings: the mean of the same embeddings over the windows that lie inside the clip,
    `scene_hop_seconds` (0.5 s) apart (layout "inside", the L3 paper's clip protocol, as
    `l3net_probe` cuts clips).
Windows are streamed through the model in batches (l3net.embed.audio_windows), so memory does not
grow with the number of windows. An empty batch or clip is an error.

Run the HEAR project's validator on a model (it needs PyTorch: `make hear-check` builds a separate
environment for it):  hear-validator l3net.hear -m <export or model dir>
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from l3net.audio_files import check_finite, resample_audio
from l3net.embed.embedder import AUDIO_KIND, AnyEmbedder, choose_pooled, get_embedder
from l3net.embed.shared_stream import embed_stream
from l3net.serving.windows import CENTER_FULL, INSIDE, hop_samples, num_windows

HEAR_SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)
TIMESTAMP_HOP_SECONDS = 0.05
SCENE_HOP_SECONDS = 0.5
BATCH_SIZE = 64


def hear_sample_rate(model_rate: int) -> int:
    """The rate HEAR feeds: the model's if allowed, else the next allowed one above it (48 kHz at most)."""
    if model_rate in HEAR_SAMPLE_RATES:
        return model_rate
    return next((rate for rate in HEAR_SAMPLE_RATES if rate > model_rate), HEAR_SAMPLE_RATES[-1])


class L3NetHearModel(tf.Module):
    """An l3net embedder with the attributes the HEAR API asks for.

    Attributes: sample_rate, scene_embedding_size, timestamp_embedding_size (ints, as HEAR
    requires), model_sample_rate (the rate the network takes), hop_seconds, scene_hop_seconds,
    pooled (whether D is the pooled conv features), batch_size, exact (every window through the
    whole network instead of shared conv maps, l3net.embed.shared_stream).
    """

    def __init__(self, embedder: AnyEmbedder, *, hop_seconds: float = TIMESTAMP_HOP_SECONDS,
                 scene_hop_seconds: float = SCENE_HOP_SECONDS, embedding_size: Optional[int] = None,
                 batch_size: int = BATCH_SIZE, exact: bool = False):
        super().__init__(name="l3net_hear")
        if not hop_seconds > 0 or not scene_hop_seconds > 0:
            raise ValueError(f"hop_seconds={hop_seconds}, scene_hop_seconds={scene_hop_seconds}: must be > 0")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if embedder.audio_dim is None:
            raise ValueError("the model has no audio embedding (an export without audio_embedding/)")
        self._embedder = embedder
        self.pooled = bool(choose_pooled(embedder, AUDIO_KIND, embedding_size))
        if self.pooled:
            embedder.require(AUDIO_KIND, pooled=True)
        else:
            embedder.require(AUDIO_KIND)
        size = int(embedder.audio_pooled_dim if self.pooled else embedder.audio_dim)
        self.model_sample_rate = int(embedder.sample_rate)
        self.sample_rate = hear_sample_rate(self.model_sample_rate)
        self.timestamp_embedding_size = size
        self.scene_embedding_size = size
        self.hop_seconds = float(hop_seconds)
        self.scene_hop_seconds = float(scene_hop_seconds)
        self.batch_size = int(batch_size)
        self.exact = bool(exact)

    @property
    def embedder(self) -> AnyEmbedder:
        return self._embedder

    def _mono_rows(self, audio: Any) -> np.ndarray:
        """float32 [n, samples] at the model's rate, from the HEAR input at self.sample_rate."""
        rows = np.asarray(audio.numpy() if hasattr(audio, "numpy") else audio, np.float32)
        if rows.ndim != 2:
            raise ValueError(f"audio of shape {rows.shape}: HEAR passes [n_sounds, n_samples]")
        if rows.shape[0] == 0 or rows.shape[1] == 0:
            raise ValueError(f"empty audio (shape {rows.shape}): nothing to embed")
        check_finite(rows, ("sound", "sample"))  # refused, as by the embedding API (l3net.audio_files)
        if self.sample_rate == self.model_sample_rate:
            return rows
        return np.stack([resample_audio(row, self.sample_rate, self.model_sample_rate) for row in rows])

    def _embed(self, row: np.ndarray, hop: int, layout: str) -> np.ndarray:
        return embed_stream(self._embedder, [row], hop, layout, pooled=self.pooled, exact=self.exact,
                            batch_size=self.batch_size).astype(np.float32)

    def timestamp_embeddings(self, audio: Any) -> Tuple[np.ndarray, np.ndarray]:
        """(float32 [n, T, D], float32 [n, T] ms) of audio [n, samples] at self.sample_rate."""
        rows = self._mono_rows(audio)
        hop = hop_samples(self.hop_seconds, self.model_sample_rate)
        emb = np.stack([self._embed(row, hop, CENTER_FULL) for row in rows])
        count = num_windows(rows.shape[1], self._embedder.window, hop, CENTER_FULL)
        stamps = np.arange(count, dtype=np.float64) * hop * 1000.0 / self.model_sample_rate
        return emb, np.tile(stamps.astype(np.float32), (rows.shape[0], 1))

    def scene_embeddings(self, audio: Any) -> np.ndarray:
        """float32 [n, D]: mean embedding of the windows inside each clip."""
        rows = self._mono_rows(audio)
        hop = hop_samples(self.scene_hop_seconds, self.model_sample_rate)
        return np.stack([self._embed(row, hop, INSIDE).mean(axis=0) for row in rows]).astype(np.float32)


def load_model(model_file_path: str = "", *, checkpoint: Union[str, int, None] = "best",
               hop_seconds: float = TIMESTAMP_HOP_SECONDS, scene_hop_seconds: float = SCENE_HOP_SECONDS,
               embedding_size: Optional[int] = None, batch_size: int = BATCH_SIZE,
               exact: bool = False) -> L3NetHearModel:
    """HEAR's load_model: an `l3net_export --export_dir` or an `l3net_train --model_dir` -> tf.Module.

    l3net ships no weights, so a path is required. `checkpoint` applies to a model directory
    (best|latest|<step>); the keyword options are l3net's (module doc).
    """
    if not model_file_path:
        raise ValueError("l3net.hear.load_model: pass an `l3net_export --export_dir` or an `l3net_train "
                         "--model_dir` (hear-validator: -m DIR); l3net ships no pretrained weights")
    return L3NetHearModel(get_embedder(model_file_path, checkpoint), hop_seconds=hop_seconds,
                          scene_hop_seconds=scene_hop_seconds, embedding_size=embedding_size, batch_size=batch_size,
                          exact=exact)


def _check_model(model: Any) -> L3NetHearModel:
    if not isinstance(model, L3NetHearModel):
        raise TypeError(f"model={type(model).__name__}: pass the result of l3net.hear.load_model")
    return model


def get_timestamp_embeddings(audio: tf.Tensor, model: L3NetHearModel) -> Tuple[tf.Tensor, tf.Tensor]:
    """HEAR's get_timestamp_embeddings: audio float32 [n, samples] at model.sample_rate ->
    (embeddings float32 [n, T, D], timestamps float32 [n, T], window centres in milliseconds)."""
    emb, stamps = _check_model(model).timestamp_embeddings(audio)
    return tf.constant(emb, tf.float32), tf.constant(stamps, tf.float32)


def get_scene_embeddings(audio: tf.Tensor, model: L3NetHearModel) -> tf.Tensor:
    """HEAR's get_scene_embeddings: audio float32 [n, samples] at model.sample_rate -> float32 [n, D]."""
    return tf.constant(_check_model(model).scene_embeddings(audio), tf.float32)
