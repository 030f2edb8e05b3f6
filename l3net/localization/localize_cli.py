"""`l3net_localize --model_dir M (--data_dir D | --video FILE) --output_dir O [--evaluate]`.

Where is the sound coming from? For chosen frames and the 1 s of audio centred on each, a trained
AVOL-Net's per-cell map is upsampled to the frame and drawn as a heat-map overlay PNG
(O/heatmaps/). With --video, every frame of the file is overlaid and written as O/<name>_overlay.mp4
with the file's audio (mono, at the model's sample rate). With --evaluate (converted synthetic
data), the pointing game and mean IoU are scored against the annotated boxes of the sounding
objects, next to a "predict the centre" baseline.

Scoring of --evaluate (also written into localization.json under evaluation.scoring): frames that
show a sounding object are scored (hit = the map's maximum lies inside a sounding object's box);
frames whose only sounding source is off-screen are not scored for pointing/IoU but counted under
not_scored; videos with an off-screen sound or silent distractors stay in `all` and are also
reported as their own subsets.

Outputs are written only after every frame has been computed: a bad flag, model or dataset exits
with one line (status 2) and writes nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, NoReturn, Optional, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from l3net import model_dir as model_dir_lib  # noqa: E402
from l3net.atomic_files import write_text_atomic  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.data import schema  # noqa: E402
from l3net.localization import annotations as annotations_lib  # noqa: E402

TOOL = "l3net_localize"
REPORT_NAME = "localization.json"
HEATMAP_DIR = "heatmaps"
FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model directory of an AVOL-Net trained by `l3net_train --model=avolnet`.")
flags.DEFINE_string("data_dir", None, "Converted dataset (output_dir of `l3net_data convert`).")
flags.DEFINE_string("video", None, "A video file to localise instead of --data_dir (MP4 with audio).")
flags.DEFINE_string("output_dir", None, f"Where {REPORT_NAME}, {HEATMAP_DIR}/*.png and the overlay video go.")
flags.DEFINE_string("split", "test", "Split of --data_dir: train | val | test.")
flags.DEFINE_integer("frames_per_video", 4, "Evenly spread frames per video (--data_dir), each with the 1 s "
                     "of audio centred on it.")
flags.DEFINE_integer("max_videos", 0, "Use at most this many videos of the split (0 = all).")
flags.DEFINE_integer("max_images", 40, "Overlay PNGs written at most (--data_dir; --video writes "
                     "--frames_per_video of them).")
flags.DEFINE_boolean("evaluate", False,
                     "Score the maps against annotated boxes: pointing game (the map's maximum lies in a "
                     "sounding object's box) and mean IoU at --iou_threshold, next to a predict-the-centre "
                     "baseline. Frames whose sounding source is off-screen only are not scored but counted "
                     "(not_scored); videos with off-screen sound or silent distractors are scored and also "
                     "reported as subsets.")
flags.DEFINE_string("annotations", None, "annotations.jsonl of `l3net_data synthetic`, matched to records by "
                    "source path (default: next to the manifest the dataset was converted from).")
flags.DEFINE_float("iou_threshold", 0.5, "Threshold on the min-max normalised heat-map for IoU.")
flags.DEFINE_integer("short_side", 0, "Short side of the whole frame fed to the network, rounded to whole "
                     "cells (0 = the training --resize_short_side).")
flags.DEFINE_integer("batch_size", 32, "Frames per forward pass.")
flags.DEFINE_float("fps", 12.0, "--video: frames per second decoded and written.")
flags.DEFINE_integer("draw_short_side", 240, "--video: short side of the decoded frames the overlays are drawn on.")
flags.DEFINE_float("max_seconds", 30.0, "--video: seconds decoded from the start (0 = all).")


def _fail(message: str) -> NoReturn:
    fail(TOOL, message)


def _check_flags() -> None:
    if not FLAGS.model_dir or not FLAGS.output_dir:
        _fail("--model_dir and --output_dir are required")
    if bool(FLAGS.data_dir) == bool(FLAGS.video):
        _fail("pass exactly one of --data_dir (converted dataset) or --video (a video file)")
    if FLAGS.video and FLAGS.evaluate:
        _fail("--evaluate needs --data_dir (annotated synthetic data); a --video file has no boxes")
    if FLAGS.split not in schema.SPLITS:
        _fail(f"--split={FLAGS.split}: use one of {', '.join(schema.SPLITS)}")
    if FLAGS.frames_per_video < 1 or FLAGS.batch_size < 1 or FLAGS.max_videos < 0 or FLAGS.max_images < 0:
        _fail("--frames_per_video and --batch_size must be >= 1, --max_videos and --max_images >= 0")
    if not 0.0 <= FLAGS.iou_threshold <= 1.0:
        _fail(f"--iou_threshold={FLAGS.iou_threshold}: must be in [0, 1]")
    if FLAGS.short_side < 0 or FLAGS.fps <= 0 or FLAGS.draw_short_side < 16 or FLAGS.max_seconds < 0:
        _fail("--short_side >= 0, --fps > 0, --draw_short_side >= 16 and --max_seconds >= 0 are required")
    if FLAGS.video and not os.path.isfile(FLAGS.video):
        _fail(f"--video={FLAGS.video}: no such file")


def _read_config() -> Any:
    """The model dir's ModelConfig (no TensorFlow yet); fails on a non-AVOL-Net model dir."""
    try:
        cfg = model_dir_lib.read_model_config(FLAGS.model_dir)
    except model_dir_lib.ModelDirError as e:
        _fail(str(e))
    if cfg.model != "avolnet":
        _fail(f"{FLAGS.model_dir}: a '{cfg.model}' model has no per-cell map; train one with "
              "`l3net_train --model=avolnet` (e.g. --flagfile=configs/demo_cpu_avolnet.flags)")
    return cfg


