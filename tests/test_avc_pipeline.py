"""Tests of the AVC input pipeline (`l3net.data.avc_dataset`) and its augmentation ops.

Pairs are checked twice: against the pipeline's metadata and against the decoded content, which
encodes (video, frame) in each frame's colour and (video, sample index) in the audio
(see record_fixtures), so a wrong gather or a mislabelled pair cannot hide behind metadata.
"""

from __future__ import annotations

import fractions
import os
from typing import Dict, List

import av
import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

import record_fixtures as rf
from l3net.data import augmentation, avc_dataset, schema
from l3net.data.config import DataConfig
from l3net.data.schema import DatasetError
from l3net.models.config import ModelConfig

FPS = 10.0
RATE = 8000


def _config(**overrides) -> DataConfig:
    base = dict(batch_size=32, pairs_per_video=4, example_shuffle_buffer=256, video_shuffle_buffer=64,
                augment=False)
    base.update(overrides)
    resize = base.pop("resize_short_side", 40)
    return DataConfig.for_model(ModelConfig(image_size=32, sample_rate=RATE), resize_short_side=resize, **base)


@pytest.fixture(scope="module")
def grid_data(tmp_path_factory) -> Dict[str, object]:
    """6 train + 5 val videos of varied length; one whose frames outlast its audio; portraits."""
    specs = [  # (num_frames, audio seconds, landscape)
        (20, 2.0, True), (12, 1.4, False), (25, 1.2, True),  # 2.5 s of frames, 1.2 s of audio
        (8, 2.6, True), (30, 3.0, False), (15, 1.0, True)]
    records = [rf.fake_video(v, num_frames=n, audio_seconds=a, landscape=land, fps=FPS, sample_rate=RATE,
                             labels=[f"l{v % 3}", "all"]) for v, (n, a, land) in enumerate(specs)]
    records += [rf.fake_video(10 + v, split="val", num_frames=10 + 2 * v, audio_seconds=1.5, fps=FPS,
                              sample_rate=RATE, short_side=80) for v in range(5)]
    data_dir = str(tmp_path_factory.mktemp("grid"))
    rf.write_dataset(data_dir, records, sample_rate=RATE, fps=FPS, short_side=40)
    return {"dir": data_dir, "records": {r.video_id: r for r in records}}


def _pairs(dataset: tf.data.Dataset, batches: int = 1000) -> List[Dict[str, np.ndarray]]:
    """Flattens up to `batches` batches into a list of per-pair numpy dicts (label included)."""
    out = []
    for features, label in dataset.take(batches):
        arrays = {k: v.numpy() for k, v in features.items()}
        arrays["label"] = label.numpy()
        for i in range(len(arrays["label"])):
            out.append({k: v[i] for k, v in arrays.items()})
    return out


def _check_pair(pair: Dict[str, np.ndarray], records, window: int) -> None:
    """Every AVC rule one pair must satisfy, from metadata and from decoded content."""
    frame_id, audio_id = pair["frame_video_id"].decode(), pair["audio_video_id"].decode()
    frame_rec, audio_rec = records[frame_id], records[audio_id]
    video, frame = rf.frame_provenance(pair["image"])
    audio_video, start = rf.audio_provenance(pair["audio"])
    assert video == int(frame_id[3:]) % rf.MAX_VIDEOS and f"vid{audio_video:03d}" == audio_id
    assert frame == round(float(pair["frame_time"]) * frame_rec.fps) and frame < len(frame_rec.frames)
    assert start == round(float(pair["audio_start"]) * audio_rec.sample_rate)
    # On the frame grid of the audio's video, and inside its audio.
    samples_per_frame = audio_rec.sample_rate / audio_rec.fps
    assert start % samples_per_frame == 0
    assert 0 <= start and start + window <= len(audio_rec.audio)
    assert pair["frame_labels"].decode() == ";".join(frame_rec.labels)
    assert pair["audio_labels"].decode() == ";".join(audio_rec.labels)
    if pair["label"] == 1:
        assert audio_id == frame_id
        frame_time, window_start = frame / frame_rec.fps, start / audio_rec.sample_rate
        assert window_start <= frame_time < window_start + window / audio_rec.sample_rate
    else:
        assert audio_id != frame_id and audio_video != int(frame_id[3:])


