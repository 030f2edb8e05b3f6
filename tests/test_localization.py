"""Localisation: the pointing game and IoU on hand-made maps with known answers (IoU also against
sklearn's Jaccard score), upsampling against tf.image.resize, annotation time mapping, frame
scoring, and `l3net_localize` end to end on a tiny dataset and a tiny video (untrained AVOL-Net)."""

import dataclasses
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import av
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import jaccard_score

import media_fixtures as mf
import record_fixtures as rf
from l3net.localization import localization_metrics as metrics
from l3net.localization.annotations import FrameTruth, frame_truth
from l3net.localization.frame_inputs import audio_window, chosen_frames, input_size
from l3net.localization.heatmaps import draw_boxes, overlay, upsample
from l3net.localization.localization_report import score_frame, summarise
from l3net.models import ModelConfig

CFG = ModelConfig(model="avolnet", image_size=32, vision_widths=(4, 8, 16), audio_widths=(4, 8, 16),
                  sample_rate=8000, audio_seconds=0.5, embedding_width=6)
TOOL = [sys.executable, "-c", "from l3net.localization.localize_cli import run; run()"]


def test_pointing_game_on_a_hand_made_map():
    heat = np.zeros((4, 5))
    heat[1, 3] = 2.0
    assert metrics.max_point(heat) == pytest.approx((3.5 / 5, 1.5 / 4))
    assert metrics.pointing_hit(heat, [[0.6, 0.3, 0.8, 0.45]])
    assert not metrics.pointing_hit(heat, [[0.0, 0.0, 0.5, 1.0]])
    # Any of several sounding boxes counts; a box edge counts as inside.
    assert metrics.pointing_hit(heat, [[0.0, 0.0, 0.1, 0.1], [0.7, 0.375, 0.9, 0.9]])
    # Ties: the first arg-max cell (row-major) decides.
    heat[3, 0] = 2.0
    assert metrics.max_point(heat) == pytest.approx((0.7, 0.375))


def test_iou_on_hand_made_maps_with_known_answers():
    heat = np.zeros((10, 10))
    heat[2:6, 2:6] = 1.0  # pixels whose centres lie in [0.25, 0.55]
    assert metrics.iou_at_threshold(heat, [[0.2, 0.2, 0.6, 0.6]], 0.5) == pytest.approx(1.0)
    assert metrics.iou_at_threshold(heat, [[0.2, 0.2, 0.4, 0.6]], 0.5) == pytest.approx(0.5)
    assert metrics.iou_at_threshold(heat, [[0.7, 0.7, 1.0, 1.0]], 0.5) == 0.0
    # Threshold on the min-max normalised map: a constant offset/scale changes nothing.
    assert metrics.iou_at_threshold(3.0 * heat - 7.0, [[0.2, 0.2, 0.4, 0.6]], 0.5) == pytest.approx(0.5)


def test_iou_agrees_with_sklearn_jaccard():
    rng = np.random.default_rng(0)
    for trial in range(5):
        heat = rng.normal(size=(12, 16))
        boxes = [sorted(rng.uniform(0, 1, 2)) for _ in range(2)]
        boxes = [[bx[0], by[0], bx[1], by[1]] for bx, by in zip(boxes, boxes[::-1])]
        threshold = float(rng.uniform(0.2, 0.8))
        predicted = ((heat - heat.min()) / (heat.max() - heat.min()) >= threshold).ravel()
        ys, xs = np.meshgrid((np.arange(12) + 0.5) / 12, (np.arange(16) + 0.5) / 16, indexing="ij")
        truth = np.zeros((12, 16), bool)
        for x0, y0, x1, y1 in boxes:
            truth |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        expected = jaccard_score(truth.ravel(), predicted, zero_division=1.0)
        assert metrics.iou_at_threshold(heat, boxes, threshold) == pytest.approx(expected), trial


def test_centre_baseline_map_peaks_at_the_centre():
    centre = metrics.centre_map(9, 11)
    assert metrics.max_point(centre) == pytest.approx(metrics.CENTRE)
    np.testing.assert_allclose(centre, centre[::-1, ::-1])
    assert centre.min() > -1e-9 and centre.max() <= 1.0


