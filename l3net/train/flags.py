"""Flags of `l3net_train`: every setting of a run, so that a flagfile in `configs/` reproduces it.

Flags are grouped by what they configure and turned into the three config objects the rest of
the code takes (`ModelConfig`, `DataConfig`, `TrainConfig`); nothing below `l3net.train` reads
absl flags, so library users can build the same objects directly.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import List, Optional, Tuple

from absl import flags

from l3net.data.config import DataConfig
from l3net.models.config import MODEL_NAMES, ModelConfig
from l3net.train.lr_schedule import SCHEDULES
from l3net.train.train_config import STRATEGIES, TrainConfig

ENVELOPE = "envelope"

FLAGS = flags.FLAGS

# Where.
flags.DEFINE_string("data_dir", None, "Output directory of `l3net_data convert` (holds dataset.json).")
flags.DEFINE_string("model_dir", None, "Checkpoints, summaries, resolved flags; re-use it to resume.")

# Model (see l3net/models/config.py for meanings).
flags.DEFINE_enum("model", "l3net", list(MODEL_NAMES) + [ENVELOPE],
                  "Architecture: an AVC model (L3-Net, AVE-Net, ...) or 'envelope' (sound envelope from "
                  "frames, on the vision tower of --init_from).")
flags.DEFINE_integer("image_size", 224, "Square image crop fed to the vision tower.")
flags.DEFINE_list("vision_widths", ["64", "128", "256", "512"], "Filters of each vision VGG block.")
flags.DEFINE_list("audio_widths", ["64", "128", "256", "512"], "Filters of each audio VGG block.")
flags.DEFINE_string("frontend", "linear", "Audio front end: linear | mel<N> (e.g. mel128) | learned.")
flags.DEFINE_integer("sample_rate", 48000, "Model audio rate (Hz); must match the converted data.")
flags.DEFINE_float("audio_seconds", 1.0, "Length of the audio window (s).")
flags.DEFINE_integer("fusion_width", 128, "L3-Net fusion fc width.")
flags.DEFINE_integer("embedding_width", 128, "AVE-Net embedding width.")
flags.DEFINE_float("batchnorm_momentum", 0.99, "BatchNorm moving-statistics momentum (short runs: 0.9).")

# Envelope task (--model=envelope; see l3net/envelope/config.py).
flags.DEFINE_string("init_from", None, "--model=envelope: model dir of a trained L3-Net / AVE-Net whose vision tower "
                    "(weights and architecture) is used, or 'random' (architecture from the model flags).")
flags.DEFINE_boolean("finetune_vision", False, "--model=envelope: train the vision tower too (default frozen).")
flags.DEFINE_integer("sequence_frames", 48, "--model=envelope: consecutive frames per training clip.")
flags.DEFINE_integer("lstm_units", 512, "--model=envelope: width of both LSTM layers (seed: 512).")
flags.DEFINE_integer("feature_grid", 7, "--model=envelope: the tower's last conv map is max-pooled to this grid.")
flags.DEFINE_list("envelope_fc_widths", ["256", "64"], "--model=envelope: widths of fc1, fc2 (fc3 is 1 + sigmoid).")
flags.DEFINE_boolean("envelope_bidirectional", False, "--model=envelope: the LSTMs also run backwards over the "
                     "clip (offline; an impact sounds when the object stops). Seed: false.")
flags.DEFINE_boolean("envelope_frame_deltas", False, "--model=envelope: also feed each frame's feature change since "
                     "the previous frame. Seed: false.")
flags.DEFINE_boolean("cache_features", False, "--model=envelope: run the frozen tower once per frame and train the "
                     "head on cached features (needs --finetune_vision=false --augment=false).")
flags.DEFINE_string("feature_cache_dir", None, "--model=envelope --cache_features: where cached features go "
                    "(default <model_dir>/feature_cache; files are keyed by tower weights and data).")

# Data.
flags.DEFINE_integer("batch_size", 256, "Global batch size (split over replicas).")
flags.DEFINE_integer("resize_short_side", 0, "Frames resized to this short side before the crop "
                     "(0 = image_size * 256 / 224, the paper's ratio).")
flags.DEFINE_integer("pairs_per_video", 4, "AVC pairs drawn per parsed video record.")
flags.DEFINE_integer("video_shuffle_buffer", 1024, "Videos mixed before sampling pairs.")
flags.DEFINE_integer("example_shuffle_buffer", 4096, "Pairs mixed before batching.")
flags.DEFINE_boolean("augment", True, "Paper augmentation (crop, flip, colour jitter, gain).")

# Optimisation and run length.
flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate (paper: 1e-4).")
flags.DEFINE_enum("lr_schedule", "constant", list(SCHEDULES),
                  "constant (paper) | cosine: decays to 0 at the run's end (steps or time budget).")
flags.DEFINE_integer("warmup_steps", 0, "Linear learning-rate warm-up over this many steps.")
flags.DEFINE_boolean("batch_negatives", False,
                     "AVC loss over all B x B (frame, audio) pairs of a batch: every other video's audio "
                     "is a negative too, 50/50 weighted (paper: false, only the sampled pairs).")
flags.DEFINE_float("weight_decay", 1e-5, "Adam weight decay (paper: 1e-5).")
flags.DEFINE_integer("train_steps", 100000, "Stop after this many steps in total (across resumes).")
flags.DEFINE_float("time_budget_minutes", 0.0, "Also stop after this much wall time in this run (0 = none).")
flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                  "default: one device; mirrored: all local GPUs; multi_worker: from TF_CONFIG.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation and data sampling.")
flags.DEFINE_integer("log_every_steps", 50, "Steps between training summaries.")
flags.DEFINE_integer("eval_every_steps", 500, "Steps between validation runs (and checkpoints).")
flags.DEFINE_integer("eval_pairs", 512, "Fixed validation pairs per validation run (--model=envelope: "
                     "validation videos, each whole).")
flags.DEFINE_boolean("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_boolean("mixed_precision", False, "bfloat16/float16 compute (GPU); float32 variables.")


class FlagError(ValueError):
    """A flag value that cannot be used; the message names the flag."""


def _widths(name: str, values: List[str]) -> Tuple[int, ...]:
    try:
        widths = tuple(int(v) for v in values)
    except ValueError:
        raise FlagError(f"--{name}={','.join(values)}: expected comma-separated integers") from None
    if not widths or min(widths) < 1:
        raise FlagError(f"--{name}: expected at least one positive integer")
    return widths


def model_config_from_flags(model: Optional[str] = None) -> ModelConfig:
    """ModelConfig from the model flags (architecture `model`, default --model); FlagError names the bad flag."""
    cfg = ModelConfig(
        model=model or FLAGS.model,
        image_size=FLAGS.image_size,
        vision_widths=_widths("vision_widths", FLAGS.vision_widths),
        audio_widths=_widths("audio_widths", FLAGS.audio_widths),
        frontend=FLAGS.frontend,
        sample_rate=FLAGS.sample_rate,
        audio_seconds=FLAGS.audio_seconds,
        fusion_width=FLAGS.fusion_width,
        embedding_width=FLAGS.embedding_width,
        batchnorm_momentum=FLAGS.batchnorm_momentum,
    )
    try:
        return cfg.validate()
    except ValueError as e:
        raise FlagError(f"--{e}") from None


def envelope_config_from_flags():
    """EnvelopeConfig from the envelope flags; the vision tower's ModelConfig comes from --init_from.

    Checks without TensorFlow that --init_from is a model dir with a checkpoint.
    """
    from l3net import model_dir as model_dir_lib
    from l3net.envelope.config import RANDOM_INIT, EnvelopeConfig

    init_from = FLAGS.init_from
    if not init_from:
        raise FlagError("--init_from is required with --model=envelope: the model dir of a trained L3-Net "
                        f"(its vision tower is used), or --init_from={RANDOM_INIT}")
    if init_from == RANDOM_INIT:
        vision = model_config_from_flags(model="l3net")
    else:
        try:
            vision = model_dir_lib.read_model_config(init_from)
        except model_dir_lib.ModelDirError as e:
            raise FlagError(f"--init_from: {e}") from None
        if not os.path.isfile(os.path.join(model_dir_lib.checkpoint_dir(init_from), "checkpoint")):
            raise FlagError(f"--init_from={init_from}: no checkpoint in {model_dir_lib.checkpoint_dir(init_from)}; "
                            "train it first")
        init_from = os.path.abspath(init_from)
    cfg = EnvelopeConfig(vision=vision, init_from=init_from, finetune_vision=FLAGS.finetune_vision,
                         feature_grid=FLAGS.feature_grid, lstm_units=FLAGS.lstm_units,
                         fc_widths=_widths("envelope_fc_widths", FLAGS.envelope_fc_widths),
                         sequence_frames=FLAGS.sequence_frames, bidirectional=FLAGS.envelope_bidirectional,
                         frame_deltas=FLAGS.envelope_frame_deltas)
    try:
        return cfg.validate()
    except ValueError as e:
        raise FlagError(f"--{e}") from None


def envelope_data_config_from_flags(cfg, sample_rate: int) -> DataConfig:
    """DataConfig of the envelope pipeline: the tower's image size, the data's `sample_rate`.

    Frames are resized as the tower was trained (the --init_from run's resize_short_side) unless
    --resize_short_side is given.
    """
    data = dataclasses.replace(data_config_from_flags(cfg.vision), sample_rate=int(sample_rate))
    path = os.path.join(cfg.init_from, "run_config.json")
    if FLAGS.resize_short_side or not os.path.isfile(path):
        return data
    try:
        with open(path, encoding="utf-8") as f:
            trained = json.load(f).get("data", {})
    except (OSError, ValueError) as e:
        raise FlagError(f"--init_from: {path} unreadable ({e})") from None
    if "resize_short_side" in trained:
        data = dataclasses.replace(data, resize_short_side=int(trained["resize_short_side"]))
    return data


def data_config_from_flags(model: ModelConfig) -> DataConfig:
    """DataConfig matching `model`'s input contract, from the data flags."""
    for name in ("batch_size", "pairs_per_video", "video_shuffle_buffer", "example_shuffle_buffer"):
        if getattr(FLAGS, name) < 1:
            raise FlagError(f"--{name}={getattr(FLAGS, name)}: must be >= 1")
    if FLAGS.resize_short_side and FLAGS.resize_short_side < FLAGS.image_size:
        raise FlagError(f"--resize_short_side={FLAGS.resize_short_side}: must be >= --image_size")
    overrides = {}
    if FLAGS.resize_short_side:
        overrides["resize_short_side"] = FLAGS.resize_short_side
    return DataConfig.for_model(
        model,
        batch_size=FLAGS.batch_size,
        pairs_per_video=FLAGS.pairs_per_video,
        video_shuffle_buffer=FLAGS.video_shuffle_buffer,
        example_shuffle_buffer=FLAGS.example_shuffle_buffer,
        augment=FLAGS.augment,
        **overrides,
    )


def train_config_from_flags() -> TrainConfig:
    """TrainConfig from the optimisation flags; FlagError names the bad flag."""
    cfg = TrainConfig(
        learning_rate=FLAGS.learning_rate,
        lr_schedule=FLAGS.lr_schedule,
        warmup_steps=FLAGS.warmup_steps,
        batch_negatives=FLAGS.batch_negatives,
        weight_decay=FLAGS.weight_decay,
        train_steps=FLAGS.train_steps,
        time_budget_minutes=FLAGS.time_budget_minutes,
        strategy=FLAGS.strategy,
        seed=FLAGS.seed,
        log_every_steps=FLAGS.log_every_steps,
        eval_every_steps=FLAGS.eval_every_steps,
        eval_pairs=FLAGS.eval_pairs,
        jit_compile=FLAGS.jit_compile,
        mixed_precision=FLAGS.mixed_precision,
    )
    try:
        return cfg.validate()
    except ValueError as e:
        raise FlagError(f"--{e}") from None


def resolved_flagfile() -> str:
    """The run's flags in flagfile syntax (only l3net's own flags), to save in the model dir."""
    lines = []
    for flag in FLAGS.get_flags_for_module(__name__):
        lines.append(flag.serialize())
    return "\n".join(line for line in lines if line) + "\n"
