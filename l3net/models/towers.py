"""Vision and audio towers: nested Keras models named 'vision_tower' and 'audio_tower'.

Both are the same VGG trunk (`vgg.vgg_trunk`) on different inputs; they are built as separate
sub-models so that checkpoints, export and linear probes can pull one tower out of a trained
AVC model by name.

Paper config shapes (channels-last):
  vision: image [B,224,224,3] -> vision_scale -> conv1 224x224x64 -> pool1 112x112 -> conv2 x128
          -> pool2 56x56 -> conv3 x256 -> pool3 28x28 -> conv4 28x28x512 -> pool4 (global) [B,512]
  audio:  waveform [B,48000] -> audio_frontend [B,257,199,1] -> audio_input_bn -> conv1 257x199x64
          -> pool1 128x99 -> conv2 -> pool2 64x49 -> conv3 -> pool3 32x24 -> conv4 32x24x512
          -> pool4 (global) [B,512]
"""

from __future__ import annotations

import keras

from l3net.models.audio_frontend import AudioFrontend
from l3net.models.batch_norm import FusedBatchNormalization
from l3net.models.config import ModelConfig
from l3net.models.vgg import vgg_trunk

VISION_TOWER = "vision_tower"
AUDIO_TOWER = "audio_tower"


def build_vision_tower(cfg: ModelConfig) -> keras.Model:
    """image float32 [B, S, S, 3] in [0, 1] -> [B, vision_widths[-1]].

    The image is mapped to [-1, 1] inside the model (layer 'vision_scale') so callers always feed
    the [0, 1] images of the input contract.
    """
    image = keras.Input(shape=(cfg.image_size, cfg.image_size, 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="vision_scale")(image)
    features = vgg_trunk(x, cfg.vision_widths, "vision", cfg.batchnorm_momentum)
    return keras.Model(image, features, name=VISION_TOWER)


def build_audio_tower(cfg: ModelConfig) -> keras.Model:
    """waveform float32 [B, num_audio_samples] -> [B, audio_widths[-1]].

    A BatchNorm ('audio_input_bn', one channel) standardises the log-spectrogram before the
    first conv: log magnitudes sit around -14..+5 depending on loudness and front end, and this
    keeps the front end itself an exact, normalisation-free formula.
    """
    audio = keras.Input(shape=(cfg.num_audio_samples,), name="audio")
    x = AudioFrontend(cfg.frontend, cfg.sample_rate, cfg.num_audio_samples, name="audio_frontend")(audio)
    x = FusedBatchNormalization(momentum=cfg.batchnorm_momentum, name="audio_input_bn")(x)
    features = vgg_trunk(x, cfg.audio_widths, "audio", cfg.batchnorm_momentum)
    return keras.Model(audio, features, name=AUDIO_TOWER)
