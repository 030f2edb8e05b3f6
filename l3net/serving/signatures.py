"""The functions each exported SavedModel serves, with their documented inputs and outputs.

Every SavedModel has one main named signature (also its `serving_default`); audio_embedding and
image_embedding have more. Each signature is also an attribute of the loaded object, so both
`loaded.signatures[NAME](**inputs)` (keyword tensors, dict of outputs) and `loaded.NAME(*inputs)`
work.

audio_embedding/  signature "embed_audio":
  waveform     float32 [batch, samples]  mono, in [-1, 1], at `sample_rate`
  sample_rate  int32 []                  Hz of `waveform` (any rate; resampled in the graph,
                                         see l3net.serving.resample)
  hop_seconds  float32 []                hop between windows (e.g. 0.1)
  -> embeddings  float32 [batch, windows, D]  one per window (l3net.serving.windows, layout
                                              "center" = OpenL3's center=True: window i is
                                              centred on i * hop, OpenL3's window count)
     timestamps  float32 [windows]            window centres in seconds (i * hop_seconds)
     Where windows overlap (hop < window) they come from shared conv maps
     (l3net.serving.shared_audio: ~window/hop times less work, not bit-identical; README
     "Shared window computation"); otherwise each window runs through the whole network.
audio_embedding/  signature "embed_audio_exact": the same inputs and outputs, every window
  through the whole network (the embeddings of l3net releases before shared maps).
audio_embedding/  signatures "embed_segments" / "embed_segments_pooled" (the streaming Python
  API's shared path, l3net.embed.shared_stream, for an export):
  segments  float32 [batch, L]  stretches of audio at the model's rate (shared_plan.segment_samples)
  columns   int32 [n]           where each window's slice starts in the segment's map
  -> embeddings  float32 [batch, n, D] (or P)
audio_embedding/  signature "embed_windows" (streaming: the caller resamples to the model's rate
  and cuts the windows itself, so a long recording never has to be one tensor):
  windows      float32 [batch, window_samples]  window_samples = model_config's sample_rate *
                                                audio_seconds (l3net_export.json "window_samples")
  -> embeddings  float32 [batch, D]
audio_embedding/  signature "embed_windows_pooled": the same windows -> the pooled conv features
  (l3net.serving.pooled; 6144-d at paper size, OpenL3's embedding_size=6144)
  -> embeddings  float32 [batch, P]   P = l3net_export.json "pooled_embedding_size"
image_embedding/  signature "embed_images":
  images       uint8 [batch, height, width, 3]  RGB, any size (resized and centre-cropped inside,
                                                l3net.serving.images)
  -> embeddings  float32 [batch, D]
image_embedding/  signature "embed_images_pooled": the same images -> pooled conv features
  (8192-d at paper size, OpenL3's image embedding_size=8192)
  -> embeddings  float32 [batch, P]
avc/  signature "correspondence":
  images       uint8 [batch, height, width, 3]
               (sequence models: uint8 [batch, num_frames, height, width, 3], the frames spread
               evenly over the clip, l3net.models.sequence_avc)
  waveform     float32 [batch, samples]  the first `audio_seconds` (sequence models:
                                         `clip_seconds`) after resampling are used (zero-padded
                                         if shorter)
  sample_rate  int32 []
  -> probability float32 [batch]     P(image and sound correspond)

D: 512 for L3-Net (tower outputs), embedding_width (128, L2-normalised) for AVE-Net.
P: 6144 (audio) and 8192 (image) at paper size, whichever the network (l3net.serving.pooled).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from l3net.models.config import ModelConfig
from l3net.serving import images as images_lib
from l3net.serving import pooled as pooled_lib
from l3net.serving import resample as resample_lib
from l3net.serving import shared_audio
from l3net.serving import windows as windows_lib
from l3net.serving.shared_audio import SharedAudioNetwork

AUDIO, IMAGE, AVC = "audio_embedding", "image_embedding", "avc"
SIGNATURE_NAMES = {AUDIO: "embed_audio", IMAGE: "embed_images", AVC: "correspondence"}
WINDOWS_SIGNATURE = "embed_windows"
EXACT_SIGNATURE = "embed_audio_exact"
SEGMENTS_SIGNATURES = {False: "embed_segments", True: "embed_segments_pooled"}
POOLED_SIGNATURES = {AUDIO: "embed_windows_pooled", IMAGE: "embed_images_pooled"}
# Windows sent through the audio tower at once inside embed_audio (bounds activation memory).
AUDIO_CHUNK = 32

_WAVEFORM = tf.TensorSpec([None, None], tf.float32, name="waveform")
_RATE = tf.TensorSpec([], tf.int32, name="sample_rate")
_HOP = tf.TensorSpec([], tf.float32, name="hop_seconds")
_IMAGES = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")


def _check_rate(sample_rate: tf.Tensor) -> tf.Tensor:
    tf.debugging.assert_positive(sample_rate, message="sample_rate must be > 0")
    return sample_rate


def embed_in_chunks(audio_model: keras.Model, windows: tf.Tensor, chunk: int = AUDIO_CHUNK) -> tf.Tensor:
    """float32 [K, window] -> [K, D], `chunk` windows at a time."""
    count = tf.shape(windows)[0]
    chunks = (count + chunk - 1) // chunk
    padded = tf.pad(windows, [[0, chunks * chunk - count], [0, 0]])
    padded = tf.reshape(padded, [chunks, chunk, windows.shape[-1]])
    width = audio_model.output.shape[-1]
    out = tf.map_fn(lambda w: audio_model(w, training=False), padded, parallel_iterations=1,
                    fn_output_signature=tf.TensorSpec([chunk, width], tf.float32))
    return tf.reshape(out, [-1, width])[:count]


def _embed_exact(audio_model: keras.Model, x: tf.Tensor, window: int, hop: tf.Tensor) -> tf.Tensor:
    """[B, N] at the model's rate -> [B, n, D]: every "center" window through the whole network."""
    frames = windows_lib.frame_windows(x, window, hop)  # [B, n, window]
    batch, count = tf.shape(frames)[0], tf.shape(frames)[1]
    emb = embed_in_chunks(audio_model, tf.reshape(frames, [-1, window]))
    return tf.reshape(emb, tf.stack([batch, count, tf.shape(emb)[-1]]))


