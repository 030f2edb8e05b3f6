"""`l3net_data`: convert videos into the l3net record format, or generate synthetic data.

  l3net_data convert --manifest videos.csv --output_dir D [--num_shards K --workers W --fps 12
      --sample_rate 48000 --short_side 256 --jpeg_quality 90 --max_seconds 10 --drop_short
      --val_fraction 0.1 --test_fraction 0.1 --timeout_seconds 600]
  l3net_data convert --audioset_csv segments.csv --class_index_csv class_labels_indices.csv
      --video_dir downloads/ --output_dir D [same options]
  l3net_data synthetic --output_dir D --num_videos N --seed S [--workers W --max_seconds 10 --world basic|rich]
  l3net_data synthetic_esc50 --output_dir E [--seed S --clips_per_class 8 --world basic|rich]
  l3net_data synthetic_dcase2013 --output_dir E [--seed S --clips_per_class 10 --seconds 30 --world basic|rich]
  l3net_data real_audio --output_dir E [--seed S --clips_per_class 40 --soundfont F.sf2]
      (real instrument and speech recordings rendered with fluidsynth and espeak-ng, ESC-50 layout)

`l3net_data COMMAND --help` lists the flags of COMMAND with its defaults (a flag such as --seed or
--clips_per_class has a different default per command); a flag of another command is an error.

Exit status: 0 done; 1 nothing could be converted (see D/failures.csv) or a write failed; 2 a
user mistake (bad flag, invalid manifest line, output dir of another conversion), reported on one
line with nothing written; 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import errno
import os
import shlex
import sys
import types
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

from l3net.tensorflow_output import quiet_tensorflow

quiet_tensorflow()

from absl import flags  # noqa: E402

from l3net import cli_flags  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402

TOOL = "l3net_data"
FLAGS = flags.FLAGS
EXIT_OK, EXIT_NOTHING_CONVERTED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# The flags only l3net_data has; those several commands share (output_dir, workers, seed, ...)
# are defined once in l3net.cli_flags. Each flag's default and help are set per sub-command
# from _COMMANDS before the command line is parsed.
_OWN_FLAGS = {
    "manifest": flags.DEFINE_string,
    "audioset_csv": flags.DEFINE_string,
    "class_index_csv": flags.DEFINE_string,
    "video_dir": flags.DEFINE_string,
    "num_shards": flags.DEFINE_integer,
    "jpeg_quality": flags.DEFINE_integer,
    "drop_short": flags.DEFINE_boolean,
    "silence_threshold": flags.DEFINE_float,
    "val_fraction": flags.DEFINE_float,
    "test_fraction": flags.DEFINE_float,
    "width": flags.DEFINE_integer,
    "height": flags.DEFINE_integer,
    "clips_per_class": flags.DEFINE_integer,
    "seconds": flags.DEFINE_float,
    "timeout_seconds": flags.DEFINE_float,
    "soundfont": flags.DEFINE_string,
    "runner": flags.DEFINE_string,
    "beam_options": flags.DEFINE_string,
}
for _name, _define in _OWN_FLAGS.items():
    _define(_name, None, "l3net_data flag; `l3net_data COMMAND --help` gives its meaning and default.")

REQUIRED = object()  # as a default in _COMMANDS: the flag must be given

# Sub-command -> its flags -> (default, help). The single source of the flags' defaults, of
# their required-ness and of which command accepts which flag.
_COMMANDS: Dict[str, Dict[str, Tuple[Any, str]]] = {
    "convert": {
        "manifest": (None, "CSV with columns path,labels[,split][,id]; labels `;`-separated. "
                           "Give it, or --audioset_csv with --class_index_csv and --video_dir."),
        "audioset_csv": (None, "AudioSet segments CSV (YTID, start_seconds, end_seconds, labels)."),
        "class_index_csv": (None, "AudioSet class index CSV (index,mid,display_name)."),
        "video_dir": (None, "Folder with the AudioSet downloads, named {YTID}.* or {YTID}_{start}*."),
        "output_dir": (REQUIRED, "Dataset folder to write (resumable)."),
        "num_shards": (0, "Shards per split (capped by its video count); 0 = one per 64 videos."),
        "workers": (_cpu_count(), "Decoding processes (default: the number of CPUs this process may use)."),
        "fps": (12.0, "Stored frames per second."),
        "sample_rate": (48000, "Hz of the stored mono audio."),
        "short_side": (256, "Frames are resized to this short side (pixels)."),
        "jpeg_quality": (90, "JPEG quality of the stored frames, 1-100, libjpeg-like."),
        "max_seconds": (10.0, "Seconds converted from the start of each video/segment; 0 = all."),
        "drop_short": (False, "Drop videos with < 1 s of audio instead of zero-padding them."),
        "silence_threshold": (1e-3, "Audio peaking below this fraction of full scale counts as silent."),
        "val_fraction": (0.1, "Share of videos without a split cell assigned to val (by id hash)."),
        "test_fraction": (0.1, "Share of videos without a split cell assigned to test (by id hash)."),
        "timeout_seconds": (600.0, "Per-video time limit: a video still decoding after this long (a hung or "
                                   "absurdly slow decoder) is listed in failures.csv as `timeout` and the run goes on; "
                                   "0 = none. Raise it to convert whole long videos (--max_seconds 0)."),
        "runner": (None, "Convert on this Apache Beam runner instead of the local process pool (DirectRunner: "
                         "--workers processes; needs `pip install l3net[beam]`). The same records, failures.csv "
                         "and dataset.json; --output_dir may then be any tf.io.gfile path (gs://...)."),
        "beam_options": ("", "Beam pipeline options, one string, e.g. \"--runner=FlinkRunner "
                             "--flink_master=host:8081\" (implies a Beam run; its --runner wins over --runner)."),
    },
    "synthetic": {
        "output_dir": (REQUIRED, "Folder for the videos and labels.csv."),
        "num_videos": (REQUIRED, "Videos to generate."),
        "seed": (REQUIRED, "Same seed, same videos."),
        "workers": (1, "Rendering processes."),
        "max_seconds": (10.0, "Length of each video (s)."),
        "width": (160, "Frame width (pixels)."),
        "height": (120, "Frame height (pixels)."),
        "clutter": (1.0, "0..1: how often videos get a second sounding object, an off-screen sound and "
                         "silent distractors (1 = the full world)."),
        "world": ("basic", "Sound world: basic (10 classes, one timbre each) or rich (+ instruments and a "
                           "voice, overlapping pitch ranges, backdrops that go with the background sound)."),
    },
    "synthetic_esc50": {
        "output_dir": (REQUIRED, "Folder for audio/ and meta/esc50.csv."),
        "seed": (0, "Same seed, same clips."),
        "clips_per_class": (8, "5 s clips per class."),
        "world": ("basic", "Sound world whose classes are the categories: basic or rich (see synthetic)."),
    },
    "synthetic_dcase2013": {
        "output_dir": (REQUIRED, "Folder for the scene recordings."),
        "seed": (0, "Same seed, same clips."),
        "clips_per_class": (10, "Recordings per scene class."),
        "seconds": (30.0, "Length of each recording (s)."),
        "world": ("basic", "Sound world the scenes' sources come from: basic or rich (see synthetic)."),
    },
    "real_audio": {
        "output_dir": (REQUIRED, "Folder for audio/, meta/esc50.csv and real_audio.json (built in a temporary "
                                 "folder, then renamed into place; the same set already there is reused)."),
        "seed": (0, "Same seed, same bytes."),
        "clips_per_class": (40, "5 s clips per class (40 = 8 per class and fold, as ESC-50: 212 MB)."),
        "soundfont": (None, "General MIDI .sf2 (default: /usr/share/sounds/sf2/FluidR3_GM.sf2, from the "
                            "fluid-soundfont-gm package)."),
    },
}
_ALL_FLAGS = tuple(dict.fromkeys(name for uses in _COMMANDS.values() for name in uses))


Declared = Dict[str, cli_flags.SharedFlag]


def _declarations(command: Optional[str]) -> Tuple[Declared, Declared]:
    """(shared flags, own flags) with the defaults and help texts of `command`; for None (no
    command given) all flags, each help text naming every command's meaning and default."""
    if command is not None:
        declared = {name: (None, f"{text} (required)") if default is REQUIRED else (default, text)
                    for name, (default, text) in _COMMANDS[command].items()}
    else:
        declared = {name: (None, "; ".join(f"{cmd}: {uses[name][1]}{_default_text(uses[name][0])}"
                                           for cmd, uses in _COMMANDS.items() if name in uses))
                    for name in _ALL_FLAGS}
    shared = cli_flags.uses(**{n: d for n, d in declared.items() if n in cli_flags.SHARED_FLAGS})
    own = {n: cli_flags.SharedFlag(*d) for n, d in declared.items() if n not in cli_flags.SHARED_FLAGS}
    return shared, own


