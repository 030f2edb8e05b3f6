"""bfloat16 compute for the models built inside a block (Keras' mixed_bfloat16 policy).

Why a block: Keras' dtype policy is process-wide and is read when a layer is built, so a model
built (or loaded) inside `bfloat16_compute(True)` computes in bfloat16 with float32 weights for
its whole life, and everything built after the block is float32 again — in-process callers (tests,
the Python API, the demo's later stages) must not inherit it. Used by training
(`l3net_train --mixed_precision`), embedding (`get_embedder(..., bfloat16=True)`) and the probe
(`l3net_probe --bfloat16`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

BFLOAT16_POLICY = "mixed_bfloat16"


@contextlib.contextmanager
def bfloat16_compute(enabled: bool = True) -> Iterator[None]:
    """Keras' global dtype policy is mixed_bfloat16 inside the block when `enabled`; restored after."""
    import keras

    previous = keras.mixed_precision.dtype_policy()
    if enabled:
        keras.mixed_precision.set_dtype_policy(BFLOAT16_POLICY)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def emulated_bfloat16_note(what: str) -> Optional[str]:
    """A one-line note when `what` computes in bfloat16 on a CPU without bfloat16 instructions (there it
    is emulated and slower than float32), else None (a GPU, or a CPU with avx512_bf16 / amx_bf16)."""
    import tensorflow as tf

    from l3net.cpu_features import BFLOAT16_FLAGS, bfloat16_instructions

    if tf.config.list_physical_devices("GPU") or bfloat16_instructions():
        return None
    return (f"note: {what} on a CPU without bfloat16 instructions ({', '.join(BFLOAT16_FLAGS)}): "
            "bfloat16 is emulated there and slower than float32")
