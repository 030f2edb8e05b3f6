"""Localising objects that sound with AVOL-Net: heat-maps, overlays and a localisation score.

Modules (one job each):
  frame_inputs           frames + the audio centred on them, whole frames sized to whole cells
  cell_maps              batched localizer runs -> per-cell logit maps and AVC probabilities
  heatmaps               bilinear upsampling, colour overlays, box outlines, PNG writing
  annotations            the synthetic generator's boxes, per converted frame (matched by source path)
  localization_metrics   pointing game, IoU at a threshold, the centre baseline map
  localization_report    per-frame scoring and the `evaluation` section of localization.json
  animation              --video: decode a file, write the overlaid frames as MP4 with its audio
  localize_cli           the `l3net_localize` command
"""
