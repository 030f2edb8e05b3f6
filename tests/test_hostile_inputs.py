"""Hostile inputs to the embedding tools: each gives a correct result or a one-line error naming the file.

One test per input of issue 16 item 6 (README "Hostile inputs"): NaN/Inf samples, a 1-sample
file, 0 frames, 8 channels, 192 kHz, a 3-hour file (streamed, bounded memory), a file whose
extension lies, images of 1 x 1 and 20,000 x 20,000 px, a directory of 1,000 files of which 10
are bad. Fixtures are crafted at test time (tests/hostile_media.py). Peak memory is measured in a
fresh interpreter as VmHWM (/proc/self/status): the peak RSS of that process's own memory. Its
ru_maxrss would not do: Linux carries it over fork and exec, so a child of pytest starts with
pytest's peak.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import hostile_media as hm
import media_fixtures as mf
from l3net import hear
from l3net.audio_files import MAX_CHANNELS, AudioFileError, read_audio
from l3net.embed import api, media
from l3net.embed import cli as embed_cli
from l3net.embed.embedder import get_embedder
from l3net.embed.failures import FilesFailedError
from l3net.embed.image_size import header_size

RATE = 8000  # the tiny model's rate (conftest.TINY)
TOL = 1e-4
# Embeddings of sounds equal to ~1e-6 (another channel layout, another resampling path): the random
# tiny model's log-mel front end magnifies such differences in near-silent bins.
NEAR = {"rtol": 1e-2, "atol": 0.05}


@pytest.fixture(scope="module")
def embedder(tiny_model_dir):
    return get_embedder(tiny_model_dir)


def _tone(seconds: float, rate: int, hz: float = 440.0) -> np.ndarray:
    return mf.tone(seconds, rate, hz, 0.5, 1)[0]


def _peak_rss_mb(code: str) -> dict:
    """Runs `code` in a fresh interpreter; it prints a JSON dict (use `peak()` for the peak RSS in MB)."""
    prelude = ("import json, os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'\n"
               "def peak():\n    with open('/proc/self/status') as f:\n"
               "        return next(int(line.split()[1]) for line in f if line.startswith('VmHWM:')) / 1024\n")
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _one_error_line(capsys) -> list:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("l3net_embed: failed: ")]


def test_nan_and_inf_samples_are_refused_naming_the_file_time_and_channel(embedder, tmp_path, run_cli, capsys):
    # Refused, not replaced: NaN/Inf are no sound (a damaged float file or an upstream bug), and the
    # model's front end would turn them into ordinary-looking numbers (README "Hostile inputs").
    audio = np.stack([_tone(1.0, 44100)] * 3, axis=1)
    audio[4410, 2] = -np.inf
    bad = hm.float_wav(str(tmp_path / "inf.wav"), audio, 44100)
    with pytest.raises(AudioFileError) as info:
        api.embed_audio_file(bad, model=embedder)
    assert str(info.value) == (f"{bad}: non-finite sample (-inf) at 0.1000 s, channel 2: NaN and Inf are not sound "
                               "(a damaged float file?); fix or re-export the audio and re-run")
    nan = _tone(1.0, RATE)
    nan[100] = np.nan
    with pytest.raises(AudioFileError, match=r"non-finite sample \(nan\) at 0.0125 s, channel 0"):
        api.embed_audio_file(hm.float_wav(str(tmp_path / "nan.wav"), nan, RATE), model=embedder)
    for rate in (RATE, 44100):  # arrays, with and without resampling
        with pytest.raises(ValueError, match=r"non-finite value \(nan\) at sample 100"):
            api.get_audio_embedding(nan, rate, embedder)
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at sound 1, sample 100"):
        hear.get_scene_embeddings(np.stack([_tone(1.0, RATE), nan]), hear.L3NetHearModel(embedder))
    out = tmp_path / "out"
    assert run_cli(embed_cli, ["l3net_embed", "audio", bad, "--model", embedder.model_dir,
                               "--output_dir", str(out)]) == 1
    assert _one_error_line(capsys) == [f"l3net_embed: failed: {info.value}"]
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.parametrize("rate", [RATE, 48000, 192000])
def test_a_one_sample_file_gives_one_zero_padded_window(embedder, tmp_path, rate):
    path = hm.float_wav(str(tmp_path / f"one_{rate}.wav"), np.array([0.5], np.float32), rate)
    emb, ts = api.embed_audio_file(path, model=embedder, hop_size=0.1)
    assert emb.shape == (1, 16) and ts.tolist() == [0.0] and np.isfinite(emb).all()
    array_emb, _ = api.get_audio_embedding(np.array([0.5], np.float32), rate, embedder, hop_size=0.1)
    np.testing.assert_allclose(emb, array_emb, atol=TOL)
    heard = read_audio(path, RATE)
    # Shorter than libswresample's filter, yet not lost: round(1 * 8000 / rate) samples, at least 1.
    assert heard.shape == (1,)
    if rate == RATE:
        assert heard[0] == 0.5  # at the model's rate the sample itself (the window is test_embed's business)
    # A few samples at 48 kHz keep their values through the resampler (no silence in their place).
    few = read_audio(hm.float_wav(str(tmp_path / "few.wav"), np.ones(96, np.float32), 48000), RATE)
    assert few.shape == (16,) and np.abs(few - 1).max() < 0.1


def test_zero_frames_or_zero_bytes_are_a_clear_no_audio_error(embedder, tmp_path, run_cli, capsys):
    header_only = hm.float_wav(str(tmp_path / "header_only.wav"), np.zeros(0, np.float32), RATE)
    empty = mf.write_bytes(str(tmp_path / "empty.wav"), b"")
    with pytest.raises(AudioFileError) as info:
        api.embed_audio_file(header_only, model=embedder)
    assert str(info.value) == f"{header_only}: no audio samples (empty or corrupt audio stream)"
    with pytest.raises(AudioFileError, match=r"empty\.wav: empty file: 0 bytes$"):
        api.process_audio_file(empty, model=embedder, output_dir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match=r"^empty audio \(shape \(0,\)\)"):
        api.get_audio_embedding(np.zeros(0, np.float32), RATE, embedder)
    assert run_cli(embed_cli, ["l3net_embed", "audio", header_only, empty, "--model", embedder.model_dir,
                               "--output_dir", str(tmp_path / "out")]) == 1
    assert len(_one_error_line(capsys)) == 2
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_eight_channels_are_averaged_as_openl3_does(embedder, tmp_path):
    tone = _tone(1.0, 44100)
    gains = np.arange(1, 9, dtype=np.float32) / 8
    eight = hm.float_wav(str(tmp_path / "eight.wav"), tone[:, None] * gains, 44100)  # PyAV crashed here before
    mono = hm.float_wav(str(tmp_path / "mono.wav"), tone * gains.mean(), 44100)
    np.testing.assert_allclose(read_audio(eight, RATE), read_audio(mono, RATE), atol=1e-6)
    emb8, ts8 = api.embed_audio_file(eight, model=embedder, hop_size=0.25)
    emb1, ts1 = api.embed_audio_file(mono, model=embedder, hop_size=0.25)
    np.testing.assert_allclose(emb8, emb1, **NEAR)
    np.testing.assert_array_equal(ts8, ts1)
    array8, _ = api.get_audio_embedding(tone[:, None] * gains, 44100, embedder, hop_size=0.25)
    np.testing.assert_allclose(array8, emb1, **NEAR)
    # 64 channels (FFmpeg's resampler's limit) are read; more is a clear error, as is an array of
    # [channels, samples] (OpenL3's is [samples, channels]).
    assert api.embed_audio_file(hm.float_wav(str(tmp_path / "c64.wav"), np.ones((800, 64)) * 0.1, 44100),
                                model=embedder)[0].shape == (1, 16)
    too_many = hm.float_wav(str(tmp_path / "c65.wav"), np.ones((800, MAX_CHANNELS + 1)) * 0.1, 44100)
    with pytest.raises(AudioFileError, match=r"c65\.wav: 65 channels; l3net reads at most 64"):
        api.embed_audio_file(too_many, model=embedder)
    with pytest.raises(ValueError, match=r"transpose a \[channels, samples\] array"):
        api.get_audio_embedding(np.stack([tone, tone]), 44100, embedder)


def test_192_khz_is_resampled_to_the_model_rate(embedder, tmp_path):
    high = hm.float_wav(str(tmp_path / "high.wav"), _tone(2.0, 192000), 192000)
    low = hm.float_wav(str(tmp_path / "low.wav"), _tone(2.0, RATE), RATE)
    heard, want = read_audio(high, RATE), read_audio(low, RATE)
    assert heard.shape == want.shape == (2 * RATE,)
    assert np.abs(heard - want)[100:-100].max() < 1e-3  # the ends: the resampler's transient
    emb_high, ts_high = api.embed_audio_file(high, model=embedder, hop_size=0.25)
    emb_low, ts_low = api.embed_audio_file(low, model=embedder, hop_size=0.25)
    np.testing.assert_array_equal(ts_high, ts_low)
    np.testing.assert_allclose(emb_high[2:-2], emb_low[2:-2], **NEAR)  # windows off the ends (transients)
    np.testing.assert_allclose(emb_high, api.get_audio_embedding(heard, RATE, embedder, hop_size=0.25)[0], **NEAR)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory from /proc (Linux)")
def test_a_three_hour_file_is_streamed_in_bounded_memory(tiny_model_dir, tmp_path):
    # 3 h at 8 kHz is 345 MB as float32: holding the file would show in the peak; streaming holds
    # one block. A burst of tone every 60 s: window 60 k (hop 1 s) must equal window 60 to the end.
    three_hours = hm.long_flac(str(tmp_path / "three_hours.flac"), 3 * 3600)
    one_minute = hm.long_flac(str(tmp_path / "one_minute.flac"), 60)
    out = tmp_path / "three_hours.npy"
    result = _peak_rss_mb(f"""
        import time
        import numpy as np
        from l3net.embed import api
        from l3net.embed.embedder import get_embedder
        embedder = get_embedder({tiny_model_dir!r})
        api.embed_audio_file({one_minute!r}, model=embedder, hop_size=1.0)
        short_peak, start = peak(), time.monotonic()
        emb, ts = api.embed_audio_file({three_hours!r}, model=embedder, hop_size=1.0)
        seconds = time.monotonic() - start
        np.save({str(out)!r}, emb)
        print(json.dumps({{"short": short_peak, "long": peak(), "seconds": seconds, "windows": len(ts),
                          "last": float(ts[-1])}}))
    """)
    print(f"3-hour file: {result}")
    assert result["windows"] == 3 * 3600 + 1 and result["last"] == 3 * 3600.0
    assert result["long"] - result["short"] < 100, result
    emb = np.load(out)
    bursts = emb[60:3 * 3600:60]
    assert bursts.shape[0] == 179
    np.testing.assert_allclose(bursts, np.broadcast_to(emb[60], bursts.shape), atol=TOL)
    np.testing.assert_allclose(emb[-1], emb[30], atol=TOL)  # the end: silence, as between bursts
    assert np.abs(emb[60] - emb[30]).max() > 0.1  # and a burst is not silence


def test_a_file_whose_extension_lies_is_decoded_by_its_content(embedder, tmp_path, run_cli, capsys):
    flac = mf.write_sound(str(tmp_path / "true.flac"), codec="flac", sample_rate=RATE)
    lying = shutil.copy(flac, str(tmp_path / "lying.wav"))
    np.testing.assert_array_equal(api.embed_audio_file(lying, model=embedder)[0],
                                  api.embed_audio_file(flac, model=embedder)[0])
    picture = hm.png(str(tmp_path / "true.png"), 40, 30, rgb=(200, 30, 90))
    jpg = shutil.copy(picture, str(tmp_path / "lying.jpg"))
    np.testing.assert_array_equal(media.read_image(jpg), media.read_image(picture))
    assert header_size(jpg) == (40, 30)
    text = mf.write_bytes(str(tmp_path / "text.wav"), b"not a sound at all\n" * 50)
    sound_as_image = shutil.copy(flac, str(tmp_path / "sound.png"))
    assert run_cli(embed_cli, ["l3net_embed", "audio", text, "--model", embedder.model_dir]) == 1
    assert _one_error_line(capsys) == [f"l3net_embed: failed: {text}: not a readable media file "
                                       "(Invalid data found when processing input)"]
    assert run_cli(embed_cli, ["l3net_embed", "image", str(sound_as_image), "--model", embedder.model_dir]) == 1
    assert _one_error_line(capsys) == [f"l3net_embed: failed: {sound_as_image}: no image in it "
                                       "(no picture stream: a sound file?)"]


def test_a_one_pixel_image_is_resized_like_any_other(embedder, tmp_path, tiny_resize, run_cli):
    pixel = hm.png(str(tmp_path / "pixel.png"), 1, 1, rgb=(10, 200, 30))
    assert media.read_image(pixel).tolist() == [[[10, 200, 30]]]
    uniform = api.get_image_embedding(np.tile(np.array([10, 200, 30], np.uint8), (tiny_resize, tiny_resize, 1)),
                                      model=embedder)
    assert run_cli(embed_cli, ["l3net_embed", "image", pixel, "--model", embedder.model_dir]) == 0
    with np.load(tmp_path / "pixel.npz") as data:
        np.testing.assert_allclose(data["embedding"], uniform, atol=TOL)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory from /proc (Linux)")
def test_huge_images_are_refused_from_the_header_or_shrunk_before_decoding_to_rgb(embedder, tmp_path):
    huge = hm.png(str(tmp_path / "huge.png"), 20000, 20000)  # 76 KB on disk, 1.2 GB as RGB
    large = hm.png(str(tmp_path / "large.png"), 8000, 6000)  # 48 Mpx: 144 MB as RGB, 576 MB as float32
    with pytest.raises(media.MediaFileError) as info:
        media.read_image(huge)
    assert str(info.value) == (f"{huge}: image of 20000 x 20000 px (400 Mpx), above the 100 Mpx l3net decodes; "
                               "shrink it first (the model sees a few hundred pixels), "
                               "e.g. magick IN -resize 4096x4096 OUT")
    with pytest.raises(FilesFailedError) as failed:  # the API's list: the other image is written
        api.process_image_file([huge, large], model=embedder, output_dir=str(tmp_path / "out"))
    assert failed.value.failures == [(huge, str(info.value))]
    assert os.listdir(tmp_path / "out") == ["large.npz"]
    white = api.get_image_embedding(np.full((36, 36, 3), 255, np.uint8), model=embedder)
    with np.load(tmp_path / "out" / "large.npz") as data:
        np.testing.assert_allclose(data["embedding"], white, atol=TOL)  # area-averaged white is white
    result = _peak_rss_mb(f"""
        from l3net.embed import media
        start = peak()
        try:
            media.read_image({huge!r})
        except media.MediaFileError:
            pass
        refused = peak()
        shape = media.read_image({large!r}).shape
        print(json.dumps({{"start": start, "refused": refused, "large": peak(), "shape": shape}}))
    """)
    print(f"huge images: {result}")
    assert result["refused"] - result["start"] < 20, result
    assert result["shape"] == [1773, 2364, 3]  # <= media.DECODED_PIXELS, aspect kept
    assert result["large"] - result["start"] < 60, result  # the 1-bit frame + 12.6 MB of RGB, not 144 MB


def test_a_directory_of_1000_files_with_10_bad_ones(embedder, tmp_path, run_cli, capsys):
    folder = tmp_path / "in"
    os.makedirs(folder / "sub")
    for k in range(990):  # 495 in a subfolder: directories are searched recursively
        hm.good_wav(str(folder / ("sub" if k % 2 else "") / f"g{k:03d}.wav"), k)
    bad = hm.bad_files(str(folder))
    out = tmp_path / "out"
    run_cli(embed_cli, ["l3net_embed", "audio", str(folder / "g000.wav"), "--model", embedder.model_dir,
                        "--output_dir", str(tmp_path / "warm")])  # traced once, so the peak below is the loop's
    capsys.readouterr()
    tracemalloc.start()
    try:
        status = run_cli(embed_cli, ["l3net_embed", "audio", str(folder), "--model", embedder.model_dir,
                                     "--output_dir", str(out), "--hop", "0.25"])
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    captured = capsys.readouterr()
    print(f"1,000 files: exit {status}, peak traced Python/numpy memory {peak_mb:.1f} MB")
    assert status == 1
    assert captured.out.strip() == f"990 of 1000 files embedded into {out}; 10 failed"
    assert len(os.listdir(out)) == 990 and all(name.startswith("g") for name in os.listdir(out))
    failed = [line for line in captured.err.splitlines() if line.startswith("l3net_embed: failed: ")]
    recap = captured.err.split("l3net_embed: 10 of 1000 files failed:\n")[1].splitlines()
    assert len(failed) == len(recap) == 10
    for line, again, (name, reason) in zip(failed, recap, sorted(bad.items())):
        assert line.startswith(f"l3net_embed: failed: {folder / name}: {reason}"), line
        assert again == "l3net_embed:   " + line[len("l3net_embed: failed: "):]
    # Memory does not grow with the number of files (outputs are written, not kept).
    assert peak_mb < 30
    # The Python API over a list: every file is tried, then one error lists the failures.
    files = [str(folder / "g000.wav"), str(folder / "b3_empty.wav"), str(folder / "sub" / "g001.wav")]
    with pytest.raises(FilesFailedError) as info:
        api.process_audio_file(files, model=embedder, output_dir=str(tmp_path / "api"))
    assert [path for path, _ in info.value.failures] == [files[1]] and info.value.total == 3
    assert str(info.value).startswith(f"1 of 3 files failed (the others were written): {files[1]}: empty file")
    assert sorted(os.listdir(tmp_path / "api")) == ["g000.npz", "g001.npz"]


def test_an_unexpected_error_on_one_file_does_not_stop_the_batch(embedder, tmp_path, run_cli, capsys, monkeypatch):
    # A decoder or library bug on one file (not a media error) is reported with its type, like any failure.
    files = [hm.good_wav(str(tmp_path / f"g{k}.wav"), k) for k in range(3)]
    real = api.process_audio_file

    def flaky(path, **kwargs):
        if path == files[1]:
            raise RuntimeError("decoder bug\nsecond line")
        return real(path, **kwargs)

    monkeypatch.setattr(api, "process_audio_file", flaky)
    assert run_cli(embed_cli, ["l3net_embed", "audio", *files, "--model", embedder.model_dir]) == 1
    assert _one_error_line(capsys) == [f"l3net_embed: failed: {files[1]}: error: RuntimeError: decoder bug"]
    assert sorted(os.listdir(tmp_path)) == ["g0.npz", "g0.wav", "g1.wav", "g2.npz", "g2.wav"]