def _load(cfg: Any) -> Tuple[Any, Any, int, int]:
    """(localizer, model config, checkpoint step, short side)."""
    short_side = FLAGS.short_side
    if short_side == 0:
        data = model_dir_lib.read_run_config(FLAGS.model_dir).get("data", {})
        short_side = int(data.get("resize_short_side") or round(cfg.image_size * 256 / 224))
    from l3net.models import localizer

    try:
        model, cfg, step = model_dir_lib.load_model(FLAGS.model_dir)
    except model_dir_lib.ModelDirError as e:
        _fail(str(e))
    return localizer(model, cfg), cfg, step, short_side


def _stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "video"


def _picture(item, cell_logits, truth=None):
    """uint8 [H, W, 3] overlay of one frame (boxes drawn when the truth is known)."""
    from l3net.localization import heatmaps

    h, w = item.frame.shape[:2]
    image = heatmaps.overlay(item.frame, heatmaps.upsample(heatmaps.sigmoid(cell_logits), h, w))
    if truth is not None:
        image = heatmaps.draw_boxes(image, truth.distractor_boxes, heatmaps.DISTRACTOR_COLOUR)
        image = heatmaps.draw_boxes(image, truth.sounding_boxes, heatmaps.SOUNDING_COLOUR)
    return image


