"""Localization with a trained AVOL-Net as a library function (`l3net_localize` is a thin CLI over it).

For chosen frames and the 1 s of audio centred on each, the per-cell map is upsampled to the
frame and drawn as a heat-map overlay PNG (heatmaps/). With a video file, every frame is
overlaid and written as <name>_overlay.mp4 with the file's audio. With `evaluate` (converted
synthetic data), the pointing game and mean IoU are scored against the annotated boxes of the
sounding objects, next to a "predict the centre" baseline.

Scoring (also written into localization.json under evaluation.scoring): frames that show a
sounding object are scored (hit = the map's maximum lies inside a sounding object's box);
frames whose only sounding source is off-screen are not scored for pointing/IoU but counted
under not_scored; videos with an off-screen sound or silent distractors stay in `all` and are
also reported as their own subsets.

Outputs are written only after every frame has been computed: a bad option, model or dataset
raises LocalizationError / ModelDirError / DatasetError and writes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from l3net.atomic_files import write_text_atomic
from l3net.data import schema
from l3net.localization import annotations as annotations_lib
from l3net.model_dir import ModelDir

REPORT_NAME = "localization.json"
HEATMAP_DIR = "heatmaps"


class LocalizationError(ValueError):
    """An option, model or input that localization cannot use; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class LocalizeOptions:
    """Settings of a localization run (the `l3net_localize` flags of the same names)."""

    split: str = "test"
    frames_per_video: int = 4
    max_videos: int = 0
    max_images: int = 40
    evaluate: bool = False
    annotations: Optional[str] = None
    iou_threshold: float = 0.5
    short_side: int = 0
    batch_size: int = 32
    fps: float = 12.0
    draw_short_side: int = 240
    max_seconds: float = 30.0


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



