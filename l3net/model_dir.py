"""The model directory: what `l3net_train` leaves behind and every later tool reads.

Layout of `<model_dir>/`:
  model_config.json    ModelConfig of an AVC network (L3-Net, AVE-Net, AVOL-Net), or
  envelope_config.json EnvelopeConfig of an envelope network: the task's network config, which
                       rebuilds the exact architecture (the task decides the file name)
  run_config.json      task, model, data and train configs plus the data dir: the whole run
  flags.txt            the resolved flags in flagfile syntax (`l3net_train --flagfile=...`)
  checkpoints/         tf.train checkpoints: model, optimizer, step (the newest few)
  checkpoints/best/    the checkpoint with the best validation metric so far, and best.json
  summaries/{train,val}/  TensorBoard event files
  history.csv          step,split,loss,<metric>,elapsed_s per logged/validated step
  training_curves.png  loss and the task's metric, train vs val

`ModelDir` is the only code that opens these files: the trainer writes through it, and every
evaluator, exporter and embedder reads through it (configs, the training preprocessing, which
checkpoint, building and restoring the network), so the contract lives in one place and a
checkpoint is never paired with a different front end, architecture or image scale.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple, Union

from l3net.atomic_files import write_text_atomic

MODEL_CONFIG_NAME = "model_config.json"
ENVELOPE_CONFIG_NAME = "envelope_config.json"
RUN_CONFIG_NAME = "run_config.json"
FLAGS_NAME = "flags.txt"
CHECKPOINT_SUBDIR = "checkpoints"
BEST_SUBDIR = "best"
BEST_INFO_NAME = "best.json"
SUMMARY_SUBDIR = "summaries"
HISTORY_NAME = "history.csv"
CURVES_NAME = "training_curves.png"

# The task-specific network config files (a model dir holds exactly one of them).
TASK_CONFIG_NAMES = {"avc": MODEL_CONFIG_NAME, "envelope": ENVELOPE_CONFIG_NAME}

LATEST = "latest"
BEST = "best"
CHECKPOINT_CHOICES = "best|latest|<step>"


class ModelDirError(ValueError):
    """A model directory that cannot be used; the message names the path and what to do."""


def parse_checkpoint_choice(value: Union[str, int, None]) -> Union[str, int]:
    """'best' | 'latest' | a step number (int or digits) -> 'best' | 'latest' | int; None -> 'best'.

    Raises ModelDirError naming the bad value.
    """
    if value is None or value == "":
        return BEST
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text in (BEST, LATEST):
        return text
    if text.isdigit():
        return int(text)
    raise ModelDirError(f"--checkpoint={value}: use {CHECKPOINT_CHOICES}")


class ModelDir:
    """One model directory: its configs, preprocessing settings and checkpoints.

    Reading methods raise ModelDirError with a one-line message naming the file and what to do.
    Nothing is cached except parsed JSON, so a directory that a running `l3net_train` updates is
    seen as it is now when a checkpoint is chosen.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"ModelDir({self.path!r})"

    # Paths -------------------------------------------------------------------------------------

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.path, CHECKPOINT_SUBDIR)

    @property
    def best_checkpoint_dir(self) -> str:
        return os.path.join(self.path, CHECKPOINT_SUBDIR, BEST_SUBDIR)

    @property
    def summary_dir(self) -> str:
        return os.path.join(self.path, SUMMARY_SUBDIR)

    @property
    def history_path(self) -> str:
        return os.path.join(self.path, HISTORY_NAME)

    @property
    def curves_path(self) -> str:
        return os.path.join(self.path, CURVES_NAME)

    # Reading configs ---------------------------------------------------------------------------

    def _check_exists(self) -> None:
        if not os.path.isdir(self.path):
            raise ModelDirError(f"{self.path}: no such model directory; pass the --model_dir of `l3net_train`")

    def task(self) -> str:
        """'avc' or 'envelope': the task recorded in run_config.json, else the config file present."""
        self._check_exists()
        recorded = self.run_config().get("task")
        if recorded:
            return str(recorded)
        for task, name in TASK_CONFIG_NAMES.items():
            if os.path.isfile(self.file(name)):
                return task
        raise ModelDirError(f"{self.file(MODEL_CONFIG_NAME)}: missing; {self.path} was not written by `l3net_train`")

    def _read_json_text(self, name: str, what: str) -> str:
        self._check_exists()
        path = self.file(name)
        if not os.path.isfile(path):
            raise ModelDirError(f"{path}: missing; {self.path} was not written by `l3net_train` ({what} config)")
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise ModelDirError(f"{path}: unreadable ({e.strerror or e})") from None

    def _read_config(self, name: str, config_class: Any, what: str) -> Any:
        text = self._read_json_text(name, what)
        try:
            return config_class.from_json(text)
        except (ValueError, TypeError) as e:
            raise ModelDirError(f"{self.file(name)}: unreadable {what} config ({e})") from None

    def model_config(self):
        """The ModelConfig of an AVC model directory (L3-Net, AVE-Net, AVOL-Net)."""
        from l3net.models.config import ModelConfig

        if not os.path.isfile(self.file(MODEL_CONFIG_NAME)) and os.path.isfile(self.file(ENVELOPE_CONFIG_NAME)):
            raise ModelDirError(f"{self.path}: holds an envelope model (`l3net_train --task=envelope`), not an AVC "
                                "model; use `l3net_eval envelope` or the --init_from model dir")
        return self._read_config(MODEL_CONFIG_NAME, ModelConfig, "model")

    def envelope_config(self):
        """The EnvelopeConfig of an envelope model directory."""
        from l3net.envelope.config import EnvelopeConfig

        if not os.path.isfile(self.file(ENVELOPE_CONFIG_NAME)):
            self._check_exists()
            raise ModelDirError(f"{self.file(ENVELOPE_CONFIG_NAME)}: missing; {self.path} is not an envelope "
                                "model dir (`l3net_train --task=envelope`)")
        return self._read_config(ENVELOPE_CONFIG_NAME, EnvelopeConfig, "envelope")

    def network_config(self):
        """The task's network config: ModelConfig (AVC) or EnvelopeConfig (envelope)."""
        return self.envelope_config() if self.task() == "envelope" else self.model_config()

    def run_config(self) -> Dict[str, Any]:
        """The run's configs ({'task', 'model', 'data', 'train', 'data_dir'}), or {} if the file is absent."""
        path = self.file(RUN_CONFIG_NAME)
        if not os.path.isfile(path):
            return {}
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise ModelDirError(f"{path}: unreadable run config ({e})") from None

    def resize_short_side(self, model_config: Any = None) -> int:
        """The short side frames were resized to before the crop in training.

        Recorded in run_config.json; for a directory without it, the default of the model's
        image size (the paper's 256/224 ratio). Evaluation, export and embedding resize with
        this value, so the crop sees objects at the scale the network learnt them.
        """
        trained = self.run_config().get("data", {})
        if "resize_short_side" in trained:
            return int(trained["resize_short_side"])
        from l3net.data.config import DataConfig

        cfg = model_config if model_config is not None else self.model_config()
        vision = getattr(cfg, "vision", cfg)  # an EnvelopeConfig holds its tower's ModelConfig
        return DataConfig.for_model(vision).resize_short_side

    def check_sample_rate(self, data_rate: int, data_dir: str, model_rate: Optional[int] = None) -> None:
        """ModelDirError if a dataset's audio rate differs from the model's."""
        rate = model_rate if model_rate is not None else self.model_config().sample_rate
        if int(data_rate) != int(rate):
            raise ModelDirError(f"{data_dir} holds {data_rate} Hz audio but the model in {self.path} expects "
                                f"{rate} Hz; convert with `l3net_data convert --sample_rate {rate}`")

    # Checkpoints -------------------------------------------------------------------------------

    def latest_checkpoint(self) -> Optional[str]:
        """Path prefix of the newest checkpoint, or None."""
        return _checkpoint_in(self.checkpoint_dir)

    def best_checkpoint(self) -> Optional[str]:
        """Path prefix of the best-by-validation checkpoint, or None (no validation has run)."""
        return _checkpoint_in(self.best_checkpoint_dir)

    def best_info(self) -> Dict[str, Any]:
        """{'step', 'metric_name', 'metric', 'loss'} of the best checkpoint, or {}."""
        path = os.path.join(self.best_checkpoint_dir, BEST_INFO_NAME)
        if not os.path.isfile(path):
            return {}
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise ModelDirError(f"{path}: unreadable ({e}); delete it to start best-checkpoint tracking "
                                "again") from None

    def write_best_info(self, info: Dict[str, Any]) -> None:
        os.makedirs(self.best_checkpoint_dir, exist_ok=True)
        write_text_atomic(os.path.join(self.best_checkpoint_dir, BEST_INFO_NAME),
                          json.dumps(info, indent=2, sort_keys=True))

    def checkpoint_steps(self) -> List[int]:
        """Steps of the checkpoints kept in checkpoints/ (oldest first)."""
        import tensorflow as tf

        state = tf.train.get_checkpoint_state(self.checkpoint_dir) if os.path.isdir(self.checkpoint_dir) else None
        paths = list(state.all_model_checkpoint_paths) if state else []
        return [_step_of(p) for p in paths if _step_of(p) is not None]

    def checkpoint_path(self, which: Union[str, int, None] = BEST) -> Tuple[Optional[str], str]:
        """(checkpoint path prefix or None, what was chosen: 'best' | 'latest' | 'step N').

        'best' falls back to the newest checkpoint when the run never validated (no best/),
        which is also what directories written before best-checkpoint tracking hold.
        """
        choice = parse_checkpoint_choice(which)
        if choice == BEST:
            best = self.best_checkpoint()
            if best is not None:
                return best, BEST
            return self.latest_checkpoint(), LATEST
        if choice == LATEST:
            return self.latest_checkpoint(), LATEST
        best = self.best_checkpoint()
        if best is not None and _step_of(best) == choice:
            return best, f"step {choice}"
        candidate = os.path.join(self.checkpoint_dir, f"ckpt-{choice}")
        if os.path.isfile(candidate + ".index"):
            return candidate, f"step {choice}"
        kept = sorted(set(self.checkpoint_steps() + ([_step_of(best)] if best else [])))
        raise ModelDirError(f"--checkpoint={choice}: {self.checkpoint_dir} has no checkpoint of that step "
                            f"(kept: {', '.join(map(str, kept)) or 'none'}); use {CHECKPOINT_CHOICES}")

    def require_checkpoint(self, which: Union[str, int, None] = BEST) -> str:
        path, _ = self.checkpoint_path(which)
        if path is None:
            raise ModelDirError(f"{self.checkpoint_dir}: no checkpoint; train first with `l3net_train`")
        return path

    def restore(self, model: Any, which: Union[str, int, None] = BEST, *, require: bool = True) -> int:
        """Restores a checkpoint's model weights into `model` (built from this dir's config).

        Returns the checkpoint's training step (0 if there is none and `require` is False).
        Raises ModelDirError if a required checkpoint is missing or does not fit the model.
        """
        import tensorflow as tf

        path, _ = self.checkpoint_path(which)
        if path is None:
            if require:
                raise ModelDirError(f"{self.checkpoint_dir}: no checkpoint; train first with `l3net_train`")
            return 0
        step = tf.Variable(0, dtype=tf.int64)
        status = tf.train.Checkpoint(model=model, step=step).restore(path)
        try:
            # Every model variable must come from the checkpoint (the optimizer may be left out):
            # a silently missing one would be evaluated at its random initial value.
            status.assert_existing_objects_matched().expect_partial()
        except AssertionError as e:
            raise ModelDirError(f"{path}: does not match {self.path}'s config ({str(e).splitlines()[0]})") from None
        return int(step.numpy())

    def load_model(self, which: Union[str, int, None] = BEST, *, require_checkpoint: bool = True
                   ) -> Tuple[Any, Any, int]:
        """(keras AVC model with the chosen checkpoint restored, its ModelConfig, the checkpoint's step)."""
        from l3net.models import build_model

        cfg = self.model_config()
        if require_checkpoint:
            self.require_checkpoint(which)
        model = build_model(cfg)
        return model, cfg, self.restore(model, which, require=require_checkpoint)

    def load_envelope_model(self, which: Union[str, int, None] = BEST) -> Tuple[Any, Any, int]:
        """(keras envelope model with the chosen checkpoint restored, its EnvelopeConfig, the step)."""
        from l3net.envelope.envelope_model import new_envelope_model

        cfg = self.envelope_config()
        self.require_checkpoint(which)
        model, _ = new_envelope_model(cfg)
        return model, cfg, self.restore(model, which)

    def checkpoint_identity(self, which: Union[str, int, None] = BEST) -> Dict[str, Any]:
        """What identifies the chosen checkpoint's weights (feature caches key on it)."""
        path = self.require_checkpoint(which)
        index = path + ".index"
        stamp = os.stat(index).st_mtime_ns if os.path.exists(index) else 0
        return {"checkpoint": os.path.abspath(path), "checkpoint_mtime_ns": stamp}

    # Writing (training) ------------------------------------------------------------------------

    def check_trainable(self, task: str, config: Any) -> None:
        """ModelDirError unless training `task` with `config` may start or resume here.

        A directory that holds another task's model, a different network, or files that are not an
        l3net model directory is refused, so a resume never mixes two runs.
        """
        own = TASK_CONFIG_NAMES[task]
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ModelDirError(f"--model_dir={self.path} is a file; choose a directory")
        for other_task, other in TASK_CONFIG_NAMES.items():
            if other != own and os.path.isfile(self.file(other)):
                raise ModelDirError(f"--model_dir={self.path} holds another task's model ({other}, task "
                                    f"'{other_task}'); use a new --model_dir")
        if os.path.isfile(self.file(own)):
            saved = self.envelope_config() if task == "envelope" else self.model_config()
            if saved != config:
                raise ModelDirError(f"--model_dir={self.path} holds a different model ({self.file(own)}); use a new "
                                    "--model_dir or the flags it was trained with")
        elif os.path.isdir(self.path) and os.listdir(self.path):
            raise ModelDirError(f"--model_dir={self.path} exists and is not an l3net model directory; choose another")

    def write_run(self, task: str, config: Any, flags_text: str, run_config: Dict[str, Any]) -> None:
        """Writes the network config, resolved flags and run config (each atomically)."""
        os.makedirs(self.path, exist_ok=True)
        write_text_atomic(self.file(TASK_CONFIG_NAMES[task]), config.to_json())
        write_text_atomic(self.file(FLAGS_NAME), flags_text)
        write_text_atomic(self.file(RUN_CONFIG_NAME),
                          json.dumps({"task": task, **run_config}, indent=2, sort_keys=True, default=list))

    def write_for_inference(self, config: Any, model: Any, *, step: int = 0, task: str = "avc",
                            run_config: Optional[Dict[str, Any]] = None) -> str:
        """A model directory from a built network (tests, benchmarks, converted weights).

        Writes the config, an optional run config and one checkpoint of `model` at `step`, laid
        out as `l3net_train` lays them; returns the checkpoint path.
        """
        import tensorflow as tf

        os.makedirs(self.path, exist_ok=True)
        write_text_atomic(self.file(TASK_CONFIG_NAMES[task]), config.to_json())
        if run_config is not None:
            write_text_atomic(self.file(RUN_CONFIG_NAME),
                              json.dumps({"task": task, **run_config}, indent=2, sort_keys=True, default=list))
        step_var = tf.Variable(step, dtype=tf.int64)
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, step=step_var), self.checkpoint_dir,
                                             max_to_keep=1)
        return manager.save(checkpoint_number=step)


def _checkpoint_in(directory: str) -> Optional[str]:
    if not os.path.isdir(directory):
        return None
    import tensorflow as tf

    return tf.train.latest_checkpoint(directory)


def _step_of(path: Optional[str]) -> Optional[int]:
    if not path:
        return None
    tail = os.path.basename(path).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


# Module-level shorthands of the most common reads (library users and older call sites).

def read_model_config(model_dir: str):
    """The ModelConfig saved in `model_dir` (see ModelDir.model_config)."""
    return ModelDir(model_dir).model_config()


def load_model(model_dir: str, checkpoint: Union[str, int, None] = BEST, *,
               require_checkpoint: bool = True) -> Tuple[Any, Any, int]:
    """(keras model, ModelConfig, step) of `model_dir` at `checkpoint` (see ModelDir.load_model)."""
    return ModelDir(model_dir).load_model(checkpoint, require_checkpoint=require_checkpoint)