def _default_text(default: Any) -> str:
    if default is REQUIRED:
        return " (required)"
    return "" if default is None else f" (default: {default})"


def _command_of(args: Sequence[str]) -> Optional[str]:
    """The sub-command if it is the first argument (then --help shows its flags and defaults)."""
    return args[0] if args and args[0] in _COMMANDS else None


def run() -> None:
    """Console-script entry point (`l3net_data`)."""
    shared, own = _declarations(_command_of(sys.argv[1:]))
    cli_flags.apply(own)
    for name in own:  # --help lists the command's own flags, run_tool adds its shared ones
        FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
    run_tool(TOOL, _main, __doc__, [], shared=shared)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs `l3net_data` in this process with `argv`, the arguments after the program name
    (`main(["convert", "--manifest", "m.csv", ...])`); returns the exit status.

    Parses the flags itself, as `run` does; afterwards the flags are unparsed and their defaults
    and help texts restored, so it can be called repeatedly and leaves no state behind for other
    commands run in the same process (tests). A usage mistake prints the same one line as the
    command and returns 2. Without `argv` it is the console script (`run`, which exits):
    console-script wrappers installed as `l3net_data=data_tools.cli:main` keep working.
    """
    if argv is None:
        run()
    shared, own = _declarations(_command_of(argv))
    declared = {**shared, **own}
    before = {name: cli_flags.SharedFlag(FLAGS[name].default, FLAGS[name].help) for name in declared}
    FLAGS.unparse_flags()
    cli_flags.apply(declared)
    try:
        return _main(_parse_flags([TOOL, *argv]))
    except SystemExit as e:  # `fail`: one line printed, status 2
        return e.code
    finally:
        FLAGS.unparse_flags()
        cli_flags.apply(before)


def _parse_flags(argv: List[str]) -> List[str]:
    """`l3net.command_line.flags_parser`, but naming an unknown flag as typed (`--bogus`)."""
    try:
        return FLAGS(argv)
    except flags.UnrecognizedFlagError as e:
        fail(TOOL, str(e).replace(f"Unknown command line flag '{e.flagname}'", f"unknown flag --{e.flagname}"))
    except flags.Error as e:
        fail(TOOL, str(e).splitlines()[0])


def _main(argv: List[str]) -> int:
    """argv: [program, COMMAND] once absl has taken the flags out."""
    command = _check_command(argv[1:])
    options = _options(command)
    try:
        return _RUN[command](options)
    except KeyboardInterrupt:
        print(f"{TOOL}: interrupted; re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _check_command(args: Sequence[str]) -> str:
    commands = " | ".join(_COMMANDS)
    if not args:
        fail(TOOL, f"give a command: {commands} (see --help)")
    if args[0] not in _COMMANDS:
        fail(TOOL, f"unknown command {args[0]!r}: give one of {commands} (see --help)")
    if len(args) > 1:
        fail(TOOL, f"{args[0]}: unexpected argument {args[1]!r} (flags are --name value)")
    return args[0]


def _options(command: str) -> types.SimpleNamespace:
    """The command's flag values: given on the command line, else the command's default.

    Per-command defaults are resolved here (not only by `run`'s pre-parse defaults), so values do
    not depend on where on the command line the command name stood.
    """
    uses = _COMMANDS[command]
    for name in (*_ALL_FLAGS, *cli_flags.SHARED_FLAGS):
        if name not in uses and FLAGS[name].present:
            fail(TOOL, f"{command}: --{name} is not a flag of this command (see {TOOL} {command} --help)")
    values = {}
    for name, (default, _) in uses.items():
        if FLAGS[name].present:
            values[name] = FLAGS[name].value
        elif default is REQUIRED:
            fail(TOOL, f"{command}: --{name} is required")
        else:
            values[name] = default
    return types.SimpleNamespace(command=command, **values)


def _usage_error(command: str, message: str) -> NoReturn:
    fail(TOOL, f"{command}: {message}")


def _run_convert(args: types.SimpleNamespace) -> int:
    from data_tools.beam_convert import BeamUnavailableError
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
        if args.runner or args.beam_options:
            from data_tools.beam_convert import pipeline_arguments, write_dataset_beam

            summary = write_dataset_beam(sources, args.output_dir, ConvertOptions(**options),
                                         pipeline_arguments(args.runner, args.beam_options, args.workers),
                                         num_shards=args.num_shards, val_fraction=args.val_fraction,
                                         test_fraction=args.test_fraction, description=description)
        else:
            summary = write_dataset(sources, args.output_dir, ConvertOptions(**options), num_shards=args.num_shards,
                                    workers=args.workers, val_fraction=args.val_fraction,
                                    test_fraction=args.test_fraction, description=description,
                                    timeout_seconds=args.timeout_seconds)
    except (ManifestError, ConversionStateError, BeamUnavailableError) as e:
        _usage_error("convert", str(e))
    except OSError as e:  # e.g. disk full: finished shards stay valid, a re-run resumes.
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        print(f"{TOOL}: error: convert: cannot write {e.filename or args.output_dir} ({e.strerror or e}); "
              + ("finished shards are intact; free space and " if full else "fix it and ")
              + "re-run the same command to resume", file=sys.stderr)
        return EXIT_NOTHING_CONVERTED
    _print_summary(summary, args.output_dir)
    return EXIT_OK if summary.converted else EXIT_NOTHING_CONVERTED


def _convert_options(args: types.SimpleNamespace) -> dict:
    """Validates the convert flags; returns ConvertOptions keyword arguments."""
    audioset = (args.audioset_csv, args.class_index_csv, args.video_dir)
    if bool(args.manifest) == any(audioset):
        _usage_error("convert", "give either --manifest or --audioset_csv/--class_index_csv/--video_dir")
    if not args.manifest and not all(audioset):
        _usage_error("convert", "--audioset_csv needs --class_index_csv and --video_dir too")
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
        ("--timeout_seconds", args.timeout_seconds >= 0, "must be >= 0 (0 = no limit)"),
    ]
    for flag, ok, what in checks:
        if not ok:
            _usage_error("convert", f"{flag} {what}")
    try:
        shlex.split(args.beam_options or "")
    except ValueError as e:
        _usage_error("convert", f"--beam_options: cannot be split into options ({e}); quote it as one string")
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


def _run_synthetic(args: types.SimpleNamespace) -> int:
    _require_positive(args, "num_videos", "workers", "max_seconds", "width", "height")
    from data_tools.synthetic import generate_videos

    return _generate("synthetic", args.output_dir, lambda: generate_videos(
        args.output_dir, args.num_videos, args.seed, workers=args.workers, max_seconds=args.max_seconds,
        width=args.width, height=args.height, clutter=args.clutter, world=args.world))


def _run_synthetic_esc50(args: types.SimpleNamespace) -> int:
    _require_positive(args, "clips_per_class")
    from data_tools.synthetic import generate_esc50

    return _generate("synthetic_esc50", args.output_dir, lambda: generate_esc50(
        args.output_dir, args.seed, clips_per_class=args.clips_per_class, world=args.world))


def _run_synthetic_dcase2013(args: types.SimpleNamespace) -> int:
    _require_positive(args, "clips_per_class", "seconds")
    from data_tools.synthetic import generate_dcase2013

    return _generate("synthetic_dcase2013", args.output_dir, lambda: generate_dcase2013(
        args.output_dir, args.seed, clips_per_class=args.clips_per_class, seconds=args.seconds,
        world=args.world))


def _run_real_audio(args: types.SimpleNamespace) -> int:
    _require_positive(args, "clips_per_class")
    from data_tools.real_audio import generate_real_audio_set

    return _generate("real_audio", args.output_dir, lambda: str(generate_real_audio_set(
        args.output_dir, args.seed, clips_per_class=args.clips_per_class, soundfont=args.soundfont)))


_RUN: Dict[str, Callable[[types.SimpleNamespace], int]] = {
    "convert": _run_convert,
    "synthetic": _run_synthetic,
    "synthetic_esc50": _run_synthetic_esc50,
    "synthetic_dcase2013": _run_synthetic_dcase2013,
    "real_audio": _run_real_audio,
}


def _generate(command: str, output_dir: str, generate: Callable[[], object]) -> int:
    try:
        result = generate()
    except ValueError as e:
        _usage_error(command, str(e))
    except OSError as e:
        print(f"{TOOL}: error: {command}: {e}", file=sys.stderr)
        return EXIT_NOTHING_CONVERTED
    print(f"{TOOL} {command}: wrote {output_dir}" + (f" ({result})" if isinstance(result, str) else ""))
    return EXIT_OK


def _require_positive(args: types.SimpleNamespace, *names: str) -> None:
    for name in names:
        if not getattr(args, name) > 0:
            _usage_error(args.command, f"--{name} must be > 0")


if __name__ == "__main__":
    run()
