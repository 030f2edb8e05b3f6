"""What the CPU can do that changes which training recipe is fastest on it.

bfloat16 compute (`l3net_train --mixed_precision`) runs on native instructions where the CPU has
them (x86: AVX512_BF16, AMX-BF16) and is emulated, slower than float32, where it does not. On an
AMD EPYC with AVX512_BF16 (2026-12-07, 2 cores; `bench/train_step.py --sizes demo --batch_norm both
--mixed_precision both`, quiet machine) it made the training step of configs/demo_cpu_bf16.flags'
wide audio tower 1.28x faster (0.156 -> 0.122 s), the narrow demo network's 1.16x; `l3net_demo`
picks its recipe by it.
"""

from __future__ import annotations

from typing import List

# /proc/cpuinfo flag names of x86 bfloat16 instructions TensorFlow's oneDNN kernels use.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = "/proc/cpuinfo"


def cpu_flags(cpuinfo: str = CPUINFO) -> List[str]:
    """The first 'flags' line of `cpuinfo` as a list ([] where there is no such file: not Linux/x86)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return value.split()
    except OSError:
        pass
    return []


def bfloat16_instructions(cpuinfo: str = CPUINFO) -> List[str]:
    """The bfloat16 instruction sets this CPU has, of BFLOAT16_FLAGS (empty: bfloat16 is emulated)."""
    present = set(cpu_flags(cpuinfo))
    return [name for name in BFLOAT16_FLAGS if name in present]
