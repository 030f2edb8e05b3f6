"""`l3net_retrieval --model_dir M --data_dir D [--split test --k 30 --output_dir R]`: retrieval nDCG@k.

Objects that Sound's evaluation: one frame (the middle one) and one 1 s audio window (centred on
it) per video of the split are embedded (AVE-Net: its 128-d L2-normalised embeddings; L3-Net: the
512-d tower outputs); each query ranks every video's embedding of the target modality by
Euclidean distance; nDCG@k with relevance = number of shared labels, for im-im, im-aud, aud-im
and aud-aud (the query's own video excluded from intra-modal lists), next to the chance level of
this data (expected nDCG@k of a random ranking) and the paper's numbers.

The `retrieval` evaluator of `l3net.evaluation.evaluators` (`retrieval_report.run_retrieval`);
this command is its flags. `--checkpoint=best|latest|<step>` (default: the best by validation).

Writes R/retrieval.json, R/embeddings.npz and R/retrieval_<direction>.png (default R:
`<model_dir>/retrieval_<split>`).
"""

from __future__ import annotations

import os
from typing import List, NoReturn

from l3net.tensorflow_output import quiet_tensorflow

quiet_tensorflow()

from absl import flags  # noqa: E402

from l3net import cli_flags  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.data import schema  # noqa: E402

FLAGS = flags.FLAGS
SHARED = cli_flags.uses(
    model_dir=(None, "Model directory written by `l3net_train`."),
    data_dir=(None, "Converted dataset (output_dir of `l3net_data convert`), with labels."),
    split=("test", "Split to rank: train | val | test."),
    output_dir=(None, "Where the results go (default <model_dir>/retrieval_<split>)."),
    batch_size=(64, "Videos per network call."),
    seed=(0, "Seed of the choice of queries shown."),
    checkpoint=("best", "Which checkpoint: best|latest|<step> (best = best validation; falls back to latest)."),
)
flags.DEFINE_integer("k", 30, "nDCG cut-off (the paper's is 30).")
flags.DEFINE_integer("num_queries_shown", 4, "Queries per direction in the result grids.")


def _fail(message: str) -> NoReturn:
    fail("l3net_retrieval", message)


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        _fail(f"unexpected argument {argv[1]!r}; usage: l3net_retrieval --model_dir M --data_dir D "
              "[--split test --k 30 --output_dir R]")
    if not FLAGS.model_dir or not FLAGS.data_dir:
        _fail("--model_dir and --data_dir are required")
    from l3net.evaluation.retrieval_report import RETRIEVAL_JSON, run_retrieval
    from l3net.model_dir import ModelDirError

    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, f"retrieval_{FLAGS.split}")
    try:
        run_retrieval(FLAGS.model_dir, FLAGS.data_dir, output_dir, split=FLAGS.split, k=FLAGS.k,
                      batch_size=FLAGS.batch_size, num_queries_shown=FLAGS.num_queries_shown, seed=FLAGS.seed,
                      checkpoint=FLAGS.checkpoint)
    except (ModelDirError, schema.DatasetError, ValueError) as e:
        _fail(str(e).splitlines()[0])
    print(f"wrote {os.path.join(output_dir, RETRIEVAL_JSON)}")
    return 0


def run() -> None:
    """Console-script entry point."""
    run_tool("l3net_retrieval", main, __doc__, [__name__], shared=SHARED)


if __name__ == "__main__":
    run()
