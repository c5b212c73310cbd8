"""Named architectures. Each is a plain `ArrayConfig`; variants are copies with changes."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from .config import ArrayConfig, MemorySpec

PRESETS: dict[str, ArrayConfig] = {
    "tiny": ArrayConfig(name="tiny", rows=4, cols=4,
                        memory=MemorySpec(ifmap_kib=8, filter_kib=8, ofmap_kib=8,
                                          dram_bytes_per_cycle=4)),
    "sa8": ArrayConfig(name="sa8", rows=8, cols=8,
                       memory=MemorySpec(ifmap_kib=32, filter_kib=32, ofmap_kib=16, dram_bytes_per_cycle=8)),
    "edge": ArrayConfig(name="edge", rows=16, cols=16,
                        memory=MemorySpec(ifmap_kib=64, filter_kib=64, ofmap_kib=32,
                                          dram_bytes_per_cycle=8)),
    "sa32": ArrayConfig(name="sa32", rows=32, cols=32,
                        memory=MemorySpec(ifmap_kib=256, filter_kib=256, ofmap_kib=128,
                                          dram_bytes_per_cycle=16)),
    "sa128": ArrayConfig(name="sa128", rows=128, cols=128,
                         memory=MemorySpec(ifmap_kib=2048, filter_kib=2048, ofmap_kib=1024,
                                           dram_bytes_per_cycle=64)),
    # TPU v1 (Jouppi et al., ISCA 2017): 256×256 int8 MACs, weight stationary with double-buffered
    # weights, 32-bit accumulators, 700 MHz, 24 MiB unified buffer, 4 MiB of accumulators,
    # 30 GiB/s of weight DRAM (≈ 46 bytes per cycle at 700 MHz).
    "tpuv1": ArrayConfig(name="tpuv1", rows=256, cols=256, dataflows=("ws",), acc_bits=32,
                         double_buffered=True, clock_mhz=700.0,
                         memory=MemorySpec(ifmap_kib=24 * 1024, filter_kib=256, ofmap_kib=4 * 1024,
                                           dram_bytes_per_cycle=46)),
    # One TPU v4 TensorCore's matrix unit (Jouppi et al., ISCA 2023): 128×128, bf16 operands, f32
    # accumulation (datapath bf16: a bf16 multiply and an fp32 add per MAC), 1050 MHz; 16 MiB of vector
    # memory; half of the chip's 1.2 TB/s HBM per TensorCore ≈ 571 bytes per cycle. The whole chip is the
    # system preset tpuv4-chip (arch/systems/tpuv4-chip.yaml).
    "tpuv4": ArrayConfig(name="tpuv4", rows=128, cols=128, dataflows=("ws",), input_bits=16, weight_bits=16,
                         acc_bits=32, clock_mhz=1050.0, datapath="bf16",
                         memory=MemorySpec(ifmap_kib=16 * 1024, filter_kib=16 * 1024, ofmap_kib=16 * 1024,
                                           dram_bytes_per_cycle=571)),
}


_SYSTEMS = Path(__file__).parent / "systems"


def _system_preset(name: str) -> Callable:
    @cache
    def load():
        from .system import load_system

        return load_system(_SYSTEMS / f"{name}.yaml")
    return load


# Accelerators of several cores (each file names its sources); loaded on first use.
SYSTEM_PRESETS: dict[str, Callable] = {path.stem: _system_preset(path.stem) for path in sorted(_SYSTEMS.glob("*.yaml"))}
