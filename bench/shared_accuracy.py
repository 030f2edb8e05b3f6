"""How close shared-map embeddings are to exact ones, on real recordings (README "Shared window computation").

For every model and every recording: the embeddings of all windows (hop 0.1 s, OpenL3's
center=True) computed with shared conv maps (l3net's default) and exactly (`exact=True`), and the
cosine similarity of each window's pair. Prints, per model and per kind of sound, the number of
windows, the median and the 5th percentile of the cosines, for the model's embedding and for the
pooled conv features (the probe's / OpenL3's 6144-d at paper size).

Models: L3-Net and AVE-Net at paper size and at the CPU demo's size with random weights (seed 0),
plus any trained `--model_dir`. Recordings: `--audio_dir` folders (each folder one kind; any
format PyAV reads) and, unless --no_real_audio, a small real-audio set rendered here by
`l3net_data real_audio` (real instrument samples of FluidR3 GM through fluidsynth: music; and
espeak-ng: speech), when those tools are installed (`make real-audio-deps`).

  .venv/bin/python bench/shared_accuracy.py --model_dir runs/demo/model_demo_cpu_n480_seed0_clutter0 \
      --audio_dir /tmp/pygame_sounds          # ~10 min on 2 CPU cores (paper size is the slow part)
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from typing import Dict, List, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from l3net.embed import api  # noqa: E402
from l3net.embed.embedder import Embedder  # noqa: E402
from l3net.model_dir import ModelDir  # noqa: E402
from l3net.models.config import ModelConfig  # noqa: E402

DEMO = dict(vision_widths=(16, 32, 64, 128), audio_widths=(8, 16, 32, 64), frontend="mel32", sample_rate=16000,
            image_size=48, batchnorm_momentum=0.9)
AUDIO_EXTENSIONS = (".wav", ".ogg", ".oga", ".mp3", ".flac", ".m4a", ".opus")


def random_model_dirs(root: str) -> Dict[str, str]:
    """{label: model dir} of the four random-weight models (seed 0)."""
    import keras

    from l3net.models import build_model

    out = {}
    for size, base in (("paper", {}), ("demo", DEMO)):
        for name in ("l3net", "avenet"):
            keras.utils.set_random_seed(0)
            cfg = ModelConfig(model=name, **base)
            path = os.path.join(root, f"{name}_{size}_random")
            ModelDir(path).write_for_inference(cfg, build_model(cfg))
            out[f"{name} {size} random"] = path
    return out


def real_audio_files(root: str, clips_per_class: int) -> List[Tuple[str, str]]:
    """[(kind, path)] of a small real-audio set (music: instrument families; speech), or [] without the tools."""
    from data_tools.real_audio import generate_real_audio_set

    try:
        generate_real_audio_set(root, seed=0, clips_per_class=clips_per_class)
    except OSError as e:
        print(f"real-audio set skipped: {e}")
        return []
    with open(os.path.join(root, "meta", "esc50.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [("speech" if row["category"] == "speech" else "music", os.path.join(root, "audio", row["filename"]))
            for row in rows]


def folder_files(folder: str) -> List[Tuple[str, str]]:
    kind = os.path.basename(os.path.normpath(folder))
    return [(kind, os.path.join(d, n)) for d, _, names in sorted(os.walk(folder)) for n in sorted(names)
            if n.lower().endswith(AUDIO_EXTENSIONS)]


def cosines(embedder, path: str, pooled_size) -> Tuple[np.ndarray, np.ndarray]:
    """(cosines of the embeddings, cosines of the pooled features) of every window of `path`."""
    out = []
    for size in (None, pooled_size):
        shared, _ = api.embed_audio_file(path, model=embedder, hop_size=0.1, embedding_size=size)
        exact, _ = api.embed_audio_file(path, model=embedder, hop_size=0.1, embedding_size=size, exact=True)
        norm = np.linalg.norm(shared, axis=1) * np.linalg.norm(exact, axis=1)
        out.append(np.where(norm > 0, (shared * exact).sum(1) / np.maximum(norm, 1e-30), 1.0))
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", action="append", default=[], help="a trained model directory (repeatable)")
    parser.add_argument("--audio_dir", action="append", default=[], help="a folder of recordings of one kind")
    parser.add_argument("--no_real_audio", action="store_true", help="skip the rendered real-audio set")
    parser.add_argument("--clips_per_class", type=int, default=1, help="clips per class of the real-audio set")
    parser.add_argument("--paper_files", type=int, default=6, help="recordings per kind for paper-size models "
                        "(their exact path is slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="l3net_shared_accuracy_") as tmp:
        files: List[Tuple[str, str]] = []
        if not args.no_real_audio:
            files += real_audio_files(os.path.join(tmp, "real_audio"), args.clips_per_class)
        for folder in args.audio_dir:
            files += folder_files(folder)
        if not files:
            raise SystemExit("no recordings: pass --audio_dir or install the real-audio tools")
        models = {os.path.basename(os.path.normpath(d)) + " (trained)": d for d in args.model_dir}
        models.update(random_model_dirs(os.path.join(tmp, "models")))
        kinds = sorted({kind for kind, _ in files})
        print(f"{len(files)} recordings: " + ", ".join(f"{k} {sum(1 for x, _ in files if x == k)}" for k in kinds))
        print(f"{'model':<44} {'kind':<10} {'windows':>7}  {'median':>7} {'p5':>7}  {'pooled median':>13} {'p5':>7}")
        for label, path in models.items():
            embedder = Embedder(path)
            for kind in kinds:
                chosen = [p for k, p in files if k == kind]
                if "paper" in label:
                    chosen = chosen[:args.paper_files]
                plain, pooled = zip(*(cosines(embedder, p, embedder.audio_pooled_dim) for p in chosen))
                plain, pooled = np.concatenate(plain), np.concatenate(pooled)
                print(f"{label:<44} {kind:<10} {plain.size:>7}  {np.median(plain):>7.4f} "
                      f"{np.percentile(plain, 5):>7.4f}  {np.median(pooled):>13.4f} {np.percentile(pooled, 5):>7.4f}",
                      flush=True)


if __name__ == "__main__":
    main()