def audio_function(audio_model: keras.Model, cfg: ModelConfig, shared: Optional[SharedAudioNetwork] = None
                   ) -> Tuple[Callable, List[tf.TensorSpec]]:
    """embed_audio (with `shared`: shared maps where windows overlap) or embed_audio_exact."""
    window = cfg.num_audio_samples

    def embed_audio(waveform, sample_rate, hop_seconds):
        tf.debugging.assert_positive(hop_seconds, message="hop_seconds must be > 0")
        x = resample_lib.resample(waveform, _check_rate(sample_rate), cfg.sample_rate)
        hop = windows_lib.hop_samples_tensor(hop_seconds, cfg.sample_rate)
        if shared is None:
            emb = _embed_exact(audio_model, x, window, hop)
        else:
            emb = tf.cond(hop < window, lambda: shared_audio.embed_waveform_shared(shared, x, hop),
                          lambda: _embed_exact(audio_model, x, window, hop))
        stamps = tf.cast(tf.range(tf.shape(emb)[1]), tf.float32) * hop_seconds
        return {"embeddings": emb, "timestamps": stamps}

    return embed_audio, [_WAVEFORM, _RATE, _HOP]


def segments_function(shared: SharedAudioNetwork, pooled: bool) -> Tuple[Callable, List[tf.TensorSpec]]:
    """embed_segments(_pooled): the streaming API's shared computation (l3net.embed.shared_stream)."""
    def embed_segments(segments, columns):
        return {"embeddings": shared.embed(segments, columns, pooled)}

    return embed_segments, [tf.TensorSpec([None, None], tf.float32, name="segments"),
                            tf.TensorSpec([None], tf.int32, name="columns")]


def windows_function(audio_model: keras.Model, cfg: ModelConfig) -> Tuple[Callable, List[tf.TensorSpec]]:
    def embed_windows(windows):
        return {"embeddings": audio_model(windows, training=False)}

    return embed_windows, [tf.TensorSpec([None, cfg.num_audio_samples], tf.float32, name="windows")]


