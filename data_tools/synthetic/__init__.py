"""Procedural audio-visual "sound world": l3net's embedded default datasets.

`generate_videos` writes real MP4 videos (H.264 + AAC) with labels.csv and per-frame
annotations; `generate_esc50` and `generate_dcase2013` write downstream sound / scene
classification sets in the public ESC-50 and DCASE 2013 SCD layouts from the same sources.
"""

from data_tools.synthetic.dcase2013 import generate_dcase2013
from data_tools.synthetic.esc50 import generate_esc50
from data_tools.synthetic.videos import generate_videos

__all__ = ["generate_videos", "generate_esc50", "generate_dcase2013"]
