"""`export_model`: a model directory -> one SavedModel per use, loadable without l3net.

Layout of `<export_dir>/`:
  audio_embedding/   SavedModel, signatures "embed_audio" (shared conv maps of overlapping
                     windows), "embed_audio_exact", "embed_windows", "embed_windows_pooled",
                     "embed_segments" and "embed_segments_pooled" (see l3net.serving.signatures)
  image_embedding/   SavedModel, signatures "embed_images" and "embed_images_pooled"
  avc/               SavedModel, signature "correspondence"
Each also holds `l3net_export.json`: the model config, checkpoint step, resize_short_side,
sample_rate, window_samples, embedding_size and pooled_embedding_size (the L3 paper's pooled
conv features, l3net.serving.pooled) and the signatures' names ("signature": the main one,
"signatures": all), so a user can read the input contract without loading TensorFlow.

Each SavedModel is written to a hidden temporary directory next to its final place and renamed
into place when complete; an existing export of the same use is replaced only then.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from typing import Dict, Union

from l3net.atomic_files import write_text_atomic
from l3net.model_dir import ModelDir

INFO_NAME = "l3net_export.json"


def export_model(model_dir: str, export_dir: str, checkpoint: Union[str, int, None] = "best") -> Dict[str, str]:
    """Writes the three SavedModels of `model_dir` at `checkpoint` (default: the best by validation).

    Returns {use: path}. Raises ModelDirError for an unusable model directory.
    """
    import keras

    from l3net.serving import signatures

    directory = ModelDir(model_dir)
    model, cfg, step = directory.load_model(checkpoint)
    resize = directory.resize_short_side(cfg)
    os.makedirs(export_dir, exist_ok=True)
    written = {}
    for use, endpoints in signatures.all_functions(model, cfg, resize).items():
        archive = keras.export.ExportArchive()
        archive.track(model)
        for name, fn, spec in endpoints:
            archive.add_endpoint(name, fn, input_signature=spec)
        final = os.path.join(export_dir, use)
        tmp = os.path.join(export_dir, f".{use}.{uuid.uuid4().hex}")
        os.mkdir(tmp)  # not mkdtemp: its 0700 would hide the export from other users
        try:
            archive.write_out(tmp, verbose=False)
            info = {"use": use, "signature": endpoints[0][0], "signatures": [e[0] for e in endpoints],
                    "model_dir": os.path.abspath(model_dir), "checkpoint_step": step,
                    "checkpoint": directory.checkpoint_path(checkpoint)[1], "resize_short_side": resize,
                    "model_config": cfg.to_dict(), "sample_rate": cfg.sample_rate,
                    "window_samples": cfg.num_audio_samples, "embedding_size": _embedding_size(cfg, use),
                    "pooled_embedding_size": _pooled_size(model, use)}
            write_text_atomic(os.path.join(tmp, INFO_NAME), json.dumps(info, indent=2, sort_keys=True))
            _replace_dir(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        written[use] = final
    return written


def _embedding_size(cfg, use: str):
    """D of the use's embeddings (None for avc, which outputs a probability)."""
    from l3net.serving.signatures import AUDIO, IMAGE

    if use not in (AUDIO, IMAGE):
        return None
    if cfg.model == "avenet":
        return cfg.embedding_width
    return cfg.audio_widths[-1] if use == AUDIO else cfg.vision_widths[-1]


def _pooled_size(model, use: str):
    """P of the use's pooled conv features (None for avc)."""
    from l3net.serving import pooled
    from l3net.serving.signatures import AUDIO, IMAGE

    if use == AUDIO:
        return pooled.audio_pooled_function(model)[1]
    if use == IMAGE:
        return pooled.image_pooled_function(model)[1]
    return None


def _replace_dir(tmp: str, final: str) -> None:
    """Renames `tmp` to `final`; an old `final` is moved aside first and removed after."""
    old = None
    if os.path.exists(final):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(final)}.old.", dir=os.path.dirname(final))
        os.rmdir(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