def test_upsample_matches_tf_image_resize():
    rng = np.random.default_rng(1)
    cell_map = rng.normal(size=(3, 5))
    ours = upsample(cell_map, 24, 35)
    theirs = tf.image.resize(cell_map[..., None], (24, 35), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_overlay_and_boxes_keep_shape_and_leave_cold_regions():
    frame = np.full((20, 30, 3), 100, np.uint8)
    heat = np.zeros((20, 30))
    heat[5:10, 5:10] = 1.0
    out = overlay(frame, heat)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out[15:, 20:], frame[15:, 20:]) and not np.array_equal(out[5:10, 5:10], frame[5:10, 5:10])
    boxed = draw_boxes(frame, [[0.0, 0.0, 0.5, 0.5]], (0, 255, 0))
    assert tuple(boxed[0, 0]) == (0, 255, 0) and tuple(boxed[5, 5]) == (100, 100, 100)


def test_frame_truth_maps_converted_times_to_source_frames():
    ann = {"fps": 30, "objects": [{"sounding": True, "onscreen": True}, {"sounding": False, "onscreen": True},
                                  {"sounding": True, "onscreen": False}],
           "frames": [[{"sounding": True, "box": [i / 100, 0.1, i / 100 + 0.2, 0.5]},
                       {"sounding": False, "box": [0.6, 0.1, 0.9, 1.2]}] for i in range(30)]}
    truth = frame_truth(ann, 5 / 12)  # converted frame 5 at 12 fps shows source frame floor(12.5) = 12
    assert truth.sounding_boxes == ((0.12, 0.1, 0.32, 0.5),)
    assert truth.distractor_boxes == ((0.6, 0.1, 0.9, 1.0),)  # clipped into the frame
    assert truth.offscreen_sound
    assert frame_truth(ann, 100.0).sounding_boxes[0][0] == pytest.approx(0.29)  # last frame


def test_frame_inputs_geometry():
    assert input_size((96, 128), 56, 8) == (56, 72)
    assert input_size((96, 128), 56, 16) == (64, 80)
    assert chosen_frames(10, 4) == [1, 3, 6, 8]
    assert chosen_frames(2, 4) == [0, 1]
    audio = np.arange(100, dtype=np.int16)
    np.testing.assert_array_equal(audio_window(audio, 0.0, 10, 20) * 32768, np.arange(20))
    np.testing.assert_array_equal(audio_window(audio, 5.0, 10, 20) * 32768, np.arange(40, 60))
    np.testing.assert_array_equal(audio_window(audio, 99.0, 10, 20) * 32768, np.arange(80, 100))