def windows_pooled_function(model: keras.Model, cfg: ModelConfig) -> Tuple[Callable, List[tf.TensorSpec]]:
    pooled, _ = pooled_lib.audio_pooled_function(model)

    def embed_windows_pooled(windows):
        return {"embeddings": pooled(windows)}

    return embed_windows_pooled, [tf.TensorSpec([None, cfg.num_audio_samples], tf.float32, name="windows")]


def images_pooled_function(model: keras.Model, cfg: ModelConfig, resize: int) -> Tuple[Callable, List[tf.TensorSpec]]:
    pooled, _ = pooled_lib.image_pooled_function(model)

    def embed_images_pooled(images):
        return {"embeddings": pooled(images_lib.prepare_images(images, cfg.image_size, resize))}

    return embed_images_pooled, [_IMAGES]


def image_function(image_model: keras.Model, cfg: ModelConfig, resize: int) -> Tuple[Callable, List[tf.TensorSpec]]:
    def embed_images(images):
        x = images_lib.prepare_images(images, cfg.image_size, resize)
        return {"embeddings": image_model(x, training=False)}

    return embed_images, [_IMAGES]


def first_window(waveform: tf.Tensor, window: int) -> tf.Tensor:
    """[B, N] -> [B, window]: the first `window` samples, zero-padded."""
    x = tf.pad(waveform, tf.stack([[0, 0], tf.stack([0, tf.maximum(window - tf.shape(waveform)[1], 0)])]))
    return x[:, :window]


def avc_function(model: keras.Model, cfg: ModelConfig, resize: int) -> Tuple[Callable, List[tf.TensorSpec]]:
    def prepare(images):
        if not cfg.is_sequence:
            return images_lib.prepare_images(images, cfg.image_size, resize)
        shape = tf.shape(images)
        frames = tf.reshape(images, tf.concat([[-1], shape[2:]], axis=0))
        x = images_lib.prepare_images(frames, cfg.image_size, resize)
        return tf.reshape(x, [-1, cfg.num_frames, cfg.image_size, cfg.image_size, 3])

    def correspondence(images, waveform, sample_rate):
        audio = first_window(resample_lib.resample(waveform, _check_rate(sample_rate), cfg.sample_rate),
                             cfg.clip_samples)
        scores = model({"image": prepare(images), "audio": audio}, training=False)
        return {"probability": scores[:, 1]}

    images_spec = _IMAGES
    if cfg.is_sequence:
        images_spec = tf.TensorSpec([None, cfg.num_frames, None, None, 3], tf.uint8, name="images")
    return correspondence, [images_spec, _WAVEFORM, _RATE]


Endpoint = Tuple[str, Callable, List[tf.TensorSpec]]


def all_functions(model: keras.Model, cfg: ModelConfig, resize: int) -> Dict[str, List[Endpoint]]:
    """{use: [(signature name, fn, input_signature), ...]} for the three SavedModels; main one first."""
    from l3net.models import embedding_models

    image_model, audio_model = embedding_models(model)
    shared = SharedAudioNetwork(model, cfg)
    return {AUDIO: [(SIGNATURE_NAMES[AUDIO], *audio_function(audio_model, cfg, shared)),
                    (EXACT_SIGNATURE, *audio_function(audio_model, cfg)),
                    (WINDOWS_SIGNATURE, *windows_function(audio_model, cfg)),
                    (POOLED_SIGNATURES[AUDIO], *windows_pooled_function(model, cfg)),
                    (SEGMENTS_SIGNATURES[False], *segments_function(shared, False)),
                    (SEGMENTS_SIGNATURES[True], *segments_function(shared, True))],
            IMAGE: [(SIGNATURE_NAMES[IMAGE], *image_function(image_model, cfg, resize)),
                    (POOLED_SIGNATURES[IMAGE], *images_pooled_function(model, cfg, resize))],
            AVC: [(SIGNATURE_NAMES[AVC], *avc_function(model, cfg, resize))]}
