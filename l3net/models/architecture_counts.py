"""Analytic parameter and FLOP counts of an AVC model, straight from its ModelConfig.

Used by bench/train_step.py to turn examples/s into achieved GFLOP/s, and by tests as a check on
the built Keras model (`count_params(cfg)['total'] == build_model(cfg).count_params()`).

Conventions:
  - Convs are 3x3 'same' without bias (BN follows); BN has 4 values per channel: gamma, beta
    (trainable) and moving mean, moving variance (non-trainable).
  - FLOPs are forward-pass FLOPs for ONE example, 2 per multiply-add, counted exactly for convs,
    dense layers and the learned front end's filterbank. BN, ReLU, pooling, softmax, the
    distance and AVOL-Net's per-cell dot products are not counted (they are O(activations),
    < 1 % here).
  - The FFT front ends ('linear', 'mel<N>') are an estimate: per frame, a real FFT of n points at
    2.5 n log2(n) FLOPs plus the window multiply (window FLOPs), magnitude (3 per bin), and for mel
    the mel matrix product (2 x fft bins x N).
  - A training step costs about 3x the forward FLOPs (forward + two backward products).
  - Sequence models (`l3net.models.sequence_avc`): each tower runs once per frame / window, so
    tower FLOPs are multiplied by num_frames / clip_windows; the sequence layers' parameters go
    to `sequence` (Keras GRU with reset_after: 3 (2 d^2 + 2 d); LSTM: 4 (2 d^2 + d); pooling: 0)
    and their FLOPs (2 per multiply-add of the d x d products, per step) to `head`.
"""

from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

from l3net.models.config import ModelConfig
from l3net.models.frontend_geometry import FrontendGeometry, frontend_geometry

KERNEL_TAPS = 9  # 3x3
BN_VALUES = 4    # gamma, beta, moving mean, moving variance


def _geometry(cfg: ModelConfig) -> FrontendGeometry:
    return frontend_geometry(cfg.frontend, cfg.sample_rate, cfg.num_audio_samples)


def _trunk_params(in_channels: int, widths: Sequence[int]) -> Tuple[int, int]:
    """(total, non_trainable) parameters of a VGG trunk: two conv+BN units per block."""
    total = non_trainable = 0
    cin = in_channels
    for width in widths:
        for cin_unit in (cin, width):
            total += KERNEL_TAPS * cin_unit * width + BN_VALUES * width
            non_trainable += 2 * width
        cin = width
    return total, non_trainable


def _trunk_flops(height: int, width: int, in_channels: int, widths: Sequence[int]) -> int:
    """Forward FLOPs of a VGG trunk on an input of height x width x in_channels."""
    flops = 0
    cin = in_channels
    for block, cout in enumerate(widths, start=1):
        flops += 2 * height * width * KERNEL_TAPS * (cin * cout + cout * cout)
        cin = cout
        if block < len(widths):
            height, width = height // 2, width // 2
    return flops


