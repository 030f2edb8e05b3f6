"""Stored-number regression test: committed tiny checkpoints must keep giving the committed outputs.

TensorFlow and Keras are deliberately unpinned, so an upgrade could silently change what a
trained model computes (a front-end op, a BatchNorm default, a resize or padding rule, how a
checkpoint is restored). `tests/data/regression_l3net/` (linear front end, fusion head) and
`tests/data/regression_avenet/` (mel front end, embedding/distance head) are model directories
laid out as `l3net_train` writes them, with `expected.npz` holding seeded inputs and what the
library computed from them when they were made (see tests/data/make_regression_fixture.py).
Here they are loaded through `l3net.model_dir.load_model` and recomputed in inference mode.

Tolerances, measured on the 2-core development machine (TF 2.21, Keras 3.15), where the
recomputation is bit-identical to the stored numbers:
  spectrogram (natural log of magnitudes): atol 2e-3, i.e. 0.2 % of a magnitude. The float32
    FFT differs from a float64 NumPy reference by at most 3.5e-4 here (in weak bins), so another
    float32 FFT implementation stays well inside; the symmetric instead of the periodic Hann
    window moves the bins by 1.5e-2 (median) to 2.4, LOG_EPS 1e-7 instead of 1e-6 moves the
    silent frames by 2.3.
  towers, embeddings, AVC probabilities: rtol 1e-4, atol 1e-5. Other kernel paths (oneDNN off,
    XLA, one example per batch) change them by at most 2.5e-6 relative, and feeding the audio
    tower the float64 reference spectrogram by 1.3e-5. A BatchNorm epsilon of 1.1e-3 instead
    of 1e-3 moves every output by 5e-4 relative or more (most-changed element), and scaling
    one moving variance of the first vision conv layer by 1.001 moves the vision tower by 2e-4
    and the AVC probabilities by 6e-4 relative.
A failure therefore means the library computes something different. If that change is
intended, regenerate with `.venv/bin/python tests/data/make_regression_fixture.py` and say why
in the commit.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

from l3net.model_dir import load_model

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _fixture_script():
    """tests/data/make_regression_fixture.py: its `compute_outputs` is the recipe the stored numbers
    came from, so the test recomputes them the same way (what may change is the library, not this)."""
    spec = importlib.util.spec_from_file_location("make_regression_fixture",
                                                  os.path.join(DATA, "make_regression_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STEP = 1234  # the training step the fixture's checkpoint records
SPECTROGRAM_ATOL = 2e-3
OUTPUT_RTOL, OUTPUT_ATOL = 1e-4, 1e-5
FIXTURES = {"regression_l3net": ("l3net", "linear"), "regression_avenet": ("avenet", "mel32")}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_committed_checkpoint_gives_the_stored_outputs(name, tmp_path):
    model_name, frontend = FIXTURES[name]
    path = str(tmp_path / name)  # a copy: nothing may write into the committed fixture
    shutil.copytree(os.path.join(DATA, name), path)
    model, cfg, step = load_model(path)
    assert (cfg.model, cfg.frontend, step) == (model_name, frontend, STEP)
    with np.load(os.path.join(path, "expected.npz")) as stored:
        expected = {k: stored[k] for k in stored.files}
    image, audio = expected.pop("image"), expected.pop("audio")
    got = _fixture_script().compute_outputs(model, image, audio)
    assert sorted(got) == sorted(expected)
    hint = f"{name}: outputs changed; regenerate with tests/data/make_regression_fixture.py only if intended"
    np.testing.assert_allclose(got.pop("spectrogram"), expected.pop("spectrogram"), rtol=0, atol=SPECTROGRAM_ATOL,
                               err_msg=f"{hint} (spectrogram)")
    for key in sorted(expected):
        np.testing.assert_allclose(got[key], expected[key], rtol=OUTPUT_RTOL, atol=OUTPUT_ATOL,
                                   err_msg=f"{hint} ({key})")
    # The stored pairs are not degenerate: probabilities spread out, embeddings unit length.
    assert np.ptp(np.concatenate([got["avc"][:, 1], got["avc_shifted"][:, 1]])) > 0.1
    if model_name == "avenet":
        np.testing.assert_allclose(np.linalg.norm(got["audio_embedding"], axis=1), 1.0, atol=1e-5)
