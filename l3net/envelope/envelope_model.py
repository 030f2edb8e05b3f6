"""The envelope network (the sound-from-video experiment): frames -> per-frame sound envelope in [0, 1].

  frames [B, T, S, S, 3] in [0, 1]
    -> per frame: the L3 vision tower's last conv block [H', W', C] (frozen or fine-tuned)
       -> max-pool to feature_grid x feature_grid -> flatten   [B, T, F = g*g*C]
    -> head (`build_head`, a sub-model named `envelope_head`, so training on cached tower
       features (`feature_cache`) and the full frames model share one set of weights):
       [frame_deltas: concat x_t - x_{t-1}                      [B, T, 2F]]
       -> LSTM(lstm_units) -> LSTM(lstm_units)                 [B, T, U]   (the L3 paper notes: a
          recurrent layer over the frame sequence; `bidirectional`: each LSTM also runs backwards
          over the clip, [B, T, 2U])
       -> fc fc_widths[0] + ReLU -> fc fc_widths[1] + ReLU -> fc 1 + sigmoid -> [B, T]

Why the two options (off in the paper config, on in the CPU demo): an impact sounds at the
frame where the object *stops* (the ball lands, the hammer hits), which a causal model only
knows after seeing the next frame, and a single frame's appearance barely shows motion while
the difference of consecutive frames' features does. Envelope prediction here is offline (whole
clips), so looking at the next frames is allowed. A bidirectional model's outputs depend on
every frame of the clip, so clips are predicted one at a time, unpadded (`predict_clips`).

Paper size (224 px, 28 x 28 x 512 conv map, grid 7): 25,088 features per frame, the sound-from-video experiment's
512 x 7 x 7. The tower is a sub-model taken from a built AVC model (`get_towers` /
`vision_conv_feature_model`), so its weights load from any L3-Net or AVE-Net checkpoint.
"""

from __future__ import annotations

from typing import Tuple

import keras
import tensorflow as tf

from l3net.envelope.config import EnvelopeConfig
from l3net.models import build_model, get_towers, vision_conv_feature_model

FRAME_FEATURES = "frame_features"
PER_FRAME = "per_frame_features"
HEAD = "envelope_head"
OUTPUT_LAYER = "envelope"


def frame_feature_model(avc_model: keras.Model, cfg: EnvelopeConfig) -> keras.Model:
    """image [N, S, S, 3] -> [N, g*g*C]: the tower's conv map, grid-pooled and flattened."""
    conv = vision_conv_feature_model(avc_model)
    side = int(conv.output.shape[1])
    pool = side // cfg.feature_grid
    image = keras.Input(shape=(cfg.vision.image_size, cfg.vision.image_size, 3), name="frame")
    x = conv(image)
    x = keras.layers.MaxPooling2D(pool_size=pool, strides=pool, name="feature_grid_pool")(x)
    x = keras.layers.Cropping2D(((0, x.shape[1] - cfg.feature_grid), (0, x.shape[2] - cfg.feature_grid)),
                                name="feature_grid_crop")(x)
    return keras.Model(image, keras.layers.Flatten(name="feature_flatten")(x), name=FRAME_FEATURES)


class _PerFrame(keras.layers.Layer):
    """Applies a per-image model to every frame: [B, T, S, S, 3] -> [B, T, F] (any T)."""

    def __init__(self, inner: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, frames, training=None):
        shape = tf.shape(frames)
        flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
        features = self.inner(flat, training=training)
        return tf.reshape(features, tf.stack([shape[0], shape[1], tf.shape(features)[-1]]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.inner.output.shape[-1])


class FrameDeltas(keras.layers.Layer):
    """[B, T, F] -> [B, T, 2F]: each frame's features and their change since the previous frame
    (0 at the first frame)."""

    def call(self, x):
        previous = tf.concat([x[:, :1], x[:, :-1]], axis=1)
        return tf.concat([x, x - previous], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], None if input_shape[-1] is None else 2 * input_shape[-1])


def build_head(cfg: EnvelopeConfig, feature_width: int) -> keras.Model:
    """features float32 [B, T, F] -> envelope float32 [B, T] in (0, 1): (deltas) -> LSTM x2 -> fc x3."""
    features = keras.Input(shape=(None, feature_width), name="features")
    x = FrameDeltas(name="frame_deltas")(features) if cfg.frame_deltas else features
    for name in ("lstm1", "lstm2"):
        lstm = keras.layers.LSTM(cfg.lstm_units, return_sequences=True, name=name)
        x = keras.layers.Bidirectional(lstm, name=f"bi_{name}")(x) if cfg.bidirectional else lstm(x)
    x = keras.layers.Dense(cfg.fc_widths[0], activation="relu", name="fc1")(x)
    x = keras.layers.Dense(cfg.fc_widths[1], activation="relu", name="fc2")(x)
    x = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="fc3")(x)
    return keras.Model(features, keras.layers.Reshape((-1,), name=OUTPUT_LAYER)(x), name=HEAD)


def build_envelope_model(cfg: EnvelopeConfig, avc_model: keras.Model) -> keras.Model:
    """frames float32 [B, T, S, S, 3] -> envelope float32 [B, T] in (0, 1); shares `avc_model`'s tower."""
    features = frame_feature_model(avc_model, cfg)
    features.trainable = cfg.finetune_vision
    frames = keras.Input(shape=(None, cfg.vision.image_size, cfg.vision.image_size, 3), name="frames")
    x = _PerFrame(features, name=PER_FRAME)(frames)
    out = build_head(cfg, int(features.output.shape[-1]))(x)
    return keras.Model(frames, out, name="envelope_net")


def feature_part(model: keras.Model) -> keras.Model:
    """The envelope model's per-image feature model: image [N, S, S, 3] -> [N, F]."""
    return model.get_layer(PER_FRAME).inner


def head_part(model: keras.Model) -> keras.Model:
    """The envelope model's head: features [B, T, F] -> envelope [B, T]."""
    return model.get_layer(HEAD)


def new_envelope_model(cfg: EnvelopeConfig) -> Tuple[keras.Model, keras.Model]:
    """(envelope model, the AVC model its tower belongs to), random weights.

    The AVC model is kept so `load_pretrained_tower` can copy a trained tower into it; its audio
    tower and head are built but unused.
    """
    avc_model = build_model(cfg.vision)
    return build_envelope_model(cfg, avc_model), avc_model


def load_pretrained_tower(avc_model: keras.Model, init_from: str) -> None:
    """Copies the vision tower weights of the model in `init_from` into `avc_model`'s tower."""
    from l3net import model_dir as model_dir_lib

    pretrained, _, _ = model_dir_lib.load_model(init_from)
    get_towers(avc_model)[0].set_weights(get_towers(pretrained)[0].get_weights())
