"""SavedModel export of trained AVC models: one self-contained SavedModel per use.

Modules:
  windows      the audio windowing convention (centres, hop, padding, timestamps), numpy and TF
  resample     band-limited resampling of a waveform to the model's rate, inside the graph
  images       uint8 image of any size -> the model's [S, S, 3] float input (eval preprocessing)
  signatures   the exported functions and their documented inputs/outputs
  export       `export_model(model_dir, export_dir)`: writes the three SavedModels atomically
  cli          `l3net_export --model_dir M --export_dir X`
"""