def test_training_pairs_follow_the_avc_rules(grid_data):
    config = _config()
    pairs = _pairs(avc_dataset(grid_data["dir"], "train", config, training=True, seed=1, with_metadata=True), 8)
    assert len(pairs) == 8 * config.batch_size
    for pair in pairs:
        _check_pair(pair, grid_data["records"], config.num_audio_samples)
    labels = np.array([p["label"] for p in pairs])
    assert 0.4 <= labels.mean() <= 0.6
    frame_videos = {p["frame_video_id"] for p in pairs}
    assert len(frame_videos) == 6
    # The video whose frames outlast its audio (vid002: 2.5 s of frames, 1.2 s of audio) only
    # contributes frames that some window can cover (frame < k_max + 10 = 12).
    assert max(round(float(p["frame_time"]) * FPS) for p in pairs if p["frame_video_id"] == b"vid002") < 12
    # Positive windows are not always the first one: start times vary within videos.
    assert len({float(p["audio_start"]) for p in pairs if p["label"] == 1}) > 5


def test_same_seed_gives_identical_batches_and_another_seed_differs(grid_data):
    config = _config(augment=True, batch_size=16)

    def first_batches(seed: int):
        return [(f["image"].numpy(), f["audio"].numpy(), y.numpy())
                for f, y in avc_dataset(grid_data["dir"], "train", config, training=True, seed=seed).take(2)]

    a, b, c = first_batches(7), first_batches(7), first_batches(8)
    for (ia, aa, ya), (ib, ab, yb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(aa, ab)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))
    # Augmentation is on: images are not the flat JPEG colours scaled to [0, 1] any more.
    assert all(0.0 <= x[0].min() and x[0].max() <= 1.0 and np.abs(x[1]).max() <= 1.0 for x in a)


def test_eval_pairs_are_fixed_finite_and_alternate(grid_data):
    # Val frames are stored at short side 80 for a 40-pixel target: the JPEG `ratio` path.
    config = _config(batch_size=4, pairs_per_video=3)
    records = grid_data["records"]

    def run(**kwargs):
        return avc_dataset(grid_data["dir"], "val", config, training=False, seed=3, with_metadata=True, **kwargs)

    first = _pairs(run())
    second = _pairs(run())
    assert len(first) == 5 * 3
    assert [len(y) for _, y in run()] == [4, 4, 4, 3]
    for p, q in zip(first, second):
        for key in p:
            np.testing.assert_array_equal(p[key], q[key])
    assert [int(p["label"]) for p in first] == [1, 0] * 7 + [1]
    file_order = [schema.VideoRecord.from_example_bytes(r.numpy()).video_id
                  for r in tf.data.TFRecordDataset(schema.shard_paths(grid_data["dir"], "val"))]
    assert sorted(file_order) == [f"vid{10 + v:03d}" for v in range(5)]
    assert [p["frame_video_id"].decode() for p in first] == [v for v in file_order for _ in range(3)]
    for pair in first:
        _check_pair(pair, records, config.num_audio_samples)
    capped = _pairs(run(num_pairs=7))
    assert len(capped) == 7
    np.testing.assert_array_equal(capped[6]["image"], first[6]["image"])
    other_seed = _pairs(avc_dataset(grid_data["dir"], "val", config, training=False, seed=4, with_metadata=True))
    assert [p["frame_time"] for p in other_seed] != [p["frame_time"] for p in first]


@pytest.mark.parametrize("num_videos", [17, 33])
def test_eval_windows_leave_no_video_without_a_partner(tmp_path, num_videos):
    # 17 and 33 videos: the split's remainder (one video) must join the last window of 16.
    records = [rf.fake_video(v, num_frames=3, audio_seconds=1.0, fps=FPS, sample_rate=RATE, short_side=16)
               for v in range(num_videos)]
    rf.write_dataset(str(tmp_path), records, sample_rate=RATE, fps=FPS, short_side=16, shards_per_split=3)
    config = DataConfig.for_model(ModelConfig(image_size=16, sample_rate=RATE), resize_short_side=16,
                                  batch_size=64, pairs_per_video=2)
    pairs = _pairs(avc_dataset(str(tmp_path), "train", config, training=False, with_metadata=True))
    assert len(pairs) == 2 * num_videos
    assert [int(p["label"]) for p in pairs] == [1, 0] * num_videos
    by_id = {r.video_id: r for r in records}
    for pair in pairs:
        _check_pair(pair, by_id, config.num_audio_samples)
    assert len({p["frame_video_id"] for p in pairs}) == num_videos


