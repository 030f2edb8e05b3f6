"""Data: the on-disk record format and the tf.data AVC sampling pipeline."""
