"""Architecture descriptions: `ArrayConfig`, its memory, presets and YAML I/O."""

from .config import ArrayConfig, MemorySpec, load_arch, resolve_arch, save_arch
from .presets import PRESETS, SYSTEM_PRESETS
from .system import Dram, GlobalBuffer, Network, SystemConfig, load_system, resolve_system

__all__ = ["PRESETS", "SYSTEM_PRESETS", "ArrayConfig", "Dram", "GlobalBuffer", "MemorySpec", "Network", "SystemConfig",
           "load_arch", "load_system", "resolve_arch", "resolve_system", "save_arch"]
