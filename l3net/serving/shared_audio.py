"""Audio embeddings of many overlapping windows from one shared feature map (l3net.serving.shared_plan).

`SharedAudioNetwork` runs a trained model's own audio layers — front end (without end padding),
input BatchNorm, the VGG blocks up to the last conv — over a *segment* of audio, then pools each
window's slice of the final map exactly as the tower pools a whole window map: a max over all
positions (the tower's output; then AVE-Net's / AVOL-Net's fc head for their embeddings), or the
L3 paper's pooled cells (l3net.serving.pooled: 6144-d at paper size). Nothing is re-trained or
copied: the layers are the model's, so the shared and the exact path cannot disagree on weights
(each conv's batch norm is folded into it at call time, l3net.serving.folded_conv: faster, the
same map up to float rounding).

Shapes (paper size, a segment of K columns, n windows):
  segment  float32 [B, segment_samples(K)] -> front end [B, 257, 8K, 1] -> ... -> conv4_2
  [B, 32, K, 512] -> per window (slice of 24 columns) -> [B, n, 512] (or [B, n, 6144]).

Why not bit-identical to the exact path: a window computed alone sees zeros (the convs' 'same'
padding) where the shared map has the real neighbouring audio, and its slice may sit up to half a
stride (shared_plan) from the window's true start. README "Shared window computation" has the
measured cosine similarities.

`embed_waveform_shared` is the whole-waveform graph of the SavedModel's "embed_audio" signature:
the clip is cut into segments of shared_plan.segment_windows windows (one map at a time,
bounded memory), as the streaming Python API cuts it (l3net.embed.shared_stream).
"""

from __future__ import annotations

from typing import List, Tuple

import keras
import tensorflow as tf

from l3net.models.config import ModelConfig
from l3net.serving import folded_conv
from l3net.serving import pooled as pooled_lib
from l3net.serving import shared_plan
from l3net.serving import windows as windows_lib

# Names of the fc head that turns the tower output into AVE-Net's / AVOL-Net's audio embedding.
_HEAD_LAYERS = ("audio_fc1", "audio_fc2", "audio_embedding")


def _tower_layers(model: keras.Model, cfg: ModelConfig) -> Tuple[keras.layers.Layer, List[keras.layers.Layer]]:
    """(front end, [input BN, conv/BN/ReLU/pool ..., last conv's ReLU]) of the model's audio tower.

    The tower is a chain, and Keras lists a functional model's layers in that order.
    """
    from l3net.models.towers import AUDIO_TOWER
    from l3net.models.vgg import conv_layer_name

    tower = model if model.name == AUDIO_TOWER else model.get_layer(AUDIO_TOWER)
    last = conv_layer_name("audio", len(cfg.audio_widths), 2)
    frontend = tower.get_layer("audio_frontend")
    layers: List[keras.layers.Layer] = []
    for layer in tower.layers:
        if isinstance(layer, keras.layers.InputLayer) or layer is frontend:
            continue
        layers.append(layer)
        if layer.name == last:
            return frontend, layers
    raise ValueError(f"{tower.name}: no layer {last!r}; not an l3net audio tower")


class SharedAudioNetwork:
    """A trained AVC model's audio embeddings computed over segments (module doc).

    Attributes: geometry (shared_plan.SharedGeometry), dim (embedding size), pooled_dim.
    """

    def __init__(self, model: keras.Model, cfg: ModelConfig):
        from l3net.models import embedding_models
        from l3net.models.avc_models import dense_relu_layers

        self.cfg = cfg
        self.geometry = shared_plan.shared_geometry(cfg)
        self._frontend, self._layers = _tower_layers(model, cfg)
        self._steps = folded_conv.fold_chain(self._layers)  # conv + batch norm as one conv (folded_conv)
        names = {layer.name for layer in model.layers}
        self._head = []
        if set(_HEAD_LAYERS) <= names:
            self._head = dense_relu_layers(model, _HEAD_LAYERS[0]) + [model.get_layer(n) for n in _HEAD_LAYERS[1:]]
        _, height, _, channels = self._layers[-1].output.shape
        rows, cols = pooled_lib.pool_grid(height, self.geometry.columns, audio=True)
        self._rows = pooled_lib.cell_edges(height, rows)
        self._cols = pooled_lib.cell_edges(self.geometry.columns, cols)
        self.pooled_dim = rows * cols * int(channels)
        self.dim = int(self._head[-2].units) if self._head else int(channels)
        # The exact path, for runs of windows a segment would not save work on.
        self._exact = embedding_models(model)[1]
        self._exact_pooled, _ = pooled_lib.audio_pooled_function(model)

    def embed_windows(self, windows: tf.Tensor, pooled: bool = False) -> tf.Tensor:
        """float32 [K, window] -> [K, dim] (or [K, pooled_dim]): each window through the whole tower."""
        if pooled:
            return self._exact_pooled(windows)
        return tf.cast(self._exact(windows, training=False), tf.float32)

    def feature_map(self, segments: tf.Tensor) -> tf.Tensor:
        """float32 [B, segment_samples(K)] -> the last conv block's map [B, F', K, C] (inference mode;
        each conv and its batch norm run as one folded convolution, l3net.serving.folded_conv)."""
        x = self._frontend.spectrogram(segments, pad_end=False)
        for step in self._steps:
            x = step(x, training=False)
        return tf.cast(x, tf.float32)

    @staticmethod
    def _window_max(rows: tf.Tensor, columns: tf.Tensor, start: int, width: int) -> tf.Tensor:
        """rows [B, K, C], window columns int32 [n] -> [B, n, C]: max over columns [col+start, col+start+width)."""
        sliding = tf.nn.max_pool1d(rows, ksize=width, strides=1, padding="VALID")  # [B, K - width + 1, C]
        return tf.gather(sliding, columns + start, axis=1)

    def embed(self, segments: tf.Tensor, columns: tf.Tensor, pooled: bool = False) -> tf.Tensor:
        """segments float32 [B, L], columns int32 [n] (each window's first column in the segment's map)
        -> [B, n, dim] (or [B, n, pooled_dim] with `pooled`)."""
        fmap = self.feature_map(segments)
        columns = tf.cast(columns, tf.int32)
        if pooled:
            cells = [self._window_max(tf.reduce_max(fmap[:, r0:r1], axis=1), columns, c0, c1 - c0)
                     for r0, r1 in self._rows for c0, c1 in self._cols]
            return tf.concat(cells, axis=-1)
        x = self._window_max(tf.reduce_max(fmap, axis=1), columns, 0, self.geometry.columns)
        if not self._head:
            return x
        shape = tf.shape(x)
        y = tf.reshape(x, [-1, x.shape[-1]])
        for layer in self._head:
            y = layer(y, training=False)
        return tf.reshape(tf.cast(y, tf.float32), tf.concat([shape[:2], [self.dim]], axis=0))


