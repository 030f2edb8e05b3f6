"""AVOL-Net (Objects that Sound, ECCV 2018): audio-visual correspondence that localises the sound.

The vision tower keeps its spatial grid instead of pooling it away, so every image cell gets its
own 128-d embedding; the audio tower gives one 128-d embedding. Per cell, the dot product of the
two, calibrated (one learned scale and bias), is a logit "this cell makes the sound". AVC is a
multiple-instance problem: a frame corresponds to the audio if *some* cell does, so the AVC
probability is the maximum over cells of the per-cell sigmoid. Only positive/negative pairs are
supervised; the per-cell map, upsampled to the image, is the localisation heat-map.

Top-level layers (paper config, 224 input, 4 blocks -> 14x14 grid, E = embedding_width = 128):
  vision_tower      image [B, S, S, 3] -> VGG blocks, every one 2x2-pooled -> [B, S/16, S/16, 512]
  image_conv1       1x1 conv E + ReLU;  image_conv2: 1x1 conv E -> [B, h, w, E] (no normalisation)
  audio_tower       waveform -> [B, 512] (global max-pool, as in L3-Net / AVE-Net)
  audio_fc1         fc E + ReLU;  audio_fc2: fc E -> audio_embedding [B, E]
  av_cell_logits    calibrated dot products [B, h, w] (CellCorrespondence)
  avc_output        [B, 2] = [1 - p, p], p = max over cells of sigmoid(logit) (MaxCellDecision)

The output is the [B, 2] softmax contract of every AVC model, so `l3net_train`, validation and
`l3net_eval avc` use AVOL-Net unchanged. Because sigmoid is monotone, p = sigmoid(max logit), and
[1 - p, p] = softmax([0, max logit]): both columns come out of one float32 softmax, so neither is
formed as 1 - (something close to 1) and the cross-entropy of confident pairs keeps its precision.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import keras
from keras import ops

from l3net.models.config import ModelConfig
from l3net.models.towers import VISION_TOWER, build_audio_tower
from l3net.models.vgg import vgg_block

CELL_LOGITS = "av_cell_logits"
OUTPUT_LAYER = "avc_output"
INITIAL_BIAS = 0.0


@keras.saving.register_keras_serializable(package="l3net")
class CellCorrespondence(keras.layers.Layer):
    """[cells [B, h, w, E], audio [B, E]] -> exp(log_scale) * <cell, audio> + bias, [B, h, w].

    `log_scale` and `bias` are the paper's calibration: two learned scalars (not weight-decayed:
    the trainer decays only variables named 'kernel'). The scale is learnt as its logarithm:
    before the towers have learnt anything, shrinking the scale lowers the loss, and Adam moves a
    scalar by ~learning_rate per step whatever its size, so a plain scale of 0.09 reached ~0 in a
    few hundred steps of the CPU demo and then blocked every gradient to the towers (the model
    sat at exactly chance). In log space a step changes the scale by a factor of ~1 +- lr.
    """

    def __init__(self, initial_scale: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.initial_scale = float(initial_scale)

    def build(self, input_shape: Any) -> None:
        self.log_scale = self.add_weight(name="log_scale", shape=(),
                                         initializer=keras.initializers.Constant(math.log(self.initial_scale)))
        self.bias = self.add_weight(name="bias", shape=(), initializer=keras.initializers.Constant(INITIAL_BIAS))

    def call(self, inputs: Any) -> Any:
        cells, audio = inputs
        return self.calibrate(ops.sum(cells * audio[:, None, None, :], axis=-1))

    def calibrate(self, dots: Any) -> Any:
        """Dot products (any shape) -> logits; also used to score all pairs of a batch."""
        return dots * ops.exp(ops.cast(self.log_scale, dots.dtype)) + ops.cast(self.bias, dots.dtype)

    def compute_output_shape(self, input_shape: Any) -> Tuple[Any, ...]:
        return tuple(input_shape[0][:3])

    def get_config(self) -> dict:
        return {**super().get_config(), "initial_scale": self.initial_scale}


@keras.saving.register_keras_serializable(package="l3net")
class MaxCellDecision(keras.layers.Layer):
    """Cell logits [B, h, w] -> [B, 2] = softmax([0, max over cells]) = [1 - p, p], float32.

    p = max over cells of sigmoid(logit): the multiple-instance AVC probability.
    """

    def call(self, logits: Any) -> Any:
        best = ops.max(ops.cast(logits, "float32"), axis=(1, 2))
        return ops.softmax(ops.stack([ops.zeros_like(best), best], axis=-1), axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Tuple[Any, ...]:
        return (input_shape[0], 2)


def grid_size(cfg: ModelConfig) -> int:
    """Side of the cell grid for a square `cfg.image_size` input: image_size / 2**len(vision_widths)."""
    return cfg.image_size // 2 ** len(cfg.vision_widths)


def build_grid_vision_tower(cfg: ModelConfig, image_hw: Optional[Tuple[Optional[int], Optional[int]]] = None
                            ) -> keras.Model:
    """image float32 [B, H, W, 3] in [0, 1] -> [B, H / 2**n, W / 2**n, vision_widths[-1]].

    The shared VGG blocks, each ending in a 2x2 pool (none pools globally). `image_hw` defaults to
    the square training input; (None, None) accepts any size (localisation on whole frames).
    """
    hw = image_hw or (cfg.image_size, cfg.image_size)
    image = keras.Input(shape=(hw[0], hw[1], 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="vision_scale")(image)
    for block, width in enumerate(cfg.vision_widths, start=1):
        x = vgg_block(x, int(width), "vision", block, global_pool=False, bn_momentum=cfg.batchnorm_momentum)
    return keras.Model(image, x, name=VISION_TOWER)


def build_avolnet(cfg: ModelConfig, image_hw: Optional[Tuple[Optional[int], Optional[int]]] = None
                  ) -> keras.Model:
    """AVOL-Net: {'image': [B, H, W, 3], 'audio': [B, N]} -> avc_output [B, 2] (see module docstring).

    image_hw: spatial input size, default (image_size, image_size); `localizer` builds the same
    network with (None, None) to map whole frames of any size.
    """
    hw = image_hw or (cfg.image_size, cfg.image_size)
    image = keras.Input(shape=(hw[0], hw[1], 3), name="image")
    audio = keras.Input(shape=(cfg.num_audio_samples,), name="audio")
    e = cfg.embedding_width
    cells = build_grid_vision_tower(cfg, hw)(image)
    cells = keras.layers.Conv2D(e, 1, activation="relu", name="image_conv1")(cells)
    cells = keras.layers.Conv2D(e, 1, name="image_conv2")(cells)
    a = build_audio_tower(cfg)(audio)
    a = keras.layers.Dense(e, activation="relu", name="audio_fc1")(a)
    a = keras.layers.Dense(e, name="audio_fc2")(a)
    a = keras.layers.Identity(name="audio_embedding")(a)
    # Dot products of two E-dimensional un-normalised embeddings grow like sqrt(E): starting the
    # calibration at 1/sqrt(E) (as in scaled dot-product attention) keeps the initial logits near
    # unit size instead of saturating every sigmoid.
    logits = CellCorrespondence(initial_scale=e ** -0.5, name=CELL_LOGITS)([cells, a])
    out = MaxCellDecision(dtype="float32", name=OUTPUT_LAYER)(logits)
    return keras.Model({"image": image, "audio": audio}, out, name="avolnet")


def localizer(model: keras.Model, cfg: ModelConfig) -> keras.Model:
    """Heat-map model of a trained AVOL-Net, for frames of any size; shares no variables with it.

    {'image': [B, H, W, 3] in [0, 1], 'audio': [B, N]} -> (cell logits [B, H/2**n, W/2**n],
    avc_output [B, 2]). H and W should be multiples of 2**len(vision_widths) so the grid tiles the
    frame exactly (cell (i, j) covers rows i*2**n .. (i+1)*2**n - 1). Weights are copied from
    `model` (same builder, same layer order; kernels do not depend on the spatial size).
    """
    if model.name != "avolnet":
        raise ValueError(f"model '{model.name}' has no per-cell map; localisation needs --model=avolnet")
    flexible = build_avolnet(cfg, image_hw=(None, None))
    flexible.set_weights(model.get_weights())
    return keras.Model(flexible.inputs, [flexible.get_layer(CELL_LOGITS).output, flexible.output],
                       name="avolnet_localizer")