class _Run:
    """One localization run: the model, where the inputs come from, the options."""

    def __init__(self, model_dir: str, output_dir: str, data_dir: Optional[str], video: Optional[str],
                 opts: LocalizeOptions, checkpoint: Union[str, int, None]) -> None:
        self.model_dir = model_dir
        self.output_dir = output_dir
        self.data_dir = data_dir
        self.video = video
        self.opts = opts
        self.checkpoint = checkpoint

    def check(self) -> None:
        opts = self.opts
        if not self.model_dir or not self.output_dir:
            raise LocalizationError("--model_dir and --output_dir are required")
        if bool(self.data_dir) == bool(self.video):
            raise LocalizationError("pass exactly one of --data_dir (converted dataset) or --video (a video file)")
        if self.video and opts.evaluate:
            raise LocalizationError("--evaluate needs --data_dir (annotated synthetic data); a --video file has "
                                    "no boxes")
        if opts.split not in schema.SPLITS:
            raise LocalizationError(f"--split={opts.split}: use one of {', '.join(schema.SPLITS)}")
        if opts.frames_per_video < 1 or opts.batch_size < 1 or opts.max_videos < 0 or opts.max_images < 0:
            raise LocalizationError("--frames_per_video and --batch_size must be >= 1, --max_videos and "
                                    "--max_images >= 0")
        if not 0.0 <= opts.iou_threshold <= 1.0:
            raise LocalizationError(f"--iou_threshold={opts.iou_threshold}: must be in [0, 1]")
        if opts.short_side < 0 or opts.fps <= 0 or opts.draw_short_side < 16 or opts.max_seconds < 0:
            raise LocalizationError("--short_side >= 0, --fps > 0, --draw_short_side >= 16 and --max_seconds >= 0 "
                                    "are required")
        if self.video and not os.path.isfile(self.video):
            raise LocalizationError(f"--video={self.video}: no such file")

    def check_dataset(self, cfg) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        """(annotation table or None, its path) after checking --data_dir against the model; no TensorFlow."""
        try:
            info = schema.read_dataset_info(self.data_dir)
            schema.shard_paths(self.data_dir, self.opts.split, info)
        except schema.DatasetError as e:
            raise LocalizationError(str(e)) from None
        ModelDir(self.model_dir).check_sample_rate(info.sample_rate, self.data_dir, cfg.sample_rate)
        table = None
        annotations_path = None
        if self.opts.evaluate:
            annotations_path = self.opts.annotations or annotations_lib.default_annotations_path(self.data_dir)
            if annotations_path is None:
                raise LocalizationError(f"{self.data_dir}: no {annotations_lib.ANNOTATIONS_NAME} next to the manifest "
                                        "it was converted from; pass --annotations <videos dir>/annotations.jsonl")
            try:
                table = annotations_lib.read_annotations(annotations_path)
            except annotations_lib.AnnotationError as e:
                raise LocalizationError(str(e)) from None
        return table, annotations_path

    def dataset_run(self, loc, cfg, short_side: int, table: Optional[Dict[str, Any]], annotations_path: Optional[str]
                     ) -> Tuple[Dict[str, Any], Dict[str, Any], List[Tuple[str, Any]]]:
        """(report fields, evaluation or {}, [(png name, image)]) for --data_dir."""
        from l3net.localization import localization_report
        from l3net.localization.cell_maps import run_localizer
        from l3net.localization.frame_inputs import record_frames

        items = list(record_frames(self.data_dir, self.opts.split, self.opts.frames_per_video, cfg.num_audio_samples,
                                   self.opts.max_videos))
        if table is not None:
            unmatched = next((it.source_path for it in items if it.source_path not in table), None)
            if unmatched is not None:
                raise LocalizationError(f"{annotations_path}: no annotation for the record of '{unmatched}' (matched "
                                        "by source path); pass the annotations.jsonl of the videos this dataset was "
                                        "converted from")
        cell = 2 ** len(cfg.vision_widths)
        # Mismatched audio: each frame with the audio of the frame `frames_per_video` items later, which
        # belongs to another video whenever the split has more than one.
        shift = self.opts.frames_per_video
        others = [items[(n + shift) % len(items)] for n in range(len(items))]
        mismatched = [o.audio for o, it in zip(others, items) if o.video_id != it.video_id]
        mismatch_items = [it for o, it in zip(others, items) if o.video_id != it.video_id]
        results = list(run_localizer(loc, items, short_side=short_side, cell=cell, batch_size=self.opts.batch_size))
        other_probs = [p for _, _, p in run_localizer(loc, mismatch_items, short_side=short_side, cell=cell,
                                                      batch_size=self.opts.batch_size, audio_override=mismatched)]
        scores, not_scored, pictures, listing = [], [], [], []
        for n, (item, logits, prob) in enumerate(results):
            truth = None
            if table is not None:
                truth = annotations_lib.frame_truth(table[item.source_path], item.time)
                score = localization_report.score_frame(logits, truth, item.frame.shape[:2], self.opts.iou_threshold)
                if score is None:
                    not_scored.append(prob)
                else:
                    scores.append(score)
            entry = {"video_id": item.video_id, "source_path": item.source_path, "frame_index": item.frame_index,
                     "time": round(item.time, 4), "avc_probability": round(prob, 6),
                     "grid": list(logits.shape)}
            if len(pictures) < self.opts.max_images:
                name = f"{HEATMAP_DIR}/{_stem(item.source_path)}_{item.video_id[:8]}_f{item.frame_index:05d}.png"
                pictures.append((name, _picture(item, logits, truth)))
                entry["png"] = name
            listing.append(entry)
        evaluation: Dict[str, Any] = {}
        if table is not None:
            evaluation = localization_report.summarise(scores, not_scored, self.opts.iou_threshold,
                                                       [p for _, _, p in results], other_probs)
            evaluation["annotations"] = os.path.abspath(annotations_path)
        fields = {"data_dir": os.path.abspath(self.data_dir), "split": self.opts.split,
                  "videos": len({it.video_id for it in items}), "frames": listing}
        return fields, evaluation, pictures

    def video_run(self, loc, cfg, short_side: int) -> Tuple[Dict[str, Any], List[Tuple[str, Any]], Any]:
        """(report fields, [(png name, image)], (frames, audio)) for --video."""
        from l3net.localization.animation import decode_video
        from l3net.localization.cell_maps import run_localizer
        from l3net.localization.frame_inputs import FrameItem, audio_window, chosen_frames
        from l3net.media_decode import MediaError

        try:
            frames, audio = decode_video(self.video, fps=self.opts.fps, short_side=self.opts.draw_short_side,
                                         sample_rate=cfg.sample_rate, max_seconds=self.opts.max_seconds)
        except MediaError as e:
            raise LocalizationError(f"--video={self.video}: {e.reason}") from None
        stem = _stem(self.video)
        items = [FrameItem(stem, self.video, [], i, i / self.opts.fps, frame,
                           audio_window(audio, i / self.opts.fps, cfg.sample_rate, cfg.num_audio_samples))
                 for i, frame in enumerate(frames)]
        cell = 2 ** len(cfg.vision_widths)
        chosen = set(chosen_frames(len(items), self.opts.frames_per_video))
        overlaid, pictures, listing = [], [], []
        for item, logits, prob in run_localizer(loc, items, short_side=short_side, cell=cell,
                                                batch_size=self.opts.batch_size):
            image = _picture(item, logits)
            overlaid.append(image)
            entry = {"frame_index": item.frame_index, "time": round(item.time, 4), "avc_probability": round(prob, 6)}
            if item.frame_index in chosen:
                name = f"{HEATMAP_DIR}/{stem}_f{item.frame_index:05d}.png"
                pictures.append((name, image))
                entry["png"] = name
            listing.append(entry)
        movie = f"{stem}_overlay.mp4"
        fields = {"video": os.path.abspath(self.video), "fps": self.opts.fps, "overlay_video": movie,
                  "frames": listing}
        return fields, pictures, (overlaid, audio)