def test_output_matches_the_model_input_contract(tmp_path):
    model = ModelConfig(image_size=64, sample_rate=16000)
    records = [rf.fake_video(v, num_frames=12, audio_seconds=1.5, sample_rate=16000, short_side=73) for v in range(3)]
    rf.write_dataset(str(tmp_path), records, sample_rate=16000, fps=FPS, short_side=73, shards_per_split=1)
    config = DataConfig.for_model(model, batch_size=8, example_shuffle_buffer=64)
    assert config.resize_short_side == 73 and config.augment
    dataset = avc_dataset(str(tmp_path), "train", config, training=True)
    image_spec, audio_spec = dataset.element_spec[0]["image"], dataset.element_spec[0]["audio"]
    assert image_spec.shape.as_list() == [8, 64, 64, 3] and image_spec.dtype == tf.float32
    assert audio_spec.shape.as_list() == [8, model.num_audio_samples] and audio_spec.dtype == tf.float32
    assert set(dataset.element_spec[0]) == {"image", "audio"}
    for features, label in dataset.take(3):
        assert label.dtype == tf.int32 and set(np.unique(label.numpy())) <= {0, 1}
        image, audio = features["image"].numpy(), features["audio"].numpy()
        assert image.shape == (8, 64, 64, 3) and 0.0 <= image.min() and image.max() <= 1.0
        assert audio.shape == (8, 16000) and np.abs(audio).max() <= 1.0


def test_short_videos_and_two_video_splits(tmp_path):
    # 3 frames (0.3 s) and audio padded to 1 s; with only two videos with frames every training
    # window repeats them, and negatives must still come from another one.
    # A third record without frames only lends its audio to negatives.
    records = [rf.fake_video(v, num_frames=3 if v < 2 else 0, audio_seconds=0.5, fps=FPS, sample_rate=RATE)
               for v in range(3)]
    rf.write_dataset(str(tmp_path), records, sample_rate=RATE, fps=FPS, short_side=40)
    by_id = {r.video_id: r for r in records}
    config = _config(batch_size=16)
    train = _pairs(avc_dataset(str(tmp_path), "train", config, training=True, seed=5, with_metadata=True), 4)
    assert len(train) == 64 and 0.3 <= np.mean([p["label"] for p in train]) <= 0.7
    evaluation = _pairs(avc_dataset(str(tmp_path), "train", config, training=False, with_metadata=True))
    assert len(evaluation) == 2 * config.pairs_per_video
    assert {p["frame_video_id"] for p in train + evaluation} == {b"vid000", b"vid001"}
    for pair in train + evaluation:
        _check_pair(pair, by_id, config.num_audio_samples)
        assert float(pair["audio_start"]) == 0.0  # the only window inside 1 s of audio
    # A model window longer than the stored audio (1.5 s > 1 s): zero-padded, as the converter pads.
    long_window = DataConfig.for_model(ModelConfig(image_size=32, sample_rate=RATE, audio_seconds=1.5),
                                       resize_short_side=40, batch_size=8)
    for features, _ in avc_dataset(str(tmp_path), "train", long_window, training=False):
        audio = features["audio"].numpy()
        assert audio.shape == (8, 12000)
        for clip in audio:
            assert rf.audio_provenance(clip[:RATE])[1] == 0
            np.testing.assert_array_equal(clip[RATE:], 0.0)


def test_data_errors_are_one_clear_line(grid_data, tmp_path):
    with pytest.raises(DatasetError, match="--sample_rate 16000") as err:
        avc_dataset(grid_data["dir"], "train", DataConfig.for_model(ModelConfig(image_size=32, sample_rate=16000)),
                    training=True)
    assert grid_data["dir"] in str(err.value) and "\n" not in str(err.value)
    missing = os.path.join(str(tmp_path), "nowhere")
    with pytest.raises(DatasetError, match="no such directory") as err:
        avc_dataset(missing, "train", _config(), training=True)
    assert missing in str(err.value)
    with pytest.raises(DatasetError, match="has no videos"):
        avc_dataset(grid_data["dir"], "test", _config(), training=False)
    single = os.path.join(str(tmp_path), "single")
    rf.write_dataset(single, [rf.fake_video(0, sample_rate=RATE)], sample_rate=RATE, fps=FPS, short_side=40)
    with pytest.raises(DatasetError, match="at least 2"):
        avc_dataset(single, "train", _config(), training=True)
    with pytest.raises(ValueError, match="num_pairs"):
        avc_dataset(grid_data["dir"], "val", _config(), training=False, num_pairs=0)


