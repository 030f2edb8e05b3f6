"""`l3net_data`: convert videos into the l3net record format, or generate synthetic data.

  l3net_data convert --manifest videos.csv --output_dir D [--num_shards K --workers W --fps 12
      --sample_rate 48000 --short_side 256 --jpeg_quality 90 --max_seconds 10 --drop_short
      --val_fraction 0.1 --test_fraction 0.1]
  l3net_data convert --audioset_csv segments.csv --class_index_csv class_labels_indices.csv
      --video_dir downloads/ --output_dir D [same options]
  l3net_data synthetic --output_dir D --num_videos N --seed S [--workers W --max_seconds 10]
  l3net_data synthetic_esc50 --output_dir E [--seed S --clips_per_class 8]
  l3net_data synthetic_dcase2013 --output_dir E [--seed S --clips_per_class 10 --seconds 30]

Exit status: 0 done; 1 nothing could be converted (see D/failures.csv) or a write failed; 2 a
user mistake (bad flag, invalid manifest line, output dir of another conversion), reported on one
line with nothing written; 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NoReturn, Optional, Sequence

EXIT_OK, EXIT_NOTHING_CONVERTED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _UsageError(Exception):
    """A user mistake; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes on one line (no usage dump) and can be tested."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message} (see --help)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `l3net_data` console script; returns the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="l3net_data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    defaults = argparse.ArgumentDefaultsHelpFormatter

    convert = commands.add_parser("convert", help="videos -> sharded TFRecords + dataset.json",
                                  formatter_class=defaults)
    source = convert.add_argument_group("input (a manifest, or AudioSet segments)")
    source.add_argument("--manifest", help="CSV with columns path,labels[,split][,id]; labels `;`-separated")
    source.add_argument("--audioset_csv", help="AudioSet segments CSV (YTID, start_seconds, end_seconds, labels)")
    source.add_argument("--class_index_csv", help="AudioSet class index CSV (index,mid,display_name)")
    source.add_argument("--video_dir", help="folder with the downloads, named {YTID}.* or {YTID}_{start}*")
    convert.add_argument("--output_dir", required=True, help="dataset folder to write (resumable)")
    convert.add_argument("--num_shards", type=int, default=0,
                         help="shards per split (capped by its video count); 0 = one per 64 videos")
    convert.add_argument("--workers", type=int, default=_cpu_count(), help="decoding processes")
    convert.add_argument("--fps", type=float, default=12.0, help="stored frames per second")
    convert.add_argument("--sample_rate", type=int, default=48000, help="Hz of the stored mono audio")
    convert.add_argument("--short_side", type=int, default=256, help="frames are resized to this short side")
    convert.add_argument("--jpeg_quality", type=int, default=90, help="1-100, libjpeg-like")
    convert.add_argument("--max_seconds", type=float, default=10.0,
                         help="seconds converted from the start of each video/segment; 0 = all")
    convert.add_argument("--drop_short", action="store_true",
                         help="drop videos with < 1 s of audio instead of zero-padding them")
    convert.add_argument("--silence_threshold", type=float, default=1e-3,
                         help="audio peaking below this fraction of full scale counts as silent")
    convert.add_argument("--val_fraction", type=float, default=0.1,
                         help="share of videos without a split cell assigned to val (by id hash)")
    convert.add_argument("--test_fraction", type=float, default=0.1,
                         help="share of videos without a split cell assigned to test (by id hash)")
    convert.set_defaults(run=_run_convert)

    videos = commands.add_parser("synthetic", help="generate synthetic audio-visual videos + manifest",
                                 formatter_class=defaults)
    videos.add_argument("--output_dir", required=True, help="folder for the videos and labels.csv")
    videos.add_argument("--num_videos", type=int, required=True, help="videos to generate")
    videos.add_argument("--seed", type=int, required=True, help="same seed, same videos")
    videos.add_argument("--workers", type=int, default=1, help="rendering processes")
    videos.add_argument("--max_seconds", type=float, default=10.0, help="length of each video")
    videos.add_argument("--width", type=int, default=160, help="frame width (pixels)")
    videos.add_argument("--height", type=int, default=120, help="frame height (pixels)")
    videos.add_argument("--clutter", type=float, default=1.0,
                        help="0..1: how often videos get a second sounding object, an off-screen sound and "
                             "silent distractors (1 = the full world)")
    videos.set_defaults(run=_run_synthetic)

    esc50 = commands.add_parser("synthetic_esc50", help="generate an ESC-50-layout synthetic sound dataset",
                                formatter_class=defaults)
    esc50.add_argument("--output_dir", required=True, help="folder for audio/ and meta/esc50.csv")
    esc50.add_argument("--seed", type=int, default=0, help="same seed, same clips")
    esc50.add_argument("--clips_per_class", type=int, default=8, help="5 s clips per class")
    esc50.set_defaults(run=_run_synthetic_esc50)

    dcase = commands.add_parser("synthetic_dcase2013", help="generate a DCASE2013-SCD-layout synthetic dataset",
                                formatter_class=defaults)
    dcase.add_argument("--output_dir", required=True, help="folder for the scene recordings")
    dcase.add_argument("--seed", type=int, default=0, help="same seed, same clips")
    dcase.add_argument("--clips_per_class", type=int, default=10, help="recordings per scene class")
    dcase.add_argument("--seconds", type=float, default=30.0, help="length of each recording")
    dcase.set_defaults(run=_run_synthetic_dcase2013)
    return parser


