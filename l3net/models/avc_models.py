"""L3-Net and AVE-Net: audio-visual correspondence (AVC) classifiers, and views into them.

Both take the dict {'image': [B, S, S, 3] in [0, 1], 'audio': [B, num_audio_samples] in [-1, 1]}
and output float32 [B, 2] softmax (column 1 = "frame and audio correspond"). Top-level layers:

  L3-Net ('l3net'):  vision_tower, audio_tower -> fusion_concat [B, 2*512] -> fusion_fc1
                     (fusion_width, ReLU) -> avc_output (2, softmax).
  AVE-Net ('avenet'): vision_tower -> image_fc1 (embedding_width, ReLU) -> image_fc2 ->
                     image_embedding (L2-normalised); the same for audio_*; av_distance = Euclidean
                     distance [B, 1] -> avc_output (fc 1 -> 2, softmax). The distance is the only
                     path to the decision, so embeddings of both modalities share one metric space.

With `head_batchnorm` (not in the papers; an option against dead head units at high learning
rates, README "A slow start") the first fc of each head is fc (no bias) -> BatchNorm -> ReLU,
the last layer keeping the fc's name (`_dense_relu`).
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

import keras

from l3net.models.avolnet import build_avolnet
from l3net.models.config import ModelConfig
from l3net.models.distance import EuclideanDistance
from l3net.models.sequence_avc import sequence_features
from l3net.models.towers import AUDIO_TOWER, VISION_TOWER, build_audio_tower, build_vision_tower
from l3net.models.vgg import conv_layer_name

OUTPUT_LAYER = "avc_output"
# |slope| of AVE-Net's initial decision (logit difference per unit of distance, halved).
DECISION_SLOPE = 2.0
# The softmax always runs in float32, also under a mixed-precision policy (bf16 probabilities
# are quantised to ~2^-8, which degrades the loss of confident pairs).


def _inputs(cfg: ModelConfig) -> Tuple[keras.KerasTensor, keras.KerasTensor]:
    image = keras.Input(shape=(cfg.image_size, cfg.image_size, 3), name="image")
    audio = keras.Input(shape=(cfg.num_audio_samples,), name="audio")
    return image, audio


def _dense_relu(x: keras.KerasTensor, width: int, name: str, cfg: ModelConfig) -> keras.KerasTensor:
    """[B, D] -> [B, width]: fc + ReLU, or fc + BatchNorm + ReLU when `cfg.head_batchnorm`.

    The output layer is named `name` either way, so tools that read a head layer's output
    (`fusion_fc1`, `image_fc1`, ...) see the post-ReLU activations of both variants.
    """
    if not cfg.head_batchnorm:
        return keras.layers.Dense(width, activation="relu", name=name)(x)
    x = keras.layers.Dense(width, use_bias=False, name=f"{name}_dense")(x)
    x = keras.layers.BatchNormalization(momentum=cfg.batchnorm_momentum, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=name)(x)


def dense_relu_layers(model: keras.Model, name: str) -> List[keras.layers.Layer]:
    """The layers `_dense_relu` built for the head fc `name`, in order: [fc] or [fc, BN, ReLU].

    For code that re-applies a head to other tensors (all-pairs AVC, shared audio windows).
    """
    if any(layer.name == f"{name}_bn" for layer in model.layers):
        return [model.get_layer(f"{name}_dense"), model.get_layer(f"{name}_bn"), model.get_layer(name)]
    return [model.get_layer(name)]


def _l3net_fusion(image: keras.KerasTensor, audio: keras.KerasTensor, v: keras.KerasTensor,
                  a: keras.KerasTensor, cfg: ModelConfig, name: str) -> keras.Model:
    """L3-Net's head on vision/audio features [B, Dv], [B, Da]: concat -> fc + ReLU -> fc 2 -> softmax."""
    x = keras.layers.Concatenate(name="fusion_concat")([v, a])
    x = _dense_relu(x, cfg.fusion_width, "fusion_fc1", cfg)
    out = keras.layers.Dense(2, activation="softmax", dtype="float32", name=OUTPUT_LAYER)(x)
    return keras.Model({"image": image, "audio": audio}, out, name=name)


def build_l3net(cfg: ModelConfig) -> keras.Model:
    """L3-Net (ICCV 2017): concat of the 512-d tower outputs -> fc 128 + ReLU -> fc 2 -> softmax."""
    image, audio = _inputs(cfg)
    return _l3net_fusion(image, audio, build_vision_tower(cfg)(image), build_audio_tower(cfg)(audio), cfg, "l3net")


def build_sequence_l3net(cfg: ModelConfig) -> keras.Model:
    """The sequence L3-Net (`l3net.models.sequence_avc`): the same towers and head over frame/window sequences."""
    image, audio, v, a = sequence_features(cfg)
    return _l3net_fusion(image, audio, v, a, cfg, "l3net_sequence")


def _embedding_head(x: keras.KerasTensor, width: int, prefix: str, cfg: ModelConfig) -> keras.KerasTensor:
    """[B, 512] -> fc width -> ReLU -> fc width -> L2-normalise -> [B, width], unit norm."""
    x = _dense_relu(x, width, f"{prefix}_fc1", cfg)
    x = keras.layers.Dense(width, name=f"{prefix}_fc2")(x)
    return keras.layers.UnitNormalization(axis=-1, name=f"{prefix}_embedding")(x)