def _smooth_jpeg(height: int, width: int) -> bytes:
    """A smooth RGB gradient (JPEG-friendly, non-symmetric) as JPEG bytes."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([255 * x / width, 255 * y / height, 128 + 100 * np.sin(x / 7.0 + y / 11.0)], axis=-1)
    return tf.io.encode_jpeg(tf.constant(np.clip(image, 0, 255).astype(np.uint8)), quality=98).numpy()


@pytest.mark.parametrize("flip", [False, True])
def test_resample_path_matches_resize_then_crop(flip):
    jpeg = _smooth_jpeg(60, 90)
    decoded = tf.io.decode_jpeg(jpeg, channels=3).numpy().astype(np.float64)
    image_size, short = 32, 45  # 60 x 90 -> 45 x 68 (virtually), crop 32 at fraction (0.25, 0.75)
    got = augmentation.decode_frame(tf.constant(jpeg), tf.constant([0.25, 0.75]), tf.constant(flip),
                                    image_size=image_size, resize_short_side=short, ratio=1).numpy()
    resized_h, resized_w = 45, 68
    oy, ox = int(0.25 * (resized_h - image_size + 1)), int(0.75 * (resized_w - image_size + 1))
    # Independent reference: half-pixel-centre bilinear resampling with scipy, then crop.
    rows = (np.arange(oy, oy + image_size) + 0.5) * 60 / resized_h - 0.5
    cols = (np.arange(ox, ox + image_size) + 0.5) * 90 / resized_w - 0.5
    grid_r, grid_c = np.meshgrid(rows, cols, indexing="ij")
    want = np.stack([scipy.ndimage.map_coordinates(decoded[..., c], [grid_r, grid_c], order=1, mode="nearest")
                     for c in range(3)], axis=-1)
    if flip:
        want = want[:, ::-1]
    np.testing.assert_allclose(got, want, atol=1.0)


def test_crop_in_place_path_and_decode_ratio():
    jpeg = _smooth_jpeg(40, 70)
    decoded = tf.io.decode_jpeg(jpeg, channels=3).numpy().astype(np.float32)
    got = augmentation.decode_frame(tf.constant(jpeg), tf.constant([0.5, 0.5]), tf.constant(True),
                                    image_size=32, resize_short_side=40, ratio=1).numpy()
    np.testing.assert_array_equal(got, decoded[4:36, 19:51][:, ::-1])
    assert [augmentation.jpeg_decode_ratio(s, t) for s, t in [(256, 256), (256, 73), (256, 128), (256, 129),
                                                                (1024, 100), (100, 256)]] == [1, 2, 2, 1, 8, 1]
    # Ratio decode (80 -> 40 px at ratio 2) resamples to the same picture as a full decode.
    big = _smooth_jpeg(80, 120)
    fast = augmentation.decode_frame(tf.constant(big), tf.constant([0.5, 0.5]), tf.constant(False),
                                     image_size=32, resize_short_side=40, ratio=2).numpy()
    slow = augmentation.decode_frame(tf.constant(big), tf.constant([0.5, 0.5]), tf.constant(False),
                                     image_size=32, resize_short_side=40, ratio=1).numpy()
    assert np.abs(fast - slow).mean() < 3.0


def test_frames_jpeg_encoded_like_the_converter_decode_on_both_paths():
    # The converter writes frames with FFmpeg's MJPEG encoder (yuvj420p) through PyAV.
    y, x = np.mgrid[0:40, 0:70]
    rgb = np.stack([255 * x / 70, 255 * y / 40, 128 + 100 * np.sin(x / 7 + y / 11)], -1).clip(0, 255).astype(np.uint8)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 70, 40, "yuvj420p"
    encoder.time_base = fractions.Fraction(1, 1000)
    encoder.options = {"qmin": "2", "qmax": "2"}
    encoder.open()
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    frame.pts = 0
    jpeg = b"".join(bytes(p) for p in encoder.encode(frame))
    full = tf.io.decode_jpeg(jpeg, channels=3).numpy().astype(np.float32)
    assert np.abs(full - rgb).mean() < 4.0
    in_place = augmentation.decode_frame(tf.constant(jpeg), tf.constant([0.5, 0.5]), tf.constant(False),
                                         image_size=32, resize_short_side=40, ratio=1).numpy()
    np.testing.assert_array_equal(in_place, full[4:36, 19:51])
    resampled = augmentation.decode_frame(tf.constant(jpeg), tf.constant([0.5, 0.5]), tf.constant(False),
                                          image_size=16, resize_short_side=20, ratio=2).numpy()
    assert resampled.shape == (16, 16, 3) and np.abs(resampled - full[4:36:2, 20:52:2]).mean() < 6.0


def test_colour_jitter_and_gain_match_numpy():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    params = {k: v.numpy() for k, v in augmentation.draw_params(tf.constant([3, 4], tf.int64), 200).items()}
    assert params["crop"].min() >= 0 and params["crop"].max() < 1 and 0.3 < params["flip"].mean() < 0.7
    assert np.all(np.abs(params["brightness"]) <= augmentation.BRIGHTNESS_DELTA)
    assert params["gain"].min() >= 0.9 and params["gain"].max() <= 1.1 and np.ptp(params["gain"]) > 0.1
    for i in range(3):
        got = augmentation.finish_image(tf.constant(image), params["colour"][i], params["brightness"][i]).numpy()
        # Independent reference: find the saturation the matrix encodes from its diagonal,
        # then blend each pixel with its BT.601 grey value and add the brightness.
        luma = np.array([0.299, 0.587, 0.114])
        saturation = (params["colour"][i][0, 0] * 255.0 - luma[0]) / (1.0 - luma[0])
        assert 0.5 <= saturation <= 1.5
        grey = image @ luma
        blended = saturation * image + (1 - saturation) * grey[..., None]
        want = np.clip(blended / 255.0 + params["brightness"][i], 0, 1)
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(augmentation.finish_image(tf.constant(image)).numpy(), image / 255.0, atol=1e-7)
    samples = rng.uniform(-20000, 20000, 64).astype("<i2")
    audio = augmentation.decode_audio(tf.constant(samples.tobytes()), 64, tf.constant(1.05)).numpy()
    np.testing.assert_allclose(audio, samples / 32768.0 * 1.05, rtol=1e-5)
    loud = np.full(64, 32000, "<i2")
    np.testing.assert_array_equal(augmentation.decode_audio(tf.constant(loud.tobytes()), 64, tf.constant(1.1)), 1.0)


def test_shares_label_reads_semicolon_joined_labels():
    from l3net.data.pair_sampling import shares_label

    got = shares_label(tf.constant(["a;x", "a", "b", "", "c;x"])).numpy()
    want = np.array([[1, 1, 0, 0, 1],
                     [1, 1, 0, 0, 0],
                     [0, 0, 1, 0, 0],
                     [0, 0, 0, 0, 0],   # no labels: shares nothing, not even with itself
                     [1, 0, 0, 0, 1]], bool)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("label_disjoint", [False, True])
def test_label_disjoint_negatives_never_pair_videos_of_a_shared_label(label_disjoint):
    from l3net.data.pair_sampling import pair_window

    labels = ["dog", "dog;bark", "cat", "", "cat;dog", "car", "car", "bird"]
    k, p = len(labels), 16
    draws = {"video_id": tf.constant([f"v{i}" for i in range(k)]), "video_index": tf.range(k, dtype=tf.int64),
             "labels": tf.constant(labels), "has_frames": tf.ones([k], tf.bool),
             "positive": tf.constant(np.arange(k * p).reshape(k, p) % 2 == 0),
             "jpeg": tf.constant([[f"v{i}" for _ in range(p)] for i in range(k)]),
             "audio": tf.constant([[f"v{i}" for _ in range(p)] for i in range(k)]),
             "frame_time": tf.zeros([k, p]), "audio_start": tf.zeros([k, p])}
    sharing = 0
    for seed in range(5):
        pairs = pair_window(draws, seed=seed, with_metadata=True, label_disjoint=label_disjoint)
        for frame, audio, positive in zip(pairs["frame_labels"].numpy(), pairs["audio_labels"].numpy(),
                                          pairs["label"].numpy()):
            shared = set(filter(None, frame.decode().split(";"))) & set(filter(None, audio.decode().split(";")))
            if not positive:
                sharing += bool(shared)
        negatives = int((pairs["label"].numpy() == 0).sum())
        assert negatives == k * p // 2  # every video has a label-disjoint partner here: none dropped
    assert (sharing == 0) if label_disjoint else (sharing > 0)


@pytest.mark.parametrize("batch_negatives", [False, True])
def test_label_disjoint_negatives_with_and_without_batch_negatives(batch_negatives):
    """Both ways the option reaches the data config; with batch negatives the task also leaves
    same-label cross pairs out of its loss (tests/test_batch_negatives.py, test_train.py)."""
    from l3net.tasks.avc import AvcTask, data_config_from_settings

    settings = dict(batch_size=8, pairs_per_video=2, video_shuffle_buffer=4, example_shuffle_buffer=4,
                    resize_short_side=0, hue_jitter=0.0, spectral_tilt=0.0, gain_db=0.0, augment=False,
                    label_disjoint_negatives=True, batch_negatives=batch_negatives)
    model_cfg = ModelConfig(image_size=32, sample_rate=RATE)
    data_cfg = data_config_from_settings(settings, model_cfg)
    assert data_cfg.label_disjoint_negatives
    assert AvcTask(model_cfg, data_cfg, 8, batch_negatives=batch_negatives).label_disjoint is batch_negatives


def test_label_disjoint_option_reaches_training_pairs_only(tmp_path):
    records = [rf.fake_video(v, num_frames=20, audio_seconds=2.0, fps=FPS, sample_rate=RATE, labels=[f"k{v % 3}"])
               for v in range(9)]
    rf.write_dataset(str(tmp_path), records, sample_rate=RATE, fps=FPS, short_side=40)
    disjoint = _config(label_disjoint_negatives=True)
    train = _pairs(avc_dataset(str(tmp_path), "train", disjoint, training=True, seed=2, with_metadata=True), 8)
    negatives = [p for p in train if p["label"] == 0]
    assert len(negatives) > 50
    assert all(p["frame_labels"] != p["audio_labels"] for p in negatives)
    plain = _pairs(avc_dataset(str(tmp_path), "train", _config(), training=True, seed=2, with_metadata=True), 8)
    assert any(p["frame_labels"] == p["audio_labels"] for p in plain if p["label"] == 0)
    evaluation = [_pairs(avc_dataset(str(tmp_path), "train", c, training=False, seed=2, with_metadata=True))
                  for c in (disjoint, _config())]
    assert [p["audio_video_id"] for p in evaluation[0]] == [p["audio_video_id"] for p in evaluation[1]]


def test_pitch_shift_changes_only_the_audio_of_training_pairs(grid_data):
    plain, shifted = _config(augment=True, batch_size=16), _config(augment=True, batch_size=16, pitch_shift=3.0)

    def batches(config: DataConfig, training: bool):
        return _pairs(avc_dataset(grid_data["dir"], "train", config, training=training, seed=5,
                                  with_metadata=True), 3)

    a, b = batches(plain, True), batches(shifted, True)
    assert len(a) == len(b) == 48
    for pa, pb in zip(a, b):
        # Same frames, windows, partners and labels: the shift draws from a stream of its own.
        for key in ("image", "label", "frame_video_id", "audio_video_id", "frame_time", "audio_start"):
            np.testing.assert_array_equal(pa[key], pb[key])
        assert pb["audio"].shape == (plain.num_audio_samples,) and np.abs(pb["audio"]).max() <= 1.0
    assert sum(not np.allclose(pa["audio"], pb["audio"]) for pa, pb in zip(a, b)) > 40
    # Evaluation pairs never shift.
    for pa, pb in zip(batches(plain, False), batches(shifted, False)):
        np.testing.assert_array_equal(pa["audio"], pb["audio"])