def gcd_tensor(a: tf.Tensor, b: int) -> tf.Tensor:
    """gcd of an int32 scalar tensor and a positive int (Euclid's algorithm in the graph)."""
    def body(x, y):
        return y, tf.math.floormod(x, y)

    x, _ = tf.while_loop(lambda x, y: y > 0, body, (tf.constant(b, tf.int32), tf.cast(a, tf.int32)))
    return x


def embed_waveform_shared(network: SharedAudioNetwork, waveform: tf.Tensor, hop: tf.Tensor,
                          pooled: bool = False) -> tf.Tensor:
    """float32 [B, N] at the model's rate, hop int32 [] -> [B, n, D]: the "center" windows
    (l3net.serving.windows, OpenL3's center=True) from shared maps, a segment at a time.

    Segments are padded to one length (extra columns at their end only add context beyond the
    margin, which leaves the windows' features as they are), so tf.map_fn runs one map at a time.
    A segment that would not save work (shared_plan.segment_is_cheaper) computes its windows
    exactly, as the Python API does.
    """
    geometry, window = network.geometry, network.cfg.num_audio_samples
    num_samples = tf.shape(waveform)[1]
    tf.debugging.assert_positive(num_samples, message="empty audio: the waveform has no samples")
    pad = windows_lib.left_pad(window, windows_lib.CENTER)
    count = 1 + (tf.maximum(num_samples + pad - window, 0) + hop - 1) // hop
    origin = shared_plan.grid_origin(geometry, pad, gcd_tensor(hop, geometry.stride))
    group = tf.maximum(1, shared_plan.segment_windows(hop, network.cfg.sample_rate))
    num_segments = (count + group - 1) // group
    index = tf.range(num_segments * group)
    index = tf.reshape(tf.minimum(index, count - 1), tf.stack([num_segments, group]))  # repeats the last
    cols = shared_plan.window_column(geometry, index, hop, pad, origin)               # [S, G]
    real = tf.minimum(group, count - tf.range(num_segments) * group)                   # windows per segment
    cheaper = shared_plan.segment_is_cheaper(geometry, real, cols[:, 0], cols[:, -1])  # [S] bool
    first = shared_plan.segment_first_column(geometry, cols[:, 0])                     # [S]
    width = tf.reduce_max(shared_plan.segment_columns(geometry, cols[:, 0], cols[:, -1]))
    length = geometry.segment_samples(width)
    starts = shared_plan.column_start_sample(geometry, first, origin)                  # [S]
    # Pad the clip so every segment's [start, start + length) is inside: zeros outside the clip.
    before = tf.maximum(-tf.reduce_min(starts), 0)
    after = tf.maximum(tf.reduce_max(starts) + length - num_samples, 0)
    padded = tf.pad(waveform, tf.stack([[0, 0], tf.stack([before, after])]))
    dim = network.pooled_dim if pooled else network.dim

    offsets = index * hop - pad + before                                                # [S, G] in `padded`
    batch = tf.shape(waveform)[0]

    def exact(window_starts):
        rows = tf.gather(padded, window_starts[:, None] + tf.range(window)[None, :], axis=1)  # [B, G, window]
        emb = network.embed_windows(tf.reshape(rows, [-1, window]), pooled)
        return tf.reshape(emb, tf.stack([batch, -1, dim]))

    def one(args):
        start, rel, window_starts, shared = args
        segment = padded[:, start + before:start + before + length]
        return tf.cond(shared, lambda: network.embed(segment, rel, pooled), lambda: exact(window_starts))

    out = tf.map_fn(one, (starts, cols - first[:, None], offsets, cheaper), parallel_iterations=1,
                    fn_output_signature=tf.TensorSpec([None, None, dim], tf.float32))
    out = tf.transpose(out, [1, 0, 2, 3])                                              # [B, S, G, D]
    return tf.reshape(out, tf.stack([tf.shape(waveform)[0], -1, dim]))[:, :count]