def build_avenet(cfg: ModelConfig) -> keras.Model:
    """AVE-Net (ECCV 2018): distance between L2-normalised 128-d embeddings -> fc(1 -> 2) -> softmax."""
    image, audio = _inputs(cfg)
    v = _embedding_head(build_vision_tower(cfg)(image), cfg.embedding_width, "image", cfg)
    a = _embedding_head(build_audio_tower(cfg)(audio), cfg.embedding_width, "audio", cfg)
    distance = EuclideanDistance(name="av_distance")([v, a])
    # The decision starts as "far apart = mismatch", centred on sqrt(2), the distance of two random
    # unit vectors. A random init can give both classes nearly the same slope: then the
    # embeddings get almost no gradient, the optimizer drives the slopes together and the
    # network settles at exactly chance (seen on the CPU demo).
    decision = keras.layers.Dense(
        2, activation="softmax", dtype="float32", name=OUTPUT_LAYER,
        kernel_initializer=keras.initializers.Constant([[DECISION_SLOPE, -DECISION_SLOPE]]),
        bias_initializer=keras.initializers.Constant([-DECISION_SLOPE * 2 ** 0.5, DECISION_SLOPE * 2 ** 0.5]))
    out = decision(distance)
    return keras.Model({"image": image, "audio": audio}, out, name="avenet")


def build_model(cfg: ModelConfig) -> keras.Model:
    """The AVC model `cfg.model` names ('l3net', 'avenet' or 'avolnet'); raises ValueError on a bad config.

    A sequence config (`cfg.is_sequence`: several frames / audio windows) builds the sequence
    L3-Net of `l3net.models.sequence_avc`, whose towers are those of the single-frame model.
    """
    cfg.validate()
    if cfg.is_sequence:
        return build_sequence_l3net(cfg)
    if cfg.model == "l3net":
        return build_l3net(cfg)
    if cfg.model == "avolnet":
        return build_avolnet(cfg)
    return build_avenet(cfg)


def get_towers(model: keras.Model) -> Tuple[keras.Model, keras.Model]:
    """(vision_tower, audio_tower) nested in an AVC model; they share weights with it."""
    return model.get_layer(VISION_TOWER), model.get_layer(AUDIO_TOWER)


def embedding_models(model: keras.Model) -> Tuple[keras.Model, keras.Model]:
    """(image_embedding_model, audio_embedding_model) of an AVC model, sharing its weights.

    AVE-Net: image [B, S, S, 3] -> [B, embedding_width] and waveform [B, N] -> [B, embedding_width],
    both L2-normalised (the space retrieval ranks by Euclidean distance).
    L3-Net: the towers themselves, image -> [B, 512] and waveform -> [B, 512].
    """
    layer_names = {layer.name for layer in model.layers}
    if "image_embedding" not in layer_names:
        return get_towers(model)
    image = model.get_layer("image").output
    audio = model.get_layer("audio").output
    return (keras.Model(image, model.get_layer("image_embedding").output, name="image_embedding_model"),
            keras.Model(audio, model.get_layer("audio_embedding").output, name="audio_embedding_model"))


def _tower(model_or_tower: keras.Model, tower_name: str) -> keras.Model:
    return model_or_tower if model_or_tower.name == tower_name else model_or_tower.get_layer(tower_name)


def _conv_feature_model(model_or_tower: keras.Model, tower_name: str, prefix: str) -> keras.Model:
    tower = _tower(model_or_tower, tower_name)
    pattern = re.compile(rf"^{prefix}_conv(\d+)_2$")
    blocks = [int(m.group(1)) for m in (pattern.match(layer.name) for layer in tower.layers) if m]
    if not blocks:
        raise ValueError(f"{tower.name}: no '{prefix}_conv<k>_2' layer; not an l3net tower")
    last = tower.get_layer(conv_layer_name(prefix, max(blocks), 2))
    return keras.Model(tower.inputs, last.output, name=f"{prefix}_conv_features")


def audio_conv_feature_model(model_or_tower: keras.Model, layer: Optional[str] = None) -> keras.Model:
    """waveform [B, N] -> last audio conv block's activation before pooling, [B, F', T', C].

    Paper config: 'audio_conv4_2', [B, 32, 24, 512] (the ESC-50 probe max-pools it to 4x3x512).
    Accepts an AVC model or its 'audio_tower'; shares weights with it. `layer` (one of
    `audio_map_layers`) takes an earlier map instead, e.g. 'audio_conv3_2' [B, 64, 49, 256] at paper
    size: which layer transfers best differs by model and task (layer-wise probes).
    """
    if layer is None:
        return _conv_feature_model(model_or_tower, AUDIO_TOWER, "audio")
    tower = _tower(model_or_tower, AUDIO_TOWER)
    names = audio_map_layers(tower)
    if layer not in names:
        raise ValueError(f"layer {layer!r}: the audio tower's feature maps are {', '.join(names)}")
    return keras.Model(tower.inputs, tower.get_layer(layer).output, name=f"{layer}_features")


def audio_map_layers(model_or_tower: keras.Model) -> List[str]:
    """Names of the audio tower's feature maps [B, F', T', C], input to output: the conv layers'
    activations ('audio_conv<block>_<k>') and the pooled maps between blocks ('audio_pool<block>')."""
    tower = _tower(model_or_tower, AUDIO_TOWER)
    pattern = re.compile(r"^audio_(conv\d+_\d+|pool\d+)$")
    return [layer.name for layer in tower.layers if pattern.match(layer.name) and len(layer.output.shape) == 4]


def vision_conv_feature_model(model_or_tower: keras.Model) -> keras.Model:
    """image [B, S, S, 3] -> last vision conv block's activation before pooling (paper: [B, 28, 28, 512])."""
    return _conv_feature_model(model_or_tower, VISION_TOWER, "vision")