def _run_convert(args: argparse.Namespace) -> int:
    from data_tools.convert import ConvertOptions
    from data_tools.manifest import ManifestError, read_audioset_segments, read_manifest
    from data_tools.shard_writer import ConversionStateError, write_dataset

    options = _convert_options(args)
    try:
        if args.manifest:
            sources = read_manifest(args.manifest)
            description = {"manifest": os.path.abspath(args.manifest)}
        else:
            sources = read_audioset_segments(args.audioset_csv, args.class_index_csv, args.video_dir)
            description = {"audioset_csv": os.path.abspath(args.audioset_csv),
                           "class_index_csv": os.path.abspath(args.class_index_csv),
                           "video_dir": os.path.abspath(args.video_dir)}
        summary = write_dataset(sources, args.output_dir, ConvertOptions(**options), num_shards=args.num_shards,
                                workers=args.workers, val_fraction=args.val_fraction,
                                test_fraction=args.test_fraction, description=description)
    except (ManifestError, ConversionStateError) as e:
        raise _UsageError(str(e)) from None
    except OSError as e:  # e.g. disk full: finished shards stay valid, a re-run resumes.
        print(f"error: l3net_data convert: cannot write {e.filename or args.output_dir} ({e.strerror or e}); "
              "fix it and re-run the same command to resume", file=sys.stderr)
        return EXIT_NOTHING_CONVERTED
    _print_summary(summary, args.output_dir)
    return EXIT_OK if summary.converted else EXIT_NOTHING_CONVERTED


