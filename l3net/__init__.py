"""l3net: audio-visual correspondence learning (L3-Net, AVE-Net) in TensorFlow/Keras."""

__version__ = "0.1.0"

# The embedding API (l3net.embed.api) is imported on first use: `import l3net` stays free of
# TensorFlow, which costs seconds.
_EMBED_API = ("get_audio_embedding", "process_audio_file", "get_image_embedding", "process_image_file",
              "get_video_embedding", "process_video_file")


def __getattr__(name: str):
    if name in _EMBED_API:
        from l3net.embed import api

        return getattr(api, name)
    raise AttributeError(f"module 'l3net' has no attribute {name!r}")
