"""Flags of `l3net_train`: every setting of a run, so that a flagfile in `configs/` reproduces it.

Flags are grouped by what they configure. The task (`--task`, `l3net.tasks`) turns them into its
network and data configs; `train_config_from_flags` makes the `TrainConfig`. Nothing below
`l3net.train` reads absl flags: tasks take a plain mapping of settings, so library users can
build the same objects directly. Flags other commands use too (`--model_dir`, `--data_dir`,
`--model`, `--batch_size`, `--seed`, ...) are defined once in `l3net.cli_flags`; `SHARED` gives
their meaning and default here.
"""

from __future__ import annotations

from typing import Any, Dict

from absl import flags

from l3net import cli_flags
from l3net.models.config import MODEL_NAMES, SEQUENCE_LAYERS
from l3net.tasks import TASK_NAMES
from l3net.tasks.base import SettingsError
from l3net.train.lr_schedule import SCHEDULES
from l3net.train.train_config import BEST_METRICS, STRATEGIES, TrainConfig

FLAGS = flags.FLAGS

SHARED = cli_flags.uses(
    data_dir=(None, "Output directory of `l3net_data convert` (holds dataset.json)."),
    model_dir=(None, "Checkpoints, summaries, resolved flags; re-use it to resume."),
    model=("l3net", f"Network of --task=avc (and the tower of --task=envelope --init_from=random): "
                    f"{' | '.join(MODEL_NAMES)}."),
    sample_rate=(48000, "Model audio rate (Hz); must match the converted data."),
    batch_size=(256, "Global batch size (split over replicas)."),
    pairs_per_video=(4, "AVC pairs drawn per parsed video record."),
    seed=(0, "Seed of initialisation and data sampling."),
)

flags.DEFINE_enum("task", "avc", list(TASK_NAMES),
                  "What to train: avc (audio-visual correspondence; --model picks the network) | envelope "
                  "(sound envelope from frames, on the vision tower of --init_from).")

# Model (see l3net/models/config.py for meanings).
flags.DEFINE_integer("image_size", 224, "Square image crop fed to the vision tower.")
flags.DEFINE_list("vision_widths", ["64", "128", "256", "512"], "Filters of each vision VGG block.")
flags.DEFINE_list("audio_widths", ["64", "128", "256", "512"], "Filters of each audio VGG block.")
flags.DEFINE_string("frontend", "linear", "Audio front end: linear | mel<N> (e.g. mel128) | learned.")
flags.DEFINE_float("audio_seconds", 1.0, "Length of the audio window (s).")
flags.DEFINE_integer("fusion_width", 128, "L3-Net fusion fc width.")
flags.DEFINE_integer("embedding_width", 128, "AVE-Net embedding width.")
flags.DEFINE_float("batchnorm_momentum", 0.99, "BatchNorm moving-statistics momentum (short runs: 0.9).")
flags.DEFINE_boolean("head_batchnorm", False, "BatchNorm before the ReLU of the first head fc (L3-Net fusion_fc1, "
                     "AVE-Net image_fc1/audio_fc1); keeps those units alive at high learning rates (paper: false).")
flags.DEFINE_integer("num_frames", 1, "--model=l3net: frames per AVC example, spread evenly over the audio clip "
                     "(> 1 = the sequence model of l3net/models/sequence_avc.py; paper: 1).")
flags.DEFINE_float("clip_seconds", 0.0, "--model=l3net: seconds of audio per AVC example, a whole number of "
                   "--audio_seconds windows, each through the audio tower (0 = one window; paper: 0).")
flags.DEFINE_enum("sequence_layer", "gru", list(SEQUENCE_LAYERS), "Sequence models: what summarises the frames "
                  "and the audio windows: gru | lstm (recurrent) | max | mean (temporal pooling, the control).")

# Envelope task (--task=envelope; see l3net/envelope/config.py).
flags.DEFINE_string("init_from", None, "--task=envelope: model dir of a trained L3-Net / AVE-Net whose vision tower "
                    "(weights and architecture) is used, or 'random' (architecture from the model flags).")
flags.DEFINE_boolean("finetune_vision", False, "--task=envelope: train the vision tower too (default frozen).")
flags.DEFINE_integer("sequence_frames", 48, "--task=envelope: consecutive frames per training clip.")
flags.DEFINE_integer("lstm_units", 512, "--task=envelope: width of both LSTM layers (the original experiment: "
                     "512).")