def _head_layers(cfg: ModelConfig) -> List[Tuple[int, int, int]]:
    """(fan_in, fan_out, positions) of every dense / 1x1-conv layer after the towers.

    positions: how many times the layer is applied per example (AVOL-Net's 1x1 convs run on every
    cell of the (image_size / 2**len(vision_widths))^2 grid)."""
    v, a = cfg.vision_widths[-1], cfg.audio_widths[-1]
    if cfg.model == "l3net":
        return [(v + a, cfg.fusion_width, 1), (cfg.fusion_width, 2, 1)]
    e = cfg.embedding_width
    if cfg.model == "avolnet":
        cells = (cfg.image_size // 2 ** len(cfg.vision_widths)) ** 2
        return [(v, e, cells), (e, e, cells), (a, e, 1), (e, e, 1)]
    return [(v, e, 1), (e, e, 1), (a, e, 1), (e, e, 1), (1, 2, 1)]


def _head_batchnorm_widths(cfg: ModelConfig) -> List[int]:
    """Widths of the head fc layers that `cfg.head_batchnorm` gives a BatchNorm (the first fc of
    each head: L3-Net's fusion_fc1, AVE-Net's image_fc1 and audio_fc1)."""
    if not cfg.head_batchnorm:
        return []
    return [cfg.fusion_width] if cfg.model == "l3net" else [cfg.embedding_width] * 2


# AVOL-Net's calibration: one learned scale (as its logarithm) and one bias.
AVOLNET_CALIBRATION_PARAMS = 2
# Gates of each recurrent layer kind (sequence models); pooling layers have none.
_RECURRENT_GATES = {"gru": 3, "lstm": 4}


def _sequence_layers(cfg: ModelConfig) -> List[Tuple[int, int]]:
    """(width d, steps) of each recurrent sequence layer: the vision one over num_frames, the audio
    one over clip_windows; a modality with one step has none."""
    if cfg.sequence_layer not in _RECURRENT_GATES:
        return []
    steps = [(cfg.vision_widths[-1], cfg.num_frames), (cfg.audio_widths[-1], cfg.clip_windows)]
    return [(d, n) for d, n in steps if n > 1]


def _sequence_params(cfg: ModelConfig) -> int:
    gates = _RECURRENT_GATES.get(cfg.sequence_layer, 0)
    # GRU (reset_after=True) has two bias vectors per gate, LSTM one.
    biases = 2 if cfg.sequence_layer == "gru" else 1
    return sum(gates * (2 * d * d + biases * d) for d, _ in _sequence_layers(cfg))


def _sequence_flops(cfg: ModelConfig) -> int:
    gates = _RECURRENT_GATES.get(cfg.sequence_layer, 0)
    return sum(steps * gates * 2 * 2 * d * d for d, steps in _sequence_layers(cfg))


def count_params(cfg: ModelConfig) -> Dict[str, int]:
    """Parameter counts: vision_tower, audio_frontend, audio_tower (front end included), head,
    total, trainable, non_trainable. `total` equals the built model's count_params()."""
    cfg.validate()
    g = _geometry(cfg)
    vision, vision_nt = _trunk_params(3, cfg.vision_widths)
    frontend = g.window * 2 * g.num_bins if g.kind == "learned" else 0
    trunk, trunk_nt = _trunk_params(1, cfg.audio_widths)
    audio = frontend + BN_VALUES + trunk  # BN_VALUES: the one-channel input BatchNorm
    audio_nt = 2 + trunk_nt
    head = sum(fan_in * fan_out + fan_out for fan_in, fan_out, _ in _head_layers(cfg))
    # head_batchnorm: the fc loses its bias; its BatchNorm adds gamma, beta (trained) and the two
    # moving statistics (not trained).
    head_bn = _head_batchnorm_widths(cfg)
    head += sum(BN_VALUES * w - w for w in head_bn)
    if cfg.model == "avolnet":
        head += AVOLNET_CALIBRATION_PARAMS
    sequence = _sequence_params(cfg)
    total = vision + audio + sequence + head
    non_trainable = vision_nt + audio_nt + sum(2 * w for w in head_bn)
    return {"vision_tower": vision, "audio_frontend": frontend, "audio_tower": audio, "sequence": sequence,
            "head": head, "total": total, "trainable": total - non_trainable, "non_trainable": non_trainable}


def _frontend_flops(g: FrontendGeometry) -> int:
    if g.kind == "learned":
        return g.num_frames * (2 * g.window * 2 * g.num_bins + 4 * g.num_bins)
    per_frame = 2.5 * g.fft_length * math.log2(g.fft_length) + g.window + 3 * g.num_fft_bins
    if g.kind == "mel":
        per_frame += 2 * g.num_fft_bins * g.num_bins
    return int(round(g.num_frames * per_frame))


def count_flops(cfg: ModelConfig) -> Dict[str, int]:
    """Forward FLOPs per example: vision_tower, audio_frontend, audio_tower (front end included),
    head, total. Multiply by ~3 for a training step."""
    cfg.validate()
    g = _geometry(cfg)
    vision = cfg.num_frames * _trunk_flops(cfg.image_size, cfg.image_size, 3, cfg.vision_widths)
    frontend = cfg.clip_windows * _frontend_flops(g)
    audio = frontend + cfg.clip_windows * _trunk_flops(g.num_bins, g.num_frames, 1, cfg.audio_widths)
    head = sum(2 * fan_in * fan_out * positions for fan_in, fan_out, positions in _head_layers(cfg))
    head += _sequence_flops(cfg)
    return {"vision_tower": vision, "audio_frontend": frontend, "audio_tower": audio, "head": head,
            "total": vision + audio + head}
