"""One retrieval run end to end: model + split -> nDCG@k table, embeddings file and result grids.

`run_retrieval` is what `l3net_retrieval` and the demo call. It embeds one frame and one 1 s
window per video (`retrieval_items`, `retrieval.embed_videos`), scores the four directions
(`retrieval.evaluate_retrieval`), then writes, each atomically and only once everything
succeeded:
  <output_dir>/retrieval.json     nDCG@k and chance per direction, k, counts, paper numbers
  <output_dir>/embeddings.npz     image_embeddings, audio_embeddings float32 [N, D]; labels uint8
                                  [N, C] multi-hot over label_names [C]; video_ids [N]
  <output_dir>/retrieval_<direction>.png   query + top-5 grids (`retrieval_figures`)
"""

from __future__ import annotations

import json
import os
from typing import Callable, Dict, List, Optional, Union

import numpy as np

from l3net.atomic_files import atomic_path, write_text_atomic
from l3net.model_dir import ModelDir

RETRIEVAL_JSON = "retrieval.json"
EMBEDDINGS_NPZ = "embeddings.npz"
TOP_RESULTS_SHOWN = 5


def figure_name(direction: str) -> str:
    return f"retrieval_{direction}.png"


def format_table(report: Dict[str, object]) -> str:
    """The four nDCG@k numbers with chance and the paper's rows (what the command prints)."""
    from l3net.evaluation.retrieval import DIRECTIONS, PAPER_NDCG30

    directions = list(DIRECTIONS)
    head = f"{'nDCG@' + str(report['k']):<24s}" + "".join(f"{d:>9s}" for d in directions)

    def row(name: str, values: Dict[str, object]) -> str:
        cells = "".join(f"{values[d]:>9.3f}" if values.get(d) is not None else f"{'n/a':>9s}" for d in directions)
        return f"{name:<24s}{cells}"

    lines = [head, row(f"this model ({report['model']})", report["ndcg"]), row("chance (this data)", report["chance"])]
    lines += [row(f"paper {name} (@30)", values) for name, values in PAPER_NDCG30.items()]
    return "\n".join(lines)


def run_retrieval(model_dir: str, data_dir: str, output_dir: Optional[str] = None, *, split: str = "test",
                  k: int = 30, batch_size: int = 64, num_queries_shown: int = 4, seed: int = 0,
                  checkpoint: Union[str, int, None] = "best", log: Callable[[str], None] = print) -> Dict[str, object]:
    """Evaluates retrieval of `model_dir` (at `checkpoint`) on `split` of `data_dir`.

    output_dir defaults to `<model_dir>/retrieval_<split>`. Raises ModelDirError, DatasetError or
    ValueError (one-line messages) before anything is written; a damaged shard is a DatasetError
    naming it and the byte offset (`l3net.data.records`).
    """
    from l3net.data import records, schema
    from l3net.data.config import DataConfig
    from l3net.evaluation import retrieval, retrieval_figures
    from l3net.evaluation.retrieval_items import retrieval_dataset

    if split not in schema.SPLITS:
        raise ValueError(f"--split={split}: use one of {', '.join(schema.SPLITS)}")
    if k < 1 or batch_size < 1 or num_queries_shown < 1:
        raise ValueError("--k, --batch_size and --num_queries_shown must be >= 1")
    directory = ModelDir(model_dir)
    # Cheap checks first: a bad path fails before the model is built.
    directory.model_config()
    schema.shard_paths(data_dir, split)
    directory.require_checkpoint(checkpoint)
    output_dir = output_dir or os.path.join(model_dir, f"retrieval_{split}")
    model, cfg, step = directory.load_model(checkpoint)
    # Frames are resized exactly as in training (the crop sees objects at the trained scale).
    data_cfg = DataConfig.for_model(cfg, batch_size=batch_size, augment=False,
                                    resize_short_side=directory.resize_short_side(cfg))
    shards = schema.shard_paths(data_dir, split)
    with records.naming_damaged_shards(shards):
        videos = retrieval.embed_videos(model, retrieval_dataset(data_dir, split, data_cfg))
    scores = retrieval.evaluate_retrieval(videos, k)
    report = {"model_dir": os.path.abspath(model_dir), "model": cfg.model, "checkpoint_step": step,
              "checkpoint": directory.checkpoint_path(checkpoint)[1],
              "data_dir": os.path.abspath(data_dir), "split": split, **scores,
              "paper_ndcg30": retrieval.PAPER_NDCG30}
    log(f"retrieval on {split}: {scores['num_videos']} videos, {scores['num_labels']} labels, step {step}")
    log(format_table(report))

    hot, names = retrieval.label_matrix(videos.labels)
    queries = retrieval_figures.pick_queries(videos.labels, num_queries_shown, seed)
    grids: Dict[str, List] = {}
    for direction in retrieval.DIRECTIONS:
        if scores["ndcg"][direction] is None:
            continue
        grids[direction] = [(q, retrieval.top_results(videos, direction, q, TOP_RESULTS_SHOWN).tolist())
                            for q in queries]
    shown = {i for rows in grids.values() for q, results in rows for i in [q, *results]}
    with records.naming_damaged_shards(shards):
        items = retrieval_figures.collect_items(retrieval_dataset(data_dir, split, data_cfg), shown)
    os.makedirs(output_dir, exist_ok=True)
    for direction, rows in grids.items():
        retrieval_figures.plot_retrieval_grid(
            os.path.join(output_dir, figure_name(direction)), direction, rows, retrieval.DIRECTIONS[direction],
            items, videos.labels, cfg.sample_rate, f"{cfg.model} step {step}, {split}")
    with atomic_path(os.path.join(output_dir, EMBEDDINGS_NPZ)) as tmp:
        np.savez(tmp, image_embeddings=videos.image, audio_embeddings=videos.audio, labels=hot,
                 label_names=np.asarray(names), video_ids=np.asarray(videos.video_ids))
    report["figures"] = [figure_name(d) for d in grids]
    write_text_atomic(os.path.join(output_dir, RETRIEVAL_JSON), json.dumps(report, indent=2, sort_keys=True))
    return report
