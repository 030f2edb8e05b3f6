"""Models: the shared VGG block builder, audio front ends, towers, L3-Net and AVE-Net.

Public API:
  build_model(cfg) -> keras.Model          L3-Net, AVE-Net or AVOL-Net for a ModelConfig (a sequence
                                           config: the sequence L3-Net of sequence_avc)
  localizer(model, cfg)                    AVOL-Net per-cell heat-map model for frames of any size
  get_towers(model), embedding_models(model) nested sub-models sharing the AVC model's weights
  audio_conv_feature_model(m), vision_conv_feature_model(m)   last conv block before pooling
  audio_map_layers(m)                      the audio tower's feature maps (audio_conv_feature_model's layer=)
  AudioFrontend                            waveform -> [B, bins, frames, 1] log spectrogram
  (framing rules: l3net.models.frontend_geometry.frontend_geometry; that submodule's name is
  taken by the module itself, so the function is imported from it directly)
  count_params(cfg), count_flops(cfg)      analytic counts

Names are resolved lazily: `l3net.models.config` (and command-line tools validating flags) must
not pay for importing TensorFlow. Importing any of the model builders imports the modules that
register the custom layers, so keras.saving.load_model can read our models afterwards.
"""

import importlib
from typing import Any

_EXPORTS = {
    "count_flops": "architecture_counts", "count_params": "architecture_counts",
    "LOG_EPS": "audio_frontend", "AudioFrontend": "audio_frontend",
    "audio_conv_feature_model": "avc_models", "audio_map_layers": "avc_models", "build_avenet": "avc_models",
    "build_l3net": "avc_models",
    "build_model": "avc_models", "embedding_models": "avc_models", "get_towers": "avc_models",
    "build_sequence_l3net": "avc_models", "vision_conv_feature_model": "avc_models",
    "build_avolnet": "avolnet", "grid_size": "avolnet", "localizer": "avolnet",
    "ModelConfig": "config",
    "EuclideanDistance": "distance",
    "FrontendGeometry": "frontend_geometry",
    "build_audio_tower": "towers", "build_vision_tower": "towers",
    "vgg_block": "vgg", "vgg_trunk": "vgg",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'l3net.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"l3net.models.{module}"), name)
