"""Architecture descriptions: `ArrayConfig`, its memory, presets and YAML I/O."""

from .config import ArrayConfig, MemorySpec, load_arch, resolve_arch, save_arch
from .presets import PRESETS

__all__ = ["PRESETS", "ArrayConfig", "MemorySpec", "load_arch", "resolve_arch", "save_arch"]