def _check_dataset(cfg) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(annotation table or None, its path) after checking --data_dir against the model; no TensorFlow."""
    try:
        info = schema.read_dataset_info(FLAGS.data_dir)
        schema.shard_paths(FLAGS.data_dir, FLAGS.split, info)
    except schema.DatasetError as e:
        _fail(str(e))
    if int(info.sample_rate) != cfg.sample_rate:
        _fail(f"{FLAGS.data_dir} holds {info.sample_rate} Hz audio but the model expects {cfg.sample_rate} Hz; "
              f"convert with `l3net_data convert --sample_rate {cfg.sample_rate}`")
    table = None
    annotations_path = None
    if FLAGS.evaluate:
        annotations_path = FLAGS.annotations or annotations_lib.default_annotations_path(FLAGS.data_dir)
        if annotations_path is None:
            _fail(f"{FLAGS.data_dir}: no {annotations_lib.ANNOTATIONS_NAME} next to the manifest it was "
                  "converted from; pass --annotations <videos dir>/annotations.jsonl")
        try:
            table = annotations_lib.read_annotations(annotations_path)
        except annotations_lib.AnnotationError as e:
            _fail(str(e))
    return table, annotations_path


def _dataset_run(loc, cfg, short_side: int, table: Optional[Dict[str, Any]], annotations_path: Optional[str]
                 ) -> Tuple[Dict[str, Any], Dict[str, Any], List[Tuple[str, Any]]]:
    """(report fields, evaluation or {}, [(png name, image)]) for --data_dir."""
    from l3net.localization import localization_report
    from l3net.localization.cell_maps import run_localizer
    from l3net.localization.frame_inputs import record_frames

    items = list(record_frames(FLAGS.data_dir, FLAGS.split, FLAGS.frames_per_video, cfg.num_audio_samples,
                               FLAGS.max_videos))
    if table is not None:
        unmatched = next((it.source_path for it in items if it.source_path not in table), None)
        if unmatched is not None:
            _fail(f"{annotations_path}: no annotation for the record of '{unmatched}' (matched by source path); "
                  "pass the annotations.jsonl of the videos this dataset was converted from")
    cell = 2 ** len(cfg.vision_widths)
    # Mismatched audio: each frame with the audio of the frame `frames_per_video` items later, which
    # belongs to another video whenever the split has more than one.
    shift = FLAGS.frames_per_video
    others = [items[(n + shift) % len(items)] for n in range(len(items))]
    mismatched = [o.audio for o, it in zip(others, items) if o.video_id != it.video_id]
    mismatch_items = [it for o, it in zip(others, items) if o.video_id != it.video_id]
    results = list(run_localizer(loc, items, short_side=short_side, cell=cell, batch_size=FLAGS.batch_size))
    other_probs = [p for _, _, p in run_localizer(loc, mismatch_items, short_side=short_side, cell=cell,
                                                  batch_size=FLAGS.batch_size, audio_override=mismatched)]
    scores, not_scored, pictures, listing = [], [], [], []
    for n, (item, logits, prob) in enumerate(results):
        truth = None
        if table is not None:
            truth = annotations_lib.frame_truth(table[item.source_path], item.time)
            score = localization_report.score_frame(logits, truth, item.frame.shape[:2], FLAGS.iou_threshold)
            if score is None:
                not_scored.append(prob)
            else:
                scores.append(score)
        entry = {"video_id": item.video_id, "source_path": item.source_path, "frame_index": item.frame_index,
                 "time": round(item.time, 4), "avc_probability": round(prob, 6),
                 "grid": list(logits.shape)}
        if len(pictures) < FLAGS.max_images:
            name = f"{HEATMAP_DIR}/{_stem(item.source_path)}_{item.video_id[:8]}_f{item.frame_index:05d}.png"
            pictures.append((name, _picture(item, logits, truth)))
            entry["png"] = name
        listing.append(entry)
    evaluation: Dict[str, Any] = {}
    if table is not None:
        evaluation = localization_report.summarise(scores, not_scored, FLAGS.iou_threshold,
                                                   [p for _, _, p in results], other_probs)
        evaluation["annotations"] = os.path.abspath(annotations_path)
    fields = {"data_dir": os.path.abspath(FLAGS.data_dir), "split": FLAGS.split,
              "videos": len({it.video_id for it in items}), "frames": listing}
    return fields, evaluation, pictures


def _video_run(loc, cfg, short_side: int) -> Tuple[Dict[str, Any], List[Tuple[str, Any]], Any]:
    """(report fields, [(png name, image)], (frames, audio)) for --video."""
    from data_tools.media_decode import MediaError

    from l3net.localization.animation import decode_video
    from l3net.localization.cell_maps import run_localizer
    from l3net.localization.frame_inputs import FrameItem, audio_window, chosen_frames

    try:
        frames, audio = decode_video(FLAGS.video, fps=FLAGS.fps, short_side=FLAGS.draw_short_side,
                                     sample_rate=cfg.sample_rate, max_seconds=FLAGS.max_seconds)
    except MediaError as e:
        _fail(f"--video={FLAGS.video}: {e.reason}")
    stem = _stem(FLAGS.video)
    items = [FrameItem(stem, FLAGS.video, [], i, i / FLAGS.fps, frame,
                       audio_window(audio, i / FLAGS.fps, cfg.sample_rate, cfg.num_audio_samples))
             for i, frame in enumerate(frames)]
    cell = 2 ** len(cfg.vision_widths)
    chosen = set(chosen_frames(len(items), FLAGS.frames_per_video))
    overlaid, pictures, listing = [], [], []
    for item, logits, prob in run_localizer(loc, items, short_side=short_side, cell=cell,
                                            batch_size=FLAGS.batch_size):
        image = _picture(item, logits)
        overlaid.append(image)
        entry = {"frame_index": item.frame_index, "time": round(item.time, 4), "avc_probability": round(prob, 6)}
        if item.frame_index in chosen:
            name = f"{HEATMAP_DIR}/{stem}_f{item.frame_index:05d}.png"
            pictures.append((name, image))
            entry["png"] = name
        listing.append(entry)
    movie = f"{stem}_overlay.mp4"
    fields = {"video": os.path.abspath(FLAGS.video), "fps": FLAGS.fps, "overlay_video": movie, "frames": listing}
    return fields, pictures, (overlaid, audio)


def main(argv: List[str]) -> int:
    if len(argv) > 1:
        _fail(f"unexpected argument {argv[1]!r}; every option is a --flag")
    _check_flags()
    cfg = _read_config()
    if FLAGS.data_dir:
        table, annotations_path = _check_dataset(cfg)
    loc, cfg, step, short_side = _load(cfg)
    from l3net.localization import heatmaps

    report: Dict[str, Any] = {"model_dir": os.path.abspath(FLAGS.model_dir), "checkpoint_step": step,
                              "short_side": short_side, "cell_pixels_at_input": 2 ** len(cfg.vision_widths)}
    movie = None
    if FLAGS.data_dir:
        fields, evaluation, pictures = _dataset_run(loc, cfg, short_side, table, annotations_path)
        if evaluation:
            report["evaluation"] = evaluation
    else:
        fields, pictures, movie = _video_run(loc, cfg, short_side)
    report.update(fields)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    for name, image in pictures:
        heatmaps.write_png(os.path.join(FLAGS.output_dir, name), image)
    if movie is not None:
        from l3net.localization.animation import write_overlay_video

        write_overlay_video(os.path.join(FLAGS.output_dir, fields["overlay_video"]), movie[0], FLAGS.fps,
                            movie[1], cfg.sample_rate)
    write_text_atomic(os.path.join(FLAGS.output_dir, REPORT_NAME), json.dumps(report, indent=2, sort_keys=True))
    _print_summary(report)
    return 0


def _print_summary(report: Dict[str, Any]) -> None:
    print(f"{TOOL}: {len(report['frames'])} frames -> {os.path.join(FLAGS.output_dir, REPORT_NAME)}")
    evaluation = report.get("evaluation")
    if not evaluation:
        return

    def pct(x: Any) -> str:
        return "   n/a" if x is None else f"{100 * x:5.1f}%"

    print(f"{'subset':<24s} {'frames':>6s} {'pointing':>9s} {'centre':>7s} {'mIoU':>7s} {'centre':>7s}")
    for name, s in evaluation["subsets"].items():
        print(f"{name:<24s} {s['frames']:6d} {pct(s['pointing_game']['avolnet']):>9s} "
              f"{pct(s['pointing_game']['centre_baseline']):>7s} {pct(s['mean_iou']['avolnet']):>7s} "
              f"{pct(s['mean_iou']['centre_baseline']):>7s}")
    ns = evaluation["not_scored"]
    print(f"not scored (sounding source off-screen only): {ns['no_visible_sounding_object']} frames")
    check = evaluation["avc_check"]
    print(f"AVC check: p(own audio) {check['mean_probability_own_audio']:.3f}, p(other video's audio) "
          f"{check['mean_probability_other_video_audio']:.3f}, accuracy {pct(check['accuracy_at_0.5'])}")


def run() -> None:
    """Console-script entry point."""
    run_tool(TOOL, main, __doc__, [__name__])


if __name__ == "__main__":
    run()
