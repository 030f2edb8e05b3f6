"""One probe run end to end: benchmark folder + frozen audio tower -> cross-validated accuracy, JSON, figure.

`run_probe` is what `l3net_probe` and the demo call: it reads and checks the benchmark
(`sound_datasets`), extracts or loads cached window features (`probe_features`), cross-validates
the classifier (`linear_probe`), and writes `<output_dir>/probe.json` and
`<output_dir>/confusion_matrix.png` atomically, only after everything succeeded.

The random-init baseline of L3-Net's Table 2 is the same pipeline on an untrained network:
`load_probe_model("random", model_config=..., seed=...)` builds the architecture of a
model_config.json (or of a model directory's) with seeded initial weights. Its inference-mode
BatchNorm is the identity (moving mean 0, variance 1), exactly like a freshly built network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, Dict, Optional, Tuple, Union

from l3net import model_dir as model_dir_lib
from l3net.atomic_files import write_text_atomic
from l3net.models.precision import bfloat16_compute, emulated_bfloat16_note

RANDOM_INIT = "random"
PROBE_JSON = "probe.json"
CONFUSION_PNG = "confusion_matrix.png"
CACHE_SUBDIR = "feature_cache"
# Accuracies the papers report (L3-Net, ICCV 2017, Table 2 and 3).
PAPER_ACCURACY: Dict[str, Dict[str, float]] = {
    "esc50": {"L3-Net": 0.793, "L3-Net random init": 0.625, "SoundNet": 0.742, "human": 0.813},
    "dcase2013": {"L3-Net": 0.93, "SoundNet": 0.88},
}
TASK_TITLES = {"esc50": "ESC-50", "dcase2013": "DCASE 2013 SCD"}


class ProbeError(ValueError):
    """A probe that cannot run as asked; the message names the flag or file and what to do."""


@dataclasses.dataclass
class ProbeModel:
    """An AVC model to probe and what identifies its weights (cache key, report)."""

    source: str  # the model directory, or RANDOM_INIT
    model: object
    config: object
    step: int
    identity: Dict[str, object]
    description: str


def _read_config_path(path: str):
    """ModelConfig of a model directory or of its model_config.json file."""
    if os.path.isfile(path) and os.path.basename(path) == model_dir_lib.MODEL_CONFIG_NAME:
        return model_dir_lib.read_model_config(os.path.dirname(os.path.abspath(path)))
    if os.path.isdir(path):
        return model_dir_lib.read_model_config(path)
    raise ProbeError(f"{path}: not a model directory or a {model_dir_lib.MODEL_CONFIG_NAME}; pass one of them "
                     "(e.g. configs written by `l3net_train`)")


def load_probe_model(model_dir: str, *, model_config: Optional[str] = None, seed: int = 0,
                     checkpoint: Union[str, int, None] = "best", bfloat16: bool = False) -> ProbeModel:
    """A trained model (`checkpoint` of `model_dir`) or, for model_dir='random', a seeded fresh one.

    `bfloat16`: the network computes in bfloat16 (weights float32; l3net.models.precision): 1.7-2x
    faster features on CPUs with bfloat16 instructions. Its identity (the feature cache's key) says so.
    Raises ModelDirError / ProbeError with a one-line message.
    """
    with bfloat16_compute(bfloat16):
        probe_model = _load_probe_model(model_dir, model_config, seed, checkpoint)
    if bfloat16:
        probe_model.identity["bfloat16"] = True
        probe_model.description += " (bfloat16)"
    return probe_model


def _load_probe_model(model_dir: str, model_config: Optional[str], seed: int,
                      checkpoint: Union[str, int, None]) -> ProbeModel:
    import keras

    from l3net.models import build_model

    if model_dir == RANDOM_INIT:
        if not model_config:
            raise ProbeError("--model_dir random needs --model_config (a model_config.json or a model directory) "
                             "to know which architecture to initialise")
        cfg = _read_config_path(model_config)
        keras.utils.set_random_seed(seed)
        model = build_model(cfg)
        return ProbeModel(RANDOM_INIT, model, cfg, 0, {"random_init": True, "seed": seed, "config": cfg.to_dict()},
                          f"random init (seed {seed}) of {cfg.model}")
    if model_config:
        raise ProbeError("--model_config only applies with --model_dir random (a trained model dir has its own)")
    directory = model_dir_lib.ModelDir(model_dir)
    model, cfg, step = directory.load_model(checkpoint)
    identity = {**directory.checkpoint_identity(checkpoint), "step": step, "config": cfg.to_dict()}
    return ProbeModel(os.path.abspath(model_dir), model, cfg, step, identity, f"{cfg.model} step {step}")


def _window_samples(cfg, window_s: Optional[float], hop_s: float) -> tuple:
    window = cfg.num_audio_samples
    if window_s is not None and int(round(window_s * cfg.sample_rate)) != window:
        raise ProbeError(f"--window={window_s}: the model takes {cfg.audio_seconds} s windows "
                         f"({window} samples at {cfg.sample_rate} Hz); pass --window {cfg.audio_seconds}")
    if hop_s <= 0:
        raise ProbeError(f"--hop={hop_s}: must be > 0 seconds")
    from l3net.serving.windows import hop_samples

    return window, hop_samples(hop_s, cfg.sample_rate)


def _feature_layer(model, layer: Optional[str], exact: bool) -> Tuple[Optional[str], str]:
    """(layer for probe_features: None = the last conv block, its name): `layer` checked against the
    tower's maps (ProbeError naming them). The shared path computes the last block only."""
    from l3net.models import audio_conv_feature_model, audio_map_layers

    last = audio_conv_feature_model(model).layers[-1].name
    if not layer or layer == last:
        return None, last
    names = audio_map_layers(model)
    if layer not in names:
        raise ProbeError(f"--layer={layer}: not a feature map of this audio tower; use one of {', '.join(names)}")
    if not exact:
        raise ProbeError(f"--layer={layer} with --noexact: shared windows exist for the last conv block ({last}) "
                         "only; drop --noexact")
    return layer, layer


def run_probe(task: str, data_dir: str, probe_model: ProbeModel, output_dir: str, *,
              classifier: str = "linear_svm", window_s: Optional[float] = None, hop_s: float = 0.5,
              batch_size: int = 64, cache_dir: Optional[str] = None, seed: int = 0,
              exact: bool = True, layer: Optional[str] = None,
              log: Callable[[str], None] = print) -> Dict[str, object]:
    """Runs the probe and writes probe.json + confusion_matrix.png into `output_dir`.

    Args:
      task: 'esc50' or 'dcase2013'; data_dir: the benchmark folder (`sound_datasets` layouts).
      probe_model: from `load_probe_model`.
      classifier: one of `linear_probe.CLASSIFIERS`.
      window_s: window length (must be the model's input length; None = that length).
      hop_s: seconds between window starts.
      cache_dir: where feature caches live (default `<output_dir>/feature_cache`).
      exact: every window through the whole tower (default); False: overlapping windows share
        conv maps (l3net.evaluation.probe_features; faster, but not the default: on random-init
        baselines it changes accuracy by several points, README "Shared window computation").
      layer: the audio tower's map to pool (`l3net.models.audio_map_layers`; None: the last conv
        block's, the paper's features). Earlier maps are computed per window (`exact`).
      log: receives progress and result lines.

    Returns the report written to probe.json. Raises SoundDatasetError, AudioFileError,
    ProbeError (one-line messages); nothing is written then except complete feature caches.
    """
    from l3net.evaluation.confusion_figure import plot_confusion
    from l3net.evaluation.linear_probe import CLASSIFIERS, cross_validate
    from l3net.evaluation.probe_features import cache_key, extract_features, extract_or_load, window_features
    from l3net.evaluation.sound_datasets import READERS

    if task not in READERS:
        raise ProbeError(f"task {task!r}: use one of {', '.join(READERS)}")
    if classifier not in CLASSIFIERS:
        raise ProbeError(f"--classifier={classifier}: use one of {', '.join(CLASSIFIERS)}")
    if batch_size < 1:
        raise ProbeError(f"--batch_size={batch_size}: must be >= 1")
    cfg = probe_model.config
    window, hop = _window_samples(cfg, window_s, hop_s)
    layer, layer_name = _feature_layer(probe_model.model, layer, exact)
    dataset = READERS[task](data_dir)
    features_of, dim, grid = window_features(probe_model.model, cfg, window, hop, exact, layer)
    key = cache_key(probe_model.identity, dataset.paths, sample_rate=cfg.sample_rate, window=window, hop=hop,
                    exact=exact, layer=layer)
    cache_path = os.path.join(cache_dir or os.path.join(output_dir, CACHE_SUBDIR), f"{task}_{key[:20]}.npz")
    title = TASK_TITLES[task]

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            log(f"  features: {done}/{total} clips")

    def compute():
        log(f"extracting {dim}-d {layer_name} features ({grid[0]}x{grid[1]} grid, "
            f"{'exact' if exact else 'shared'} windows) of {len(dataset.paths)} {title} clips with "
            f"{probe_model.description}")
        return extract_features(dataset.paths, features_of, sample_rate=cfg.sample_rate, batch_size=batch_size,
                                progress=progress)

    features, clip_index, cache_hit, feature_seconds = extract_or_load(cache_path, key, compute)
    if cache_hit:
        log(f"features: cached ({cache_path})")
    start = time.time()
    result = cross_validate(features, clip_index, dataset.targets, dataset.folds, classifier, seed)
    classifier_seconds = time.time() - start
    report = {
        "task": task, "data_dir": dataset.root, "index_files": dataset.index_files,
        "model_dir": probe_model.source,
        "model": cfg.model, "model_description": probe_model.description,
        "random_init": bool(probe_model.identity.get("random_init", False)), "seed": seed,
        "checkpoint_step": probe_model.step, "checkpoint": probe_model.identity.get("checkpoint"),
        "classifier": classifier,
        "window_seconds": window / cfg.sample_rate, "hop_seconds": hop / cfg.sample_rate,
        "sample_rate": cfg.sample_rate, "feature_dim": dim, "pool_grid": list(grid), "exact_windows": exact,
        "bfloat16": bool(probe_model.identity.get("bfloat16", False)),
        "layer": layer_name,
        "num_clips": len(dataset.paths), "num_windows": int(len(clip_index)), "class_names": dataset.class_names,
        "fold_sizes": [int(len(test)) for _, test in dataset.folds],
        "feature_cache": os.path.abspath(cache_path), "feature_cache_hit": cache_hit,
        "feature_seconds": round(feature_seconds, 2), "classifier_seconds": round(classifier_seconds, 2),
        "paper_accuracy": PAPER_ACCURACY[task], **result.to_dict(),
    }
    log(format_report(report))
    plot_confusion(result.confusion, dataset.class_names, os.path.join(output_dir, CONFUSION_PNG),
                   f"{title}: {probe_model.description}, {classifier}, "
                   f"5-fold accuracy {result.mean_accuracy:.3f}")
    write_text_atomic(os.path.join(output_dir, PROBE_JSON), json.dumps(report, indent=2, sort_keys=True))
    return report


def _paper_line(task: str) -> str:
    return "  ".join(f"{name} {100 * acc:.1f} %" for name, acc in PAPER_ACCURACY[task].items())


def format_report(report: Dict[str, object]) -> str:
    """Per-fold and mean accuracy with the paper's numbers beside them (what the command prints)."""
    task = str(report["task"])
    lines = [f"{TASK_TITLES[task]} {len(report['fold_accuracies'])}-fold accuracy, {report['classifier']} on "
             f"{report['feature_dim']}-d {report['layer']} features of {report['model_description']} "
             f"({report['num_clips']} clips, {report['num_windows']} windows):"]
    for i, acc in enumerate(report["fold_accuracies"], start=1):
        lines.append(f"  fold {i}   {100 * acc:5.1f} %")
    lines.append(f"  mean     {100 * report['mean_accuracy']:5.1f} % (± {100 * report['std_accuracy']:.1f})"
                 f"    paper: {_paper_line(task)}")
    return "\n".join(lines)


def format_comparison(reports: Dict[str, Dict[str, object]]) -> str:
    """Side-by-side table of several probe reports of one task (e.g. {'trained': r1, 'random init': r2})."""
    names = list(reports)
    first = reports[names[0]]
    task = str(first["task"])
    width = max(12, *(len(n) + 2 for n in names))
    lines = [f"{TASK_TITLES[task]} probe ({first['classifier']}):" + "".join(f"{n:>{width}s}" for n in names)]
    num_folds = len(first["fold_accuracies"])
    label_width = len(lines[0]) - width * len(names)
    for i in range(num_folds):
        row = "".join(f"{100 * reports[n]['fold_accuracies'][i]:>{width - 2}.1f} %" for n in names)
        lines.append(f"{'  fold ' + str(i + 1):<{label_width}s}{row}")
    row = "".join(f"{100 * reports[n]['mean_accuracy']:>{width - 2}.1f} %" for n in names)
    lines.append(f"{'  mean':<{label_width}s}{row}")
    lines.append(f"  paper: {_paper_line(task)}")
    return "\n".join(lines)



def default_output_dir(task: str, model_dir: str, model_config: Optional[str] = None) -> str:
    """`<model_dir>/probe_<task>`, or `probe_<task>_random` next to the config for random init."""
    if model_dir == RANDOM_INIT:
        base = model_config if model_config and os.path.isdir(model_config) else os.path.dirname(model_config or "")
        return os.path.join(base or ".", f"probe_{task}_random")
    return os.path.join(model_dir, f"probe_{task}")


def run_probe_evaluation(task: str, model_dir: str, data_dir: str, output_dir: Optional[str] = None, *,
                         checkpoint: Union[str, int, None] = "best", model_config: Optional[str] = None,
                         classifier: str = "linear_svm", window_s: Optional[float] = None, hop_s: float = 0.5,
                         batch_size: int = 64, cache_dir: Optional[str] = None, seed: int = 0,
                         exact: bool = True, layer: Optional[str] = None, bfloat16: bool = False,
                         log: Callable[[str], None] = print) -> Dict[str, object]:
    """`l3net_probe <task>` as a library function: model directory (or 'random') + benchmark -> probe.json.

    The benchmark folder is checked before the model is built, so a bad layout fails in a second.
    Raises SoundDatasetError, AudioFileError, ModelDirError or ProbeError (one-line messages).
    """
    from l3net.evaluation import sound_datasets

    if task not in sound_datasets.READERS:
        raise ProbeError(f"task {task!r}: use one of {', '.join(sound_datasets.READERS)}")
    if hop_s <= 0 or batch_size < 1:
        raise ProbeError("--hop must be > 0 and --batch_size >= 1")
    sound_datasets.READERS[task](data_dir)
    probe_model = load_probe_model(model_dir, model_config=model_config, seed=seed, checkpoint=checkpoint,
                                   bfloat16=bfloat16)
    note = emulated_bfloat16_note("--bfloat16") if bfloat16 else None
    if note:
        log(note)
    return run_probe(task, data_dir, probe_model, output_dir or default_output_dir(task, model_dir, model_config),
                     classifier=classifier, window_s=window_s, hop_s=hop_s, batch_size=batch_size,
                     cache_dir=cache_dir, seed=seed, exact=exact, layer=layer, log=log)
