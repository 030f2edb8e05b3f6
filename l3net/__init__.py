"""l3net: audio-visual correspondence learning (L3-Net, AVE-Net) in TensorFlow/Keras."""

__version__ = "0.1.0"
