"""`l3net_probe {esc50|dcase2013} --data_dir E --model_dir M [...]`: sound classification with the frozen audio tower.

L3-Net's transfer protocol (ICCV 2017): every `--window` (the model's input length, 1 s) audio
window of every clip, `--hop` seconds apart, goes through the audio tower; its last conv block is
max-pooled to a grid of 8x8 cells (4x3x512 = 6144-d at paper size), z-scored with the training
folds' statistics, and a one-vs-all linear classifier is trained on the windows; a clip's score
is the mean of its windows'. 5-fold cross-validation on the benchmark's own folds.

  esc50       ESC-50 layout: E/meta/esc50.csv + E/audio/*.wav (fold column = the 5 folds).
  dcase2013   DCASE 2013 SCD: E/audio/ (or scenes_stereo/) + E/evaluation_setup/fold{1..5}_{train,test}.txt
              (without fold lists: clip NN is tested in fold (NN-1) mod 5 + 1).

Random-init baseline (L3-Net Table 2): `--model_dir random --model_config C`, where C is a
model_config.json or a model directory; the architecture is built with `--seed`-seeded initial
weights and probed through the same pipeline (give it its own --output_dir).

`--layer L` pools an earlier feature map of the audio tower instead of the last conv block (layer-wise
probes: which depth transfers to the task; e.g. audio_conv3_2), computed per window.

`--checkpoint=best|latest|<step>` picks the weights of a trained model (default: the best by
validation). The probe is the `esc50` / `dcase2013` evaluator of `l3net.evaluation.evaluators`
(`l3net.evaluation.probe.run_probe_evaluation`); this command is its flags.

Writes `<output_dir>/probe.json` (per-fold and mean accuracy, confusion matrix, settings, paper
numbers) and `<output_dir>/confusion_matrix.png` (default output_dir: `<model_dir>/probe_<task>`,
`probe_<task>_random` next to the config for random init). Window features are cached in
`<output_dir>/feature_cache/` (or --cache_dir), keyed on the weights, the audio files and the
windowing, so re-runs (another --classifier) skip the network.
"""

from __future__ import annotations

import os
from typing import List, NoReturn

from l3net.tensorflow_output import quiet_tensorflow

quiet_tensorflow()

from absl import flags  # noqa: E402

from l3net import cli_flags  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402

TASKS = ("esc50", "dcase2013")
# = linear_probe.CLASSIFIERS (no sklearn import here)
CLASSIFIER_NAMES = ("linear_svm", "liblinear_svm", "logreg", "mlp")
FLAGS = flags.FLAGS
SHARED = cli_flags.uses(
    data_dir=(None, "Benchmark folder (ESC-50 or DCASE 2013 SCD layout)."),
    model_dir=(None, "Model directory written by `l3net_train`, or 'random' for the random-init baseline (needs "
                     "--model_config)."),
    output_dir=(None, "Where probe.json and confusion_matrix.png go (default <model_dir>/probe_<task>)."),
    hop=(0.5, "Seconds between window starts."),
    batch_size=(64, "Windows per network call."),
    seed=(0, "Seed of the classifier and of the random-init weights."),
    checkpoint=("best", "Which checkpoint of --model_dir: best|latest|<step> (best = best validation; falls back "
                        "to latest)."),
    exact=(True, "Every window through the whole tower (default). --noexact: overlapping windows share conv maps "
                 "(faster; on a trained model within half a point of exact, but a random-init baseline loses up to "
                 "5 points, README \"Shared window computation\")."),
    bfloat16=(False, "The audio tower computes in bfloat16 (weights float32): features ~2x faster on CPUs with "
                     "bfloat16 instructions (avx512_bf16, amx_bf16), slower elsewhere; cached apart from float32 "
                     "features (README \"Shared window computation\")."),
)
flags.DEFINE_string("model_config", None, "With --model_dir random: a model_config.json or a model directory "
                    "whose architecture is initialised randomly.")
flags.DEFINE_enum("classifier", "linear_svm", CLASSIFIER_NAMES,
                  "linear_svm: one-vs-rest linear SVM, squared hinge, C=1 (paper; LinearSVC's problem, exact "
                  "Newton solver); liblinear_svm: the same through scikit-learn's LinearSVC (slow at paper size); "
                  "logreg: logistic regression; mlp: 1 hidden layer.")
flags.DEFINE_float("window", None, "Window length in seconds; must be the model's input length (default: it).")
flags.DEFINE_string("cache_dir", None, "Feature cache folder (default <output_dir>/feature_cache).")
flags.DEFINE_string("layer", None, "The audio tower's feature map to pool (default: the last conv block's, the "
                    "paper's features), e.g. audio_conv3_2 or audio_pool3; a wrong name lists the model's maps.")


def _fail(message: str) -> NoReturn:
    fail("l3net_probe", message)


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[1] not in TASKS:
        _fail(f"usage: l3net_probe {{{'|'.join(TASKS)}}} --data_dir E --model_dir M [--output_dir P "
              "--classifier linear_svm|liblinear_svm|logreg|mlp --window 1.0 --hop 0.5]")
    task = argv[1]
    if not FLAGS.data_dir or not FLAGS.model_dir:
        _fail("--data_dir and --model_dir are required")
    if FLAGS.model_dir == "random" and not FLAGS.model_config:
        _fail("--model_dir random needs --model_config (a model_config.json or a model directory)")

    from l3net.audio_files import AudioFileError
    from l3net.evaluation import probe, sound_datasets
    from l3net.model_dir import ModelDirError

    output_dir = FLAGS.output_dir or probe.default_output_dir(task, FLAGS.model_dir, FLAGS.model_config)
    try:
        probe.run_probe_evaluation(task, FLAGS.model_dir, FLAGS.data_dir, output_dir, checkpoint=FLAGS.checkpoint,
                                   model_config=FLAGS.model_config, classifier=FLAGS.classifier,
                                   window_s=FLAGS.window, hop_s=FLAGS.hop, batch_size=FLAGS.batch_size,
                                   cache_dir=FLAGS.cache_dir, seed=FLAGS.seed, exact=FLAGS.exact,
                                   layer=FLAGS.layer, bfloat16=FLAGS.bfloat16)
    except (sound_datasets.SoundDatasetError, AudioFileError, ModelDirError, probe.ProbeError) as e:
        _fail(str(e))
    print(f"wrote {os.path.join(output_dir, probe.PROBE_JSON)} and {os.path.join(output_dir, probe.CONFUSION_PNG)}")
    return 0


def run() -> None:
    """Console-script entry point."""
    run_tool("l3net_probe", main, __doc__, [__name__], shared=SHARED)


if __name__ == "__main__":
    run()
