"""SavedModel export of trained AVC models: one self-contained SavedModel per use.

Modules:
  windows      the audio windowing convention (OpenL3's: centres, hop, padding, counts, timestamps),
               numpy and TF; the one place that decides how audio is cut into windows
  pooled       the L3 paper's pooled conv features (OpenL3's embedding_size 6144 / 8192)
  shared_plan  where each overlapping window's slice lies in a shared conv map (integers only)
  shared_audio a model's audio embeddings of many windows from one shared conv map (and the graph)
  resample     band-limited resampling of a waveform to the model's rate, inside the graph
  images       uint8 image of any size -> the model's [S, S, 3] float input (eval preprocessing)
  signatures   the exported functions and their documented inputs/outputs
  export       `export_model(model_dir, export_dir)`: writes the three SavedModels atomically
  cli          `l3net_export --model_dir M --export_dir X`
"""