def _convert_options(args: argparse.Namespace) -> dict:
    """Validates the convert flags; returns ConvertOptions keyword arguments."""
    audioset = (args.audioset_csv, args.class_index_csv, args.video_dir)
    if bool(args.manifest) == any(audioset):
        raise _UsageError("l3net_data convert: give either --manifest or --audioset_csv/--class_index_csv/--video_dir")
    if not args.manifest and not all(audioset):
        raise _UsageError("l3net_data convert: --audioset_csv needs --class_index_csv and --video_dir too")
    checks = [
        ("--num_shards", args.num_shards >= 0, "must be >= 0"),
        ("--workers", args.workers >= 1, "must be >= 1"),
        ("--fps", 0 < args.fps <= 240, "must be in (0, 240]"),
        ("--sample_rate", 1000 <= args.sample_rate <= 384000, "must be in [1000, 384000]"),
        ("--short_side", 16 <= args.short_side <= 4096, "must be in [16, 4096]"),
        ("--jpeg_quality", 1 <= args.jpeg_quality <= 100, "must be in [1, 100]"),
        ("--max_seconds", args.max_seconds >= 0, "must be >= 0 (0 = whole video)"),
        ("--silence_threshold", 0 <= args.silence_threshold < 1, "must be in [0, 1)"),
        ("--val_fraction", 0 <= args.val_fraction < 1, "must be in [0, 1)"),
        ("--test_fraction", 0 <= args.test_fraction < 1, "must be in [0, 1)"),
        ("--val_fraction + --test_fraction", args.val_fraction + args.test_fraction < 1, "must be < 1"),
    ]
    for flag, ok, what in checks:
        if not ok:
            raise _UsageError(f"l3net_data convert: {flag} {what}")
    return dict(fps=args.fps, sample_rate=args.sample_rate, short_side=args.short_side,
                jpeg_quality=args.jpeg_quality, max_seconds=args.max_seconds, drop_short=args.drop_short,
                silence_threshold=args.silence_threshold)


def _print_summary(summary, output_dir: str) -> None:
    counts = ", ".join(f"{split} {n}" for split, n in summary.counts.items())
    total = summary.converted + len(summary.failures)
    print(f"converted {summary.converted} of {total} videos ({counts}) into {output_dir}"
          + (f"; {summary.shards_skipped} shards were already finished" if summary.shards_skipped else ""))
    if summary.failures:
        kinds = ", ".join(f"{kind} {n}" for kind, n in summary.failures_by_kind().items())
        print(f"failed {len(summary.failures)}: {kinds} (see {os.path.join(output_dir, 'failures.csv')})")
    if summary.videos_decoded and summary.seconds > 0:
        print(f"decoded {summary.videos_decoded} videos in {summary.seconds:.1f} s "
              f"({summary.videos_decoded / summary.seconds:.2f} videos/s)")
    if not summary.converted:
        print("nothing could be converted; dataset.json was not written", file=sys.stderr)


def _run_synthetic(args: argparse.Namespace) -> int:
    _require_positive(args, "num_videos", "workers", "max_seconds", "width", "height")
    from data_tools.synthetic import generate_videos

    return _generate("synthetic", args.output_dir, lambda: generate_videos(
        args.output_dir, args.num_videos, args.seed, workers=args.workers, max_seconds=args.max_seconds,
        width=args.width, height=args.height, clutter=args.clutter))


def _run_synthetic_esc50(args: argparse.Namespace) -> int:
    _require_positive(args, "clips_per_class")
    from data_tools.synthetic import generate_esc50

    return _generate("synthetic_esc50", args.output_dir, lambda: generate_esc50(
        args.output_dir, args.seed, clips_per_class=args.clips_per_class))


def _run_synthetic_dcase2013(args: argparse.Namespace) -> int:
    _require_positive(args, "clips_per_class", "seconds")
    from data_tools.synthetic import generate_dcase2013

    return _generate("synthetic_dcase2013", args.output_dir, lambda: generate_dcase2013(
        args.output_dir, args.seed, clips_per_class=args.clips_per_class, seconds=args.seconds))


def _generate(command: str, output_dir: str, generate: Callable[[], object]) -> int:
    try:
        result = generate()
    except ValueError as e:
        raise _UsageError(f"l3net_data {command}: {e}") from None
    except OSError as e:
        print(f"error: l3net_data {command}: {e}", file=sys.stderr)
        return EXIT_NOTHING_CONVERTED
    print(f"l3net_data {command}: wrote {output_dir}" + (f" ({result})" if isinstance(result, str) else ""))
    return EXIT_OK


def _require_positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if not getattr(args, name) > 0:
            raise _UsageError(f"l3net_data {args.command}: --{name} must be > 0")


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


if __name__ == "__main__":
    sys.exit(main())
