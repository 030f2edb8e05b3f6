"""Embeddings of your own sounds, images and videos from a trained model (Python API and CLI).

Modules:
  embedder       get_embedder: an export or model directory's embedding networks, loaded once, cached
  exported       ExportedEmbedder: an `l3net_export` directory's SavedModels (no Keras rebuild)
  audio_windows  streaming the model's windows out of audio blocks (bounded memory)
  shared_stream  the one window-embedding loop: segments of shared conv maps, or exact windows
  media          decoding images and video frames with PyAV
  image_size     an image's size from its header, before decoding (refusing absurd sizes)
  failures       per-file failures of a many-file run, reported together at the end
  api            get_audio_embedding, process_audio_file, get_image_embedding, process_image_file,
                 get_video_embedding, process_video_file, get_output_path: OpenL3's API (all
                 but get_output_path also importable from `l3net`)
  cli            `l3net_embed audio|image|video FILES_OR_DIRS... --model X`
The HEAR 2021 API over the same embedders is l3net.hear.
"""