def test_score_frame_and_summary_subsets():
    cell_map = np.full((3, 4), -5.0)
    cell_map[0, 0] = 3.0  # maximum at (0.125, 1/6)
    on_object = FrameTruth(((0.0, 0.0, 0.3, 0.4),), (), False)
    on_distractor = FrameTruth(((0.6, 0.6, 0.9, 0.9),), ((0.0, 0.0, 0.3, 0.4),), True)
    hit = score_frame(cell_map, on_object, (30, 40), 0.5)
    miss = score_frame(cell_map, on_distractor, (30, 40), 0.5)
    assert hit.hit and not hit.centre_hit and hit.subsets == ["all", "clean"]
    assert not miss.hit and miss.on_distractor
    assert miss.subsets == ["all", "with_silent_distractor", "with_offscreen_sound"]
    assert score_frame(cell_map, FrameTruth((), (), True), (30, 40), 0.5) is None
    centred = dataclasses.replace(on_object, sounding_boxes=((0.4, 0.4, 0.6, 0.6),))
    assert score_frame(cell_map, centred, (30, 40), 0.5).centre_hit
    report = summarise([hit, miss], [0.2], 0.5, [0.9, 0.6], [0.1, 0.7])
    assert report["subsets"]["all"]["frames"] == 2
    assert report["subsets"]["all"]["pointing_game"]["avolnet"] == 0.5
    assert report["subsets"]["with_silent_distractor"]["distractor_pointing"]["avolnet"] == 1.0
    assert report["subsets"]["two_sounding_objects"]["pointing_game"]["avolnet"] is None
    assert report["not_scored"]["no_visible_sounding_object"] == 1
    assert report["avc_check"]["accuracy_at_0.5"] == 0.75


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, write_tiny_model_dir):
    """An untrained AVOL-Net model dir (seed 0, checkpoint step 7), laid out as l3net_train leaves it."""
    return write_tiny_model_dir(str(tmp_path_factory.mktemp("avol_model")), CFG, resize_short_side=40)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """4 test videos; video 1 shows no sounding object (its source is off-screen)."""
    path = str(tmp_path_factory.mktemp("loc_data"))
    records = [rf.fake_video(v, split="test", num_frames=12, fps=10.0, sample_rate=8000, short_side=40)
               for v in range(4)]
    rf.write_dataset(path, records, sample_rate=8000, fps=10.0, short_side=40)
    lines = []
    for v, record in enumerate(records):
        visible = [] if v == 1 else [{"object": 0, "class": "ball", "sounding": True, "box": [0.1, 0.1, 0.5, 0.6]}]
        distractor = [{"object": 1, "class": "bell", "sounding": False, "box": [0.6, 0.2, 0.9, 0.8]}] if v == 2 else []
        objects = [{"id": 0, "class": "ball", "sounding": True, "onscreen": v != 1}]
        lines.append(json.dumps({"path": record.source_path, "fps": 20, "objects": objects,
                                 "frames": [visible + distractor for _ in range(24)]}))
    with open(os.path.join(path, "annotations.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _run(args):
    return subprocess.run(TOOL + args, capture_output=True, text=True, timeout=300)


def test_localize_evaluate_writes_report_and_pngs(model_dir, data_dir, tmp_path):
    out = str(tmp_path / "out")
    result = _run(["--model_dir", model_dir, "--data_dir", data_dir, "--output_dir", out, "--evaluate",
                   "--annotations", os.path.join(data_dir, "annotations.jsonl"), "--frames_per_video=2",
                   "--max_images=3"])
    assert result.returncode == 0, result.stderr
    with open(os.path.join(out, "localization.json")) as f:
        report = json.load(f)
    assert report["checkpoint_step"] == 7 and report["videos"] == 4 and len(report["frames"]) == 8
    assert report["frames"][0]["grid"] == [5, 8]  # 40x60 frame -> 40x64 input (60/8 = 7.5 rounds to 8)
    evaluation = report["evaluation"]
    assert evaluation["subsets"]["all"]["frames"] == 6
    assert evaluation["subsets"]["with_silent_distractor"]["frames"] == 2
    assert evaluation["not_scored"]["no_visible_sounding_object"] == 2
    # The centre (0.5, 0.5) lies on no sounding box here: [0.1, 0.5] x [0.1, 0.6] includes x = 0.5.
    assert evaluation["subsets"]["all"]["pointing_game"]["centre_baseline"] == 1.0
    assert "off-screen" in evaluation["scoring"]["not_scored"]
    pngs = sorted(os.listdir(os.path.join(out, "heatmaps")))
    assert len(pngs) == 3 and all(p.endswith(".png") for p in pngs)


@pytest.mark.parametrize("extra, needle", [
    (["--video", "x.mp4"], "exactly one of"),
    (["--evaluate", "--annotations", "/nonexistent/annotations.jsonl"], "no such annotations file"),
    (["--iou_threshold=2"], "--iou_threshold"),
])
def test_bad_input_exits_2_and_writes_nothing(model_dir, data_dir, tmp_path, extra, needle):
    out = str(tmp_path / "out")
    result = _run(["--model_dir", model_dir, "--data_dir", data_dir, "--output_dir", out] + extra)
    assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not os.path.exists(out)


def test_localize_video_writes_overlay_mp4_with_audio(model_dir, tmp_path):
    video = mf.write_video(str(tmp_path / "clip.mp4"), seconds=1.0, width=64, height=48, fps=12)
    out = str(tmp_path / "out")
    result = _run(["--model_dir", model_dir, "--video", video, "--output_dir", out, "--fps=6",
                   "--draw_short_side=48", "--frames_per_video=2"])
    assert result.returncode == 0, result.stderr
    with open(os.path.join(out, "localization.json")) as f:
        report = json.load(f)
    assert len(report["frames"]) == 6 and len(os.listdir(os.path.join(out, "heatmaps"))) == 2
    with av.open(os.path.join(out, report["overlay_video"])) as container:
        assert len(container.streams.audio) == 1
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 6
