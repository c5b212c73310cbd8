"""How an LLM deployment stores and computes its tensors: weights, activations and the KV cache.

A :class:`Deployment` names one number format per tensor role; integer weights and KV entries carry
fp16 scales per group of ``group`` elements (weights: along the reduction; the cache: one scale per
token, head and K/V). Scale bytes are DRAM traffic, and dequantising is vector-unit work, whenever an
integer operand meets a floating-point datapath (weight-only quantisation); ``W8A8`` on an integer
datapath needs neither.

Examples
--------
>>> d = Deployment(weights="int4", activations="fp16", kv="int8")
>>> d.weight_bits, d.weight_scale_bytes(4096 * 4096), d.kv_scale_bytes_per_entry_head()
(4, 262144, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecError
from ..precision import parse_dtype

SCALE_BYTES = 2  # one fp16 scale per group
WEIGHT_FORMATS = ("fp16", "bf16", "fp8", "fp8_e4m3", "fp8_e5m2", "int8", "int4")
ACTIVATION_FORMATS = ("fp16", "bf16", "fp8", "fp8_e4m3", "fp8_e5m2", "int8")
KV_FORMATS = ("fp16", "bf16", "fp8", "fp8_e4m3", "fp8_e5m2", "int8", "int4")


@dataclass(frozen=True)
class Deployment:
    """Number formats of an LLM's weights, activations and KV cache, and its weight sparsity.

    Parameters
    ----------
    weights, activations, kv
        Format names (``fp16``, ``bf16``, ``fp8``, ``int8``, ``int4``; activations not ``int4``).
    group
        Weight elements per fp16 scale along the reduction (integer weights only; 128 is GPTQ/AWQ's).
    weight_nm
        ``"2:4"`` for structured-sparse weights (run on N:M PEs), or ``""``.
    """

    weights: str = "fp16"
    activations: str = "fp16"
    kv: str = "fp16"
    group: int = 128
    weight_nm: str = ""

    def __post_init__(self) -> None:
        for role, value, allowed in (("weights", self.weights, WEIGHT_FORMATS),
                                     ("activations", self.activations, ACTIVATION_FORMATS),
                                     ("kv", self.kv, KV_FORMATS)):
            if value not in allowed:
                raise SpecError(f"{role} format must be one of {', '.join(allowed)}, not {value!r}")
        if not isinstance(self.group, int) or isinstance(self.group, bool) or self.group < 1:
            raise SpecError(f"quantisation group must be a positive integer, not {self.group!r}")
        if self.weight_nm not in ("", "2:4"):
            raise SpecError(f"weight sparsity must be '' or '2:4', not {self.weight_nm!r}")

    @staticmethod
    def bits(name: str) -> int:
        dtype = parse_dtype(name)
        assert dtype is not None
        return dtype.bits

    @property
    def weight_bits(self) -> int:
        return self.bits(self.weights)

    @property
    def kv_bits(self) -> int:
        return self.bits(self.kv)

    @property
    def activation_bits(self) -> int:
        return self.bits(self.activations)

    @staticmethod
    def is_int(name: str) -> bool:
        return name.startswith("int")

    @property
    def dequantises_weights(self) -> bool:
        """Integer weights multiplied in a floating-point datapath: scaled back on the vector unit."""
        return self.is_int(self.weights) and not self.is_int(self.activations)

    @property
    def dequantises_kv(self) -> bool:
        return self.is_int(self.kv) and not self.is_int(self.activations)

    def weight_scale_bytes(self, elements: int) -> int:
        """fp16 group-scale bytes of ``elements`` weight-only-quantised weights (0 for floating-point weights,
        and for W8A8-style integer activations, whose per-channel scales apply in the accumulator's epilogue
        and are a few bytes per output channel: not counted)."""
        return -(-elements // self.group) * SCALE_BYTES if self.dequantises_weights else 0

    def kv_scale_bytes_per_entry_head(self) -> int:
        """Scale bytes per cached token, head and K or V entry (0 for floating-point caches)."""
        return SCALE_BYTES if self.is_int(self.kv) else 0

    def label(self) -> str:
        nm = f", {self.weight_nm} weights" if self.weight_nm else ""
        group = f" (groups of {self.group})" if self.is_int(self.weights) and self.dequantises_weights else ""
        return f"weights {self.weights}{group}, activations {self.activations}, KV {self.kv}{nm}"