flags.DEFINE_integer("feature_grid", 7, "--task=envelope: the tower's last conv map is max-pooled to this grid.")
flags.DEFINE_list("envelope_fc_widths", ["256", "64"], "--task=envelope: widths of fc1, fc2 (fc3 is 1 + sigmoid).")
flags.DEFINE_boolean("envelope_bidirectional", False, "--task=envelope: the LSTMs also run backwards over the "
                     "clip (offline; an impact sounds when the object stops). Sound-from-video experiment: false.")
flags.DEFINE_boolean("envelope_frame_deltas", False, "--task=envelope: also feed each frame's feature change since "
                     "the previous frame. Sound-from-video experiment: false.")
flags.DEFINE_boolean("cache_features", False, "--task=envelope: run the frozen tower once per frame and train the "
                     "head on cached features (needs --finetune_vision=false --augment=false).")
flags.DEFINE_string("feature_cache_dir", None, "--task=envelope --cache_features: where cached features go "
                    "(default <model_dir>/feature_cache; files are keyed by tower weights and data).")

# Data.
flags.DEFINE_integer("resize_short_side", 0, "Frames resized to this short side before the crop "
                     "(0 = image_size * 256 / 224, the paper's ratio).")
flags.DEFINE_integer("video_shuffle_buffer", 1024, "Videos mixed before sampling pairs.")
flags.DEFINE_integer("example_shuffle_buffer", 4096, "Pairs mixed before batching.")
flags.DEFINE_boolean("augment", True, "Paper augmentation (crop, flip, colour jitter, gain).")
flags.DEFINE_float("hue_jitter", 0.0, "Beyond the paper: random hue rotation up to this fraction of a turn "
                   "(0 = off, 0.5 = any hue); against memorising per-video colours on small datasets.")
flags.DEFINE_float("gain_db", 0.0, "Beyond the paper: random gain of +-this many dB (0 = the paper's +-10 %).")
flags.DEFINE_float("spectral_tilt", 0.0, "Beyond the paper: random first-order treble/bass tilt "
                   "y[n] = x[n] - a x[n-1], |a| <= this (0 = off, < 1).")
flags.DEFINE_float("pitch_shift", 0.0, "Beyond the paper: random speed perturbation of the audio by up to "
                   "+-this many semitones (pitch and tempo together; 0 = off, <= 12).")

# Optimisation and run length.
flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate (paper: 1e-4).")
flags.DEFINE_enum("lr_schedule", "constant", list(SCHEDULES),
                  "constant (paper) | cosine: decays to 0 at the run's end (steps or time budget).")
flags.DEFINE_integer("warmup_steps", 0, "Linear learning-rate warm-up over this many steps.")
flags.DEFINE_boolean("batch_negatives", False,
                     "AVC loss over all B x B (frame, audio) pairs of a batch: every other video's audio "
                     "is a negative too, 50/50 weighted (paper: false, only the sampled pairs).")
flags.DEFINE_boolean("label_disjoint_negatives", False,
                     "Labelled data only (e.g. AudioSet): a training negative pairs a frame with audio of a video "
                     "sharing no label with it, so another video of the same kind is never called a mismatch "
                     "(paper: false; evaluation pairs are unchanged). With --batch_negatives, cross pairs of videos "
                     "sharing a label are left out of the loss as well.")
flags.DEFINE_float("negative_discount", 0.0,
                   "With --batch_negatives: weight each cross-video pair's negative term by (1 - p)^gamma, p its "
                   "predicted correspondence (gamma = this; 0 = off): pairs the network finds matching - often "
                   "another video of the same kind - stop forcing it to memorise videos "
                   "(l3net/tasks/batch_negatives.py).")
flags.DEFINE_float("weight_decay", 1e-5, "Adam weight decay (paper: 1e-5).")
flags.DEFINE_float("ema_decay", 0.0, "Keep an exponential moving average of the weights with this decay (e.g. 0.999: "
                   "about the last 1,000 steps; 0 = off, the papers'): validation, the best and latest checkpoints "
                   "and so every tool use the averaged weights (l3net/train/weight_averaging.py).")
flags.DEFINE_integer("train_steps", 100000, "Stop after this many steps in total (across resumes).")
flags.DEFINE_float("time_budget_minutes", 0.0, "Also stop after this much wall time in this run (0 = none).")
flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                  "default: one device; mirrored: all local GPUs; multi_worker: from TF_CONFIG.")
flags.DEFINE_list("worker_hosts", [], "--strategy=multi_worker: every worker's host:port, comma-separated, the same "
                  "list on every worker (the first is the chief, which writes --model_dir); builds TF_CONFIG (a "
                  "TF_CONFIG already set wins).")