def run_localization(model_dir: str, output_dir: str, *, data_dir: Optional[str] = None, video: Optional[str] = None,
                     options: LocalizeOptions = LocalizeOptions(), checkpoint: Union[str, int, None] = "best",
                     log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Heat-maps (and with options.evaluate, their scores) of the AVOL-Net in `model_dir`.

    Exactly one of `data_dir` (a converted dataset) or `video` (a video file). Writes
    localization.json, heatmaps/*.png and, for a video, <name>_overlay.mp4 into `output_dir`;
    returns the report.
    """
    run = _Run(model_dir, output_dir, data_dir, video, options, checkpoint)
    run.check()
    directory = ModelDir(model_dir)
    cfg = directory.model_config()
    if cfg.model != "avolnet":
        raise LocalizationError(f"{model_dir}: a '{cfg.model}' model has no per-cell map; train one with "
                                "`l3net_train --model=avolnet` (e.g. --flagfile=configs/demo_cpu_avolnet.flags)")
    table, annotations_path = None, None
    if data_dir:
        table, annotations_path = run.check_dataset(cfg)
    directory.require_checkpoint(checkpoint)
    short_side = options.short_side or directory.resize_short_side(cfg)
    from l3net.localization import heatmaps
    from l3net.models import localizer

    model, cfg, step = directory.load_model(checkpoint)
    loc = localizer(model, cfg)
    report: Dict[str, Any] = {"model_dir": os.path.abspath(model_dir), "checkpoint_step": step,
                              "checkpoint": directory.checkpoint_path(checkpoint)[1],
                              "short_side": short_side, "cell_pixels_at_input": 2 ** len(cfg.vision_widths)}
    movie = None
    if data_dir:
        fields, evaluation, pictures = run.dataset_run(loc, cfg, short_side, table, annotations_path)
        if evaluation:
            report["evaluation"] = evaluation
    else:
        fields, pictures, movie = run.video_run(loc, cfg, short_side)
    report.update(fields)
    os.makedirs(output_dir, exist_ok=True)
    for name, image in pictures:
        heatmaps.write_png(os.path.join(output_dir, name), image)
    if movie is not None:
        from l3net.localization.animation import write_overlay_video

        write_overlay_video(os.path.join(output_dir, fields["overlay_video"]), movie[0], options.fps,
                            movie[1], cfg.sample_rate)
    write_text_atomic(os.path.join(output_dir, REPORT_NAME), json.dumps(report, indent=2, sort_keys=True))
    for line in summary_lines(report, output_dir):
        log(line)
    return report


def summary_lines(report: Dict[str, Any], output_dir: str) -> List[str]:
    """The table `l3net_localize` prints."""
    lines = [f"l3net_localize: {len(report['frames'])} frames -> {os.path.join(output_dir, REPORT_NAME)}"]
    evaluation = report.get("evaluation")
    if not evaluation:
        return lines

    def pct(x: Any) -> str:
        return "   n/a" if x is None else f"{100 * x:5.1f}%"

    lines.append(f"{'subset':<24s} {'frames':>6s} {'pointing':>9s} {'centre':>7s} {'mIoU':>7s} {'centre':>7s}")
    for name, s in evaluation["subsets"].items():
        lines.append(f"{name:<24s} {s['frames']:6d} {pct(s['pointing_game']['avolnet']):>9s} "
                     f"{pct(s['pointing_game']['centre_baseline']):>7s} {pct(s['mean_iou']['avolnet']):>7s} "
                     f"{pct(s['mean_iou']['centre_baseline']):>7s}")
    ns = evaluation["not_scored"]
    lines.append(f"not scored (sounding source off-screen only): {ns['no_visible_sounding_object']} frames")
    check = evaluation["avc_check"]
    lines.append(f"AVC check: p(own audio) {check['mean_probability_own_audio']:.3f}, p(other video's audio) "
                 f"{check['mean_probability_other_video_audio']:.3f}, accuracy {pct(check['accuracy_at_0.5'])}")
    return lines
