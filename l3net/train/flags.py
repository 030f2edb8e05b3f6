"""Flags of `l3net_train`: every setting of a run, so that a flagfile in `configs/` reproduces it.

Flags are grouped by what they configure and turned into the three config objects the rest of
the code takes (`ModelConfig`, `DataConfig`, `TrainConfig`); nothing below `l3net.train` reads
absl flags, so library users can build the same objects directly.
"""

from __future__ import annotations

from typing import List, Tuple

from absl import flags

from l3net.data.config import DataConfig
from l3net.models.config import MODEL_NAMES, ModelConfig
from l3net.train.train_config import STRATEGIES, TrainConfig

FLAGS = flags.FLAGS

# Where.
flags.DEFINE_string("data_dir", None, "Output directory of `l3net_data convert` (holds dataset.json).")
flags.DEFINE_string("model_dir", None, "Checkpoints, summaries, resolved flags; re-use it to resume.")

# Model (see l3net/models/config.py for meanings).
flags.DEFINE_enum("model", "l3net", list(MODEL_NAMES), "Architecture: L3-Net or AVE-Net.")
flags.DEFINE_integer("image_size", 224, "Square image crop fed to the vision tower.")
flags.DEFINE_list("vision_widths", ["64", "128", "256", "512"], "Filters of each vision VGG block.")
flags.DEFINE_list("audio_widths", ["64", "128", "256", "512"], "Filters of each audio VGG block.")
flags.DEFINE_string("frontend", "linear", "Audio front end: linear | mel<N> (e.g. mel128) | learned.")
flags.DEFINE_integer("sample_rate", 48000, "Model audio rate (Hz); must match the converted data.")
flags.DEFINE_float("audio_seconds", 1.0, "Length of the audio window (s).")
flags.DEFINE_integer("fusion_width", 128, "L3-Net fusion fc width.")
flags.DEFINE_integer("embedding_width", 128, "AVE-Net embedding width.")
flags.DEFINE_float("batchnorm_momentum", 0.99, "BatchNorm moving-statistics momentum (short runs: 0.9).")

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
flags.DEFINE_float("weight_decay", 1e-5, "Adam weight decay (paper: 1e-5).")
flags.DEFINE_integer("train_steps", 100000, "Stop after this many steps in total (across resumes).")
flags.DEFINE_float("time_budget_minutes", 0.0, "Also stop after this much wall time in this run (0 = none).")
flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                  "default: one device; mirrored: all local GPUs; multi_worker: from TF_CONFIG.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation and data sampling.")
flags.DEFINE_integer("log_every_steps", 50, "Steps between training summaries.")
flags.DEFINE_integer("eval_every_steps", 500, "Steps between validation runs (and checkpoints).")
flags.DEFINE_integer("eval_pairs", 512, "Fixed validation pairs per validation run.")
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


def model_config_from_flags() -> ModelConfig:
    """ModelConfig from the model flags; FlagError names the bad flag."""
    cfg = ModelConfig(
        model=FLAGS.model,
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
