"""The embedded default dataset: synthetic sound-world videos written as real MP4 files.

Output of `generate_videos(output_dir, ...)`:
  output_dir/videos/vid_NNNNNN.mp4   H.264 (yuv420p) + AAC; 12/15/24/25/30 fps; 22.05/44.1/48 kHz;
                                     mono or stereo; `width` x `height`.
  output_dir/labels.csv              header `path,labels`; path relative to the CSV; labels are
                                     the visible *sounding* objects' classes joined by `;`
                                     (two names in ~15 % of videos at clutter 1, primary first).
  output_dir/annotations.jsonl       one JSON object per video, in labels.csv order:
    path, labels, fps, sample_rate, channels, duration (s), num_frames, width, height;
    objects: [{id, class, sounding, onscreen, pitch_hz, rate_hz, level_db, events}] - every object,
             including silent distractors (sounding false) and the off-screen source (onscreen
             false); `events` = its sound event times in s (impacts / onsets / size peaks);
    events:  [{time, object, class, onscreen}] all sound events of sounding objects, by time;
    frames:  per frame i (time i / fps) a list of {object, class, sounding, box} for each object
             visible in that frame, box = [x0, y0, x1, y1] normalised to [0, 1].

Why this design: see `sound_world` (classes), `scenes` (all random choices, per video seed),
`frames`/`soundtrack` (rendering), `l3net.media_encode` (PyAV). Video i depends only on (seed, i),
so any number of worker processes gives byte-identical output.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
import os
from typing import Any, Dict, List

import numpy as np

from l3net.atomic_files import write_text_atomic
from l3net.media_encode import write_video

from data_tools.synthetic.frames import render_frames
from data_tools.synthetic.scenes import VideoScene, plan_scene
from data_tools.synthetic.sound_world import DEFAULT_WORLD, get_world
from data_tools.synthetic.soundtrack import render_soundtrack

VIDEO_DIR = "videos"
LABELS_NAME = "labels.csv"
ANNOTATIONS_NAME = "annotations.jsonl"


def video_name(index: int) -> str:
    return f"{VIDEO_DIR}/vid_{index:06d}.mp4"


def _r(x: float) -> float:
    return round(float(x), 4)


def _annotation(scene: VideoScene, rendered) -> Dict[str, Any]:
    objects, events = [], []
    for i, obj in enumerate(scene.objects):
        times = [_r(t) for t in np.sort(obj.motion.events)] if obj.sounding else []
        objects.append({
            "id": i, "class": obj.cls.name, "sounding": obj.sounding, "onscreen": obj.onscreen,
            "pitch_hz": _r(obj.pitch), "rate_hz": _r(obj.rate),
            "level_db": _r(obj.level_db) if obj.sounding else None, "events": times,
        })
        events += [{"time": t, "object": i, "class": obj.cls.name, "onscreen": obj.onscreen} for t in times]
    events.sort(key=lambda e: (e["time"], e["object"]))
    frames: List[List[Dict[str, Any]]] = [[] for _ in range(scene.num_frames)]
    for i, (obj, sprite) in enumerate(zip(scene.objects, rendered.sprites)):
        if sprite is None:
            continue
        for t, box in enumerate(sprite.boxes):
            if not np.isnan(box[0]):
                frames[t].append({"object": i, "class": obj.cls.name, "sounding": obj.sounding,
                                  "box": [_r(b) for b in box]})
    return {
        "path": video_name(scene.index), "labels": scene.labels, "fps": scene.fps,
        "sample_rate": scene.sample_rate, "channels": scene.channels, "duration": _r(scene.duration),
        "num_frames": scene.num_frames, "width": scene.width, "height": scene.height,
        "objects": objects, "events": events, "frames": frames,
    }


def make_video(output_dir: str, seed: int, index: int, max_seconds: float, width: int,
               height: int, clutter: float = 1.0, world: str = DEFAULT_WORLD) -> Dict[str, Any]:
    """Renders and writes video `index`; returns its annotation (see module docstring)."""
    scene = plan_scene(seed, index, width, height, max_seconds, clutter, world)
    rendered = render_frames(scene)
    audio = render_soundtrack(scene)
    write_video(os.path.join(output_dir, video_name(index)), rendered.frames(), width, height,
                scene.fps, audio, scene.sample_rate)
    return _annotation(scene, rendered)


def _make_video_args(args) -> Dict[str, Any]:
    return make_video(*args)



def _check_args(num_videos: int, workers: int, max_seconds: float, width: int, height: int,
                clutter: float, world: str) -> None:
    get_world(world)
    if not 0.0 <= clutter <= 1.0:
        raise ValueError(f"clutter={clutter}: must be in [0, 1]")
    if num_videos < 1:
        raise ValueError(f"num_videos={num_videos}: must be >= 1")
    if workers < 1:
        raise ValueError(f"workers={workers}: must be >= 1")
    if not (0.5 <= max_seconds <= 600) or math.isnan(max_seconds):
        raise ValueError(f"max_seconds={max_seconds}: must be in [0.5, 600]")
    for name, value in (("width", width), ("height", height)):
        if value < 32 or value % 2:
            raise ValueError(f"{name}={value}: must be an even number >= 32 (H.264 yuv420p)")


def generate_videos(output_dir: str, num_videos: int, seed: int, *, workers: int = 1,
                    max_seconds: float = 10.0, width: int = 160, height: int = 120,
                    clutter: float = 1.0, world: str = DEFAULT_WORLD) -> str:
    """Writes the synthetic video dataset (layout in the module docstring).

    clutter in [0, 1] scales how often a video has a second sounding object, an off-screen sound
    and silent distractors (see `scenes.plan_scene`); 1 = the full world. world: a
    `sound_world.WORLDS` name ("basic" or "rich").

    labels.csv and annotations.jsonl are written last, so they exist only after a complete run.
    Returns the path of labels.csv. Raises ValueError naming the bad argument. Workers are
    started with 'spawn', so scripts calling this with workers > 1 need the usual
    `if __name__ == "__main__":` guard.
    """
    _check_args(num_videos, workers, max_seconds, width, height, clutter, world)
    os.makedirs(os.path.join(output_dir, VIDEO_DIR), exist_ok=True)
    labels_path = os.path.join(output_dir, LABELS_NAME)
    for stale in (labels_path, os.path.join(output_dir, ANNOTATIONS_NAME)):
        if os.path.exists(stale):  # A failed run must not leave a previous run's index behind.
            os.remove(stale)
    jobs = [(output_dir, seed, i, float(max_seconds), width, height, float(clutter), world)
            for i in range(num_videos)]
    if workers == 1:
        annotations = [_make_video_args(job) for job in jobs]
    else:
        # 'spawn': callers (the CLI, the demo) may have TensorFlow loaded, which is not fork-safe.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            chunk = max(1, min(8, num_videos // (4 * workers)))
            annotations = list(pool.map(_make_video_args, jobs, chunksize=chunk))
    csv_lines = ["path,labels"] + [f"{a['path']},{';'.join(a['labels'])}" for a in annotations]
    write_text_atomic(os.path.join(output_dir, ANNOTATIONS_NAME),
                "".join(json.dumps(a, sort_keys=True, separators=(",", ":")) + "\n" for a in annotations))
    write_text_atomic(labels_path, "\n".join(csv_lines) + "\n")
    return labels_path
