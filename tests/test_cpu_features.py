"""Reading the CPU's bfloat16 instruction sets from /proc/cpuinfo (what picks the demo's recipe)."""

from l3net.cpu_features import bfloat16_instructions, cpu_flags

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512_bf16 avx512_vnni
bugs\t\t: sysret_ss_attrs

processor\t: 1
flags\t\t: fpu avx2
"""


def test_the_first_flags_line_names_the_instructions(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert cpu_flags(str(path))[:2] == ["fpu", "vme"] and "avx512f" in cpu_flags(str(path))
    assert bfloat16_instructions(str(path)) == ["avx512_bf16"]
    path.write_text(CPUINFO.replace("avx512_bf16 ", "").replace("avx512_vnni", "avx512_vnni amx_bf16 amx_tile"))
    assert bfloat16_instructions(str(path)) == ["amx_bf16"]


def test_cpus_without_them_or_without_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.replace("avx512_bf16 ", ""))
    assert bfloat16_instructions(str(path)) == []
    assert cpu_flags(str(tmp_path / "missing")) == [] and bfloat16_instructions(str(tmp_path / "missing")) == []
