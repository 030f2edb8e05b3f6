"""Data: the on-disk record format and the tf.data AVC sampling pipeline."""

# `avc_dataset` is exported lazily: `l3net.data.schema` is imported by converter worker
# processes that must not pay for importing TensorFlow.
__all__ = ["avc_dataset"]


def __getattr__(name: str):
    if name == "avc_dataset":
        from l3net.data.avc_pipeline import avc_dataset

        return avc_dataset
    raise AttributeError(f"module 'l3net.data' has no attribute {name!r}")
