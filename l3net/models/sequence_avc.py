"""Sequence L3-Net: several frames and a longer audio clip per AVC example (the L3 notes' open question).

The L3 paper's network sees one frame and 1 s of audio. Its notes ask whether a recurrent layer
over a sequence of frames (motion) and a longer clip would help AVC and give a more meaningful
audio embedding. This model answers it without a second architecture: the *same* towers
(`towers.build_vision_tower` / `build_audio_tower`, i.e. the one VGG block builder) run on every
frame and every audio window, and a sequence layer summarises each modality before L3-Net's
fusion.

  image [B, N, S, S, 3] -> fold to [B*N, S, S, 3] -> vision_tower -> [B*N, Dv] -> [B, N, Dv]
        -> vision_sequence (GRU | LSTM | max | mean over the N steps) -> [B, Dv]
  audio [B, M*W]        -> [B*M, W] (M consecutive W-sample windows) -> audio_tower -> [B, M, Da]
        -> audio_sequence -> [B, Da]
  concat [B, Dv + Da] -> fusion_fc1 (fusion_width, ReLU) -> avc_output (2, softmax): L3-Net's own
        head (`avc_models.build_sequence_l3net`)

N = num_frames, M = clip_windows, W = num_audio_samples (audio_seconds). A modality with one step
skips its sequence layer. Because the towers are L3-Net's towers unchanged (same names, same
single-frame / single-window inputs), everything built on towers works on a sequence model as
is: embeddings, the linear probes (on the 1 s audio tower), retrieval, pooled features, export.
The recurrent layers keep the tower width (d -> d), so fusion sees the shapes it always sees.
"""

from __future__ import annotations

from typing import Tuple

import keras

from l3net.models.config import ModelConfig
from l3net.models.towers import build_audio_tower, build_vision_tower

VISION_SEQUENCE = "vision_sequence"
AUDIO_SEQUENCE = "audio_sequence"


@keras.saving.register_keras_serializable(package="l3net")
class FoldSteps(keras.layers.Layer):
    """[B, T, *shape] -> [B*T, *shape]: run a per-step network on all steps as one batch."""

    def call(self, x):
        return keras.ops.reshape(x, (-1,) + tuple(x.shape[2:]))


@keras.saving.register_keras_serializable(package="l3net")
class UnfoldSteps(keras.layers.Layer):
    """[B*T, D] -> [B, T, D] (T static)."""

    def __init__(self, steps: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.steps = steps

    def call(self, x):
        return keras.ops.reshape(x, (-1, self.steps, x.shape[-1]))

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}


def sequence_layer(kind: str, width: int, name: str) -> keras.layers.Layer:
    """[B, T, width] -> [B, width]: the recurrent layer's last state, or pooling over T (the control)."""
    if kind == "gru":
        return keras.layers.GRU(width, name=name)
    if kind == "lstm":
        return keras.layers.LSTM(width, name=name)
    if kind == "max":
        return keras.layers.GlobalMaxPooling1D(name=name)
    if kind == "mean":
        return keras.layers.GlobalAveragePooling1D(name=name)
    raise ValueError(f"sequence_layer={kind!r}: unknown")


def _over_steps(x: keras.KerasTensor, tower: keras.Model, steps: int, kind: str, name: str) -> keras.KerasTensor:
    """[B, steps, *tower input] -> tower on every step -> [B, D] (the sequence layer when steps > 1)."""
    per_step = tower(FoldSteps(name=f"{name}_fold")(x))
    if steps == 1:
        return per_step
    features = UnfoldSteps(steps, name=f"{name}_unfold")(per_step)
    return sequence_layer(kind, int(per_step.shape[-1]), name)(features)


def sequence_features(cfg: ModelConfig) -> Tuple[keras.KerasTensor, ...]:
    """(image input [B, N, S, S, 3], audio input [B, clip_samples], vision features [B, Dv], audio
    features [B, Da]): the towers over every frame / window, then each modality's sequence layer.
    `avc_models.build_sequence_l3net` puts L3-Net's fusion head on the features."""
    image = keras.Input(shape=(cfg.num_frames, cfg.image_size, cfg.image_size, 3), name="image")
    audio = keras.Input(shape=(cfg.clip_samples,), name="audio")
    v = _over_steps(image, build_vision_tower(cfg), cfg.num_frames, cfg.sequence_layer, VISION_SEQUENCE)
    windows = keras.layers.Reshape((cfg.clip_windows, cfg.num_audio_samples), name="audio_windows")(audio)
    a = _over_steps(windows, build_audio_tower(cfg), cfg.clip_windows, cfg.sequence_layer, AUDIO_SEQUENCE)
    return image, audio, v, a