flags.DEFINE_integer("task_index", None, "--strategy=multi_worker with --worker_hosts: this worker's position in "
                     "--worker_hosts (0 = the chief).")
flags.DEFINE_integer("log_every_steps", 50, "Steps between training summaries.")
flags.DEFINE_integer("eval_every_steps", 500, "Steps between validation runs (and checkpoints).")
flags.DEFINE_integer("eval_pairs", 512, "Fixed validation pairs per validation run (--task=envelope: "
                     "validation videos, each whole).")
flags.DEFINE_enum("best_metric", "metric", list(BEST_METRICS),
                  "What picks the best checkpoint (checkpoints/best/, the default of every tool's --checkpoint): "
                  "metric = the task's validation metric, higher is better (AVC accuracy, envelope correlation; "
                  "ties go to the lower loss) | loss = the validation loss, lower is better.")
flags.DEFINE_integer("early_stopping_patience", 0, "Stop when this many validation runs in a row did not improve "
                     "the best checkpoint (0 = never stop early).")
flags.DEFINE_list("periodic_eval", [], "Evaluators run on the chief after validation, by name "
                  "(`l3net.evaluation.evaluators`): e.g. retrieval or esc50@<ESC-50 dir>; their headline numbers "
                  "go to TensorBoard and their reports to <model_dir>/periodic_eval/<name>/step_<N>/.")
flags.DEFINE_integer("periodic_eval_every_steps", 0, "Steps between periodic evaluations (0 = at every "
                     "validation); a multiple of --eval_every_steps.")
flags.DEFINE_boolean("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_boolean("mixed_precision", False, "bfloat16 compute, float32 variables: for GPUs, and CPUs with "
                     "bfloat16 instructions (avx512_bf16, amx_bf16: up to ~1.3x faster steps; emulated and "
                     "slower elsewhere).")
flags.DEFINE_boolean("skip_corrupt_records", False, "A damaged shard (truncated, or bytes altered: a checksum "
                     "fails) is read up to the damage and the rest of it skipped, with a warning naming it and a count "
                     "in the summaries (damaged_shard_reads), instead of stopping the run with that error.")
flags.DEFINE_boolean("deterministic", False, "TensorFlow op determinism (tf.config.experimental."
                     "enable_op_determinism): the same seed, data and machine give identical weights; an op without "
                     "a deterministic kernel raises. Measured CPU cost: none beyond noise (README: Faults and "
                     "recovery).")


FlagError = SettingsError


def train_config_from_flags() -> TrainConfig:
    """TrainConfig from the optimisation flags; FlagError names the bad flag."""
    cfg = TrainConfig(
        learning_rate=FLAGS.learning_rate,
        lr_schedule=FLAGS.lr_schedule,
        warmup_steps=FLAGS.warmup_steps,
        batch_negatives=FLAGS.batch_negatives,
        negative_discount=FLAGS.negative_discount,
        weight_decay=FLAGS.weight_decay,
        ema_decay=FLAGS.ema_decay,
        train_steps=FLAGS.train_steps,
        time_budget_minutes=FLAGS.time_budget_minutes,
        strategy=FLAGS.strategy,
        seed=FLAGS.seed,
        log_every_steps=FLAGS.log_every_steps,
        eval_every_steps=FLAGS.eval_every_steps,
        eval_pairs=FLAGS.eval_pairs,
        best_metric=FLAGS.best_metric,
        early_stopping_patience=FLAGS.early_stopping_patience,
        periodic_eval=tuple(FLAGS.periodic_eval),
        periodic_eval_every_steps=FLAGS.periodic_eval_every_steps,
        jit_compile=FLAGS.jit_compile,
        mixed_precision=FLAGS.mixed_precision,
        skip_corrupt_records=FLAGS.skip_corrupt_records,
        deterministic=FLAGS.deterministic,
    )
    try:
        return cfg.validate()
    except ValueError as e:
        raise FlagError(f"--{e}") from None


def settings() -> Dict[str, Any]:
    """The resolved flag values as a plain mapping (what `TaskSpec.setup` takes)."""
    return FLAGS.flag_values_dict()


def resolved_flagfile() -> str:
    """The run's flags in flagfile syntax (`l3net_train`'s own and the shared ones it uses)."""
    flags_used = list(FLAGS.get_flags_for_module(__name__)) + [FLAGS[name] for name in SHARED]
    lines = sorted(flag.serialize() for flag in flags_used)
    return "\n".join(line for line in lines if line) + "\n"
