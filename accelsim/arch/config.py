"""`ArrayConfig`: the one description of an accelerator that the simulator and the RTL generator read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import SpecError, UnsupportedError, did_you_mean
from ..precision import DATAPATHS, FLOAT_ACC_BITS, FLOAT_BITS
from ..sparsity import MAX_NM_GROUP, parse_nm
from ..specio import Fields, read_yaml_file

FORMAT_VERSION = 1
OVERFLOW_MODES = ("wrap", "saturate")
MAX_ACC_BITS = 48  # the engines compute in int64: accumulator + product must not overflow it
# Bounds that keep times finite and counts to a few dozen digits (a clock of 1e-300 MHz is a typo):
CLOCK_MHZ = (0.001, 1e6)  # 1 kHz to 1 THz
MAX_BUFFER_KIB = 2**30  # 1 TiB per buffer: beyond any chip, below where byte counts lose meaning
# 4096 × 4096 = 16.8 M PEs (about 27,000 mm² of 45 nm PEs, docs/area.md): 16× TPU v1's 256 per side;
# more is a typo (rows=99999999999 was once a "feasible" 5 m² design)
MAX_ARRAY_DIM = 4096
DRAM_BYTES_PER_CYCLE = (0.001, 1e9)  # --ideal-memory is the way to say "unlimited"
MAX_LATENCY_CYCLES = 2**32
PE_STYLES = ("parallel", "bit-serial", "fusible")
SPARSE_MODES = ("none", "gate", "skip")
# Fields added after format version 1 was pinned: written only when they differ from the default,
# so every existing config keeps its JSON and its digest (build folders, caches, golden results).
_OPTIONAL_FIELDS = {"pe_style": "parallel", "sparse": "none", "weight_nm": "", "weight_format": "dense",
                    "input_format": "dense", "fusion_brick_bits": 2, "datapath": "int"}
STORAGE_FORMATS = ("dense", "bitmap", "csr", "rle")  # N:M storage comes with weight_nm


@dataclass(frozen=True)
class MemorySpec:
    """On-chip buffers and off-chip bandwidth (used by the memory model; ideal until then).

    Examples
    --------
    >>> MemorySpec(ifmap_kib=64).ifmap_kib
    64.0
    """

    ifmap_kib: float = 256.0
    filter_kib: float = 256.0
    ofmap_kib: float = 128.0
    banks: int = 1
    dram_bytes_per_cycle: float = 32.0
    dram_latency_cycles: int = 0

    def __post_init__(self):
        _read_memory(Fields(_as_dict(self), where="ArrayConfig.memory"))
        for name in ("ifmap_kib", "filter_kib", "ofmap_kib", "dram_bytes_per_cycle"):
            object.__setattr__(self, name, float(getattr(self, name)))  # 8 and 8.0: one digest

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)


def _read_memory(f: Fields) -> dict[str, Any]:
    out = dict(
        ifmap_kib=f.number("ifmap_kib", MemorySpec.ifmap_kib, high=MAX_BUFFER_KIB),
        filter_kib=f.number("filter_kib", MemorySpec.filter_kib, high=MAX_BUFFER_KIB),
        ofmap_kib=f.number("ofmap_kib", MemorySpec.ofmap_kib, high=MAX_BUFFER_KIB),
        banks=f.int("banks", MemorySpec.banks),
        dram_bytes_per_cycle=f.number("dram_bytes_per_cycle", MemorySpec.dram_bytes_per_cycle,
                                      low=DRAM_BYTES_PER_CYCLE[0], high=DRAM_BYTES_PER_CYCLE[1], low_open=False),
        dram_latency_cycles=f.int("dram_latency_cycles", 0, minimum=0, maximum=MAX_LATENCY_CYCLES),
    )
    if out["banks"] != 1:  # accepted by format version 1; a silently ignored field would be a wrong number
        raise UnsupportedError(str(f.error("banks", f"= {out['banks']}: SRAM banking is not modelled (every buffer "
                                                    "is one double-buffered bank); leave it at 1")))
    return out


@dataclass(frozen=True)
class ArrayConfig:
    """A systolic array and its numerics, timing switches and memory.

    Parameters
    ----------
    rows, cols
        PE array shape, each 1 to ``MAX_ARRAY_DIM`` (4096).
    dataflows
        Dataflow names this array supports (files in ``dataflows/``).
    input_bits, weight_bits, acc_bits
        Operand and accumulator widths.
    signed
        Two's-complement operands (else unsigned).
    overflow
        What the accumulator does past ``acc_bits``: ``"wrap"`` or ``"saturate"``.
    double_buffered
        Two stationary registers per PE (WS/IS) or an output shift chain beside the accumulators
        (OS), so the next fold's preload/drain overlaps the current fold (as in the TPU).
    vector_lanes
        Width of the vector unit that runs non-GEMM layers (0 means ``cols``).
    clock_mhz
        Clock, for converting cycles to time.
    memory
        Buffers and DRAM bandwidth.
    pe_style
        ``"parallel"`` (one full-width MAC per PE per cycle), ``"bit-serial"`` (the left-edge
        operand enters one bit per cycle, so a step takes as many cycles as its bits) or
        ``"fusible"`` (Bit Fusion: a PE of ``input_bits × weight_bits`` performs
        ``(input_bits/bi)·(weight_bits/bw)`` narrow MACs per cycle). See ``docs/precision.md``.
    sparse
        What the PEs do with zero operands: ``"none"`` (multiply them), ``"gate"`` (isolate the
        multiplier: same cycles, gated MACs counted) or ``"skip"`` (drop them where the dataflow
        can, see ``docs/sparsity.md``).
    weight_nm
        ``"N:M"`` for a weight-stationary array whose PEs hold N of every M weights with their
        indices and select their input from each group of M (``""``: dense PEs).
    weight_format, input_format
        How weights and inputs are stored in DRAM: ``dense``, ``bitmap``, ``csr`` or ``rle``
        (:mod:`accelsim.formats`); traffic counts their values and metadata separately.
    fusion_brick_bits
        The narrowest operand slice a ``fusible`` PE splits into (Bit Fusion's BitBricks: 2 bits, so
        an 8×8-bit PE fuses at most 16 MACs; narrower operands run as if ``fusion_brick_bits`` wide).
        Only fusible PEs read it; any other value on other PE styles is refused.
    datapath
        What the PEs multiply: ``"int"`` (integers of ``input_bits`` × ``weight_bits``, accumulated in
        ``acc_bits``), or a floating-point format, ``"fp16"``, ``"bf16"``, ``"fp8_e4m3"`` or
        ``"fp8_e5m2"``, accumulated in fp32: then ``input_bits`` and ``weight_bits`` are the format's
        width, ``acc_bits`` is 32 and the PEs are parallel. It changes what a MAC costs (energy, area)
        and which operand formats run, never the timing (``docs/precision.md``).

    Examples
    --------
    >>> cfg = ArrayConfig(rows=4, cols=8)
    >>> cfg.pes, cfg.lanes
    (32, 8)
    >>> ArrayConfig(rows=0, cols=4)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `ArrayConfig.rows` must be a positive integer, not 0
    """

    rows: int
    cols: int
    name: str = "custom"
    dataflows: tuple[str, ...] = ("ws", "os", "is")
    input_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32
    signed: bool = True
    overflow: str = "wrap"
    double_buffered: bool = True
    vector_lanes: int = 0
    clock_mhz: float = 1000.0
    memory: MemorySpec = field(default_factory=MemorySpec)
    pe_style: str = "parallel"
    sparse: str = "none"
    weight_nm: str = ""
    weight_format: str = "dense"
    input_format: str = "dense"
    fusion_brick_bits: int = 2
    datapath: str = "int"

    def __post_init__(self):
        if isinstance(self.dataflows, list):
            object.__setattr__(self, "dataflows", tuple(self.dataflows))
        if isinstance(self.memory, dict):
            object.__setattr__(self, "memory", MemorySpec(**self.memory))
        checked = _read_config(Fields(self.to_dict(versioned=False), where="ArrayConfig"))
        object.__setattr__(self, "clock_mhz", float(self.clock_mhz))
        object.__setattr__(self, "weight_nm", checked["weight_nm"])  # " 2 : 4" is stored as "2:4"

    # -- derived values ---------------------------------------------------------------------
    @property
    def pes(self) -> int:
        """Number of processing elements."""
        return self.rows * self.cols

    @property
    def lanes(self) -> int:
        """Vector-unit width actually used for non-GEMM layers."""
        return self.vector_lanes or self.cols

    @property
    def stationary_banks(self) -> int:
        """Stationary registers per PE (WS/IS): two when double-buffered, so a tile loads during the last."""
        return 2 if self.double_buffered else 1

    @property
    def nm(self) -> tuple[int, int] | None:
        """``(N, M)`` of an N:M weight array, or None.

        Examples
        --------
        >>> ArrayConfig(rows=4, cols=4, dataflows=("ws",), weight_nm="2:4").nm
        (2, 4)
        """
        return parse_nm(self.weight_nm) if self.weight_nm else None

    @property
    def product_bits(self) -> int:
        """Width of one full product ``input × weight``."""
        return self.input_bits + self.weight_bits

    @property
    def digest(self) -> str:
        """A short stable hash of the whole config (a cache and build-folder key)."""
        return stable_digest(self.to_dict())

    # -- I/O --------------------------------------------------------------------------------
    def to_dict(self, versioned: bool = True) -> dict[str, Any]:
        out = _as_dict(self)
        out["dataflows"] = list(self.dataflows)
        out["memory"] = self.memory.to_dict()
        for name, default in _OPTIONAL_FIELDS.items():
            if out[name] == default:
                del out[name]
        return {"version": FORMAT_VERSION, **out} if versioned else out

    @classmethod
    def from_dict(cls, data: Any, *, file: str | None = None) -> ArrayConfig:
        """Build from a dict (e.g. parsed YAML); any problem is a :class:`SpecError`."""
        f = Fields(data, where="ArrayConfig", file=file)
        version = f.int("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise f.error("version", f"must be {FORMAT_VERSION}, not {version}")
        kwargs = _read_config(f)
        f.done()
        return cls(**kwargs)

    def with_changes(self, **changes: Any) -> ArrayConfig:
        """A copy with some fields changed (presets are copies with changes)."""
        return replace(self, **changes)


def _read_config(f: Fields) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(
        rows=f.int("rows"),
        cols=f.int("cols"),
        name=f.str("name", "custom"),
        input_bits=f.int("input_bits", 8),
        weight_bits=f.int("weight_bits", 8),
        acc_bits=f.int("acc_bits", 32),
        signed=f.bool("signed", True),
        overflow=f.str("overflow", "wrap", choices=OVERFLOW_MODES),
        double_buffered=f.bool("double_buffered", True),
        vector_lanes=f.int("vector_lanes", 0, minimum=0),
        clock_mhz=f.number("clock_mhz", 1000.0, low=CLOCK_MHZ[0], high=CLOCK_MHZ[1], low_open=False),
        pe_style=f.str("pe_style", "parallel", choices=PE_STYLES),
        sparse=f.str("sparse", "none", choices=SPARSE_MODES),
        weight_nm=_nm_field(f, "weight_nm"),
        weight_format=f.str("weight_format", "dense", choices=STORAGE_FORMATS),
        input_format=f.str("input_format", "dense", choices=STORAGE_FORMATS),
        fusion_brick_bits=f.int("fusion_brick_bits", 2),
        datapath=f.str("datapath", "int", choices=DATAPATHS),
    )
    if kwargs["datapath"] != "int":
        _check_float_datapath(f, kwargs)
    if kwargs["fusion_brick_bits"] != 2 and kwargs["pe_style"] != "fusible":
        raise f.error("fusion_brick_bits", f"= {kwargs['fusion_brick_bits']} is read by fusible PEs only, "
                                           f"not pe_style '{kwargs['pe_style']}'")
    narrower = min(kwargs["input_bits"], kwargs["weight_bits"])
    if kwargs["pe_style"] == "fusible" and kwargs["fusion_brick_bits"] > narrower:
        raise f.error("fusion_brick_bits", f"must be at most the narrower datapath "
                                           f"({narrower} bits), "
                                           f"not {kwargs['fusion_brick_bits']}")
    if kwargs["pe_style"] == "fusible":
        brick = kwargs["fusion_brick_bits"]
        for name in ("input_bits", "weight_bits"):  # a fused PE splits its datapath in halves, down to bricks
            lanes, rest = divmod(kwargs[name], brick)
            if rest or lanes & (lanes - 1):
                raise f.error(name, f"= {kwargs[name]}: a fusible PE's datapath must be its {brick}-bit brick "
                                    f"times a power of two (fusion_brick_bits = {brick})")
    if kwargs["pe_style"] != "parallel" and kwargs["overflow"] != "wrap":
        raise UnsupportedError(str(f.error("overflow", f"'{kwargs['overflow']}' with {kwargs['pe_style']} PEs: they "
                                                       "accumulate bit planes or lanes in another order than parallel "
                                                       "ones, so saturation would differ; only 'wrap' is modelled")))
    if kwargs["weight_nm"] and kwargs["weight_format"] != "dense":
        raise f.error("weight_format", f"N:M weights are stored in their own index form, not "
                                       f"'{kwargs['weight_format']}'")
    if kwargs["weight_nm"]:
        if parse_nm(kwargs["weight_nm"]) is None:
            raise f.error("weight_nm", f"must be 'N:M' with 0 < N < M ≤ {MAX_NM_GROUP}, not '{kwargs['weight_nm']}'")
        if kwargs["pe_style"] != "parallel":
            raise f.error("weight_nm", f"N:M weights need parallel PEs, not pe_style '{kwargs['pe_style']}'")
    dataflows = f.raw("dataflows", ["ws", "os", "is"])
    if (not isinstance(dataflows, (list, tuple)) or not dataflows
            or not all(isinstance(d, str) and d for d in dataflows) or len(set(dataflows)) != len(dataflows)):
        raise f.error("dataflows", "must be a non-empty list of distinct dataflow names")
    kwargs["dataflows"] = tuple(dataflows)
    for side in ("rows", "cols"):
        if kwargs[side] > MAX_ARRAY_DIM:
            raise f.error(side, f"must be at most {MAX_ARRAY_DIM:,}, not {kwargs[side]:,}")
    for operand in ("input_bits", "weight_bits"):
        if kwargs[operand] > 32:
            raise f.error(operand, f"must be at most 32, not {kwargs[operand]}")
    if kwargs["acc_bits"] > MAX_ACC_BITS:
        raise f.error("acc_bits", f"must be at most {MAX_ACC_BITS}, not {kwargs['acc_bits']}")
    product = kwargs["input_bits"] + kwargs["weight_bits"]
    if kwargs["acc_bits"] < product:
        raise f.error("acc_bits", f"must hold one product ({product} bits for "
                                  f"{kwargs['input_bits']}×{kwargs['weight_bits']}-bit operands), "
                                  f"not {kwargs['acc_bits']}")
    memory = f.raw("memory", {})
    if isinstance(memory, MemorySpec):
        kwargs["memory"] = memory
    else:
        mem_fields = f.sub("memory", {})
        kwargs["memory"] = MemorySpec(**_read_memory(mem_fields))
        mem_fields.done()
    return kwargs


def _check_float_datapath(f: Fields, kwargs: dict[str, Any]) -> None:
    """A floating-point datapath: operands of its format's width, an fp32 accumulator, parallel PEs,
    and the integer-only numerics at their defaults."""
    datapath = kwargs["datapath"]
    width = FLOAT_BITS[datapath]
    for name in ("input_bits", "weight_bits"):
        if kwargs[name] != width:
            raise f.error(name, f"must be {width} with datapath '{datapath}' (the format's width), not {kwargs[name]}")
    if kwargs["acc_bits"] != FLOAT_ACC_BITS:
        raise f.error("acc_bits", f"must be {FLOAT_ACC_BITS} with datapath '{datapath}' (it accumulates in fp32), "
                                  f"not {kwargs['acc_bits']}")
    if kwargs["pe_style"] != "parallel":
        raise f.error("pe_style", f"must be 'parallel' with datapath '{datapath}' (bit-serial and fusible PEs "
                                  f"split integers), not '{kwargs['pe_style']}'")
    if kwargs["overflow"] != "wrap":
        raise f.error("overflow", f"is an integer accumulator's; datapath '{datapath}' accumulates in fp32: leave "
                                  f"it at 'wrap', not '{kwargs['overflow']}'")
    if not kwargs["signed"]:
        raise f.error("signed", f"is an integer datapath's; datapath '{datapath}' is a signed format: leave it "
                                "true, not false")


def _nm_field(f: Fields, key: str) -> str:
    """An optional ``"N:M"`` string, written back as ``"N:M"`` (no spaces)."""
    value = f.raw(key, "")
    if isinstance(value, int) and not isinstance(value, bool):
        raise f.error(key, f"must be a quoted 'N:M' string (YAML 1.1 reads an unquoted N:M as the number {value})")
    if value == "":
        return ""
    text = f.str(key)
    nm = parse_nm(text)
    return f"{nm[0]}:{nm[1]}" if nm else text


def stable_digest(data: Any) -> str:
    """A short hash of JSON-able data that does not depend on key order.

    Examples
    --------
    >>> stable_digest({"a": 1, "b": 2}) == stable_digest({"b": 2, "a": 1})
    True
    """
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _as_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def load_arch(path: str | Path) -> ArrayConfig:
    """Read an `ArrayConfig` from a YAML file (a system of cores is refused: this reads one array)."""
    data = read_yaml_file(path)
    if isinstance(data, dict) and "cores" in data:
        raise UnsupportedError(f"{path} describes a system of cores; this command takes one array (an "
                               "array's RTL is one core's; a design space makes systems with its system.* axes)")
    return ArrayConfig.from_dict(data, file=str(path))


def save_arch(config: ArrayConfig, path: str | Path) -> None:
    """Write an `ArrayConfig` as YAML (round-trips through :func:`load_arch`)."""
    import yaml

    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def resolve_arch(name_or_path: str) -> ArrayConfig:
    """A preset by name, or a YAML file by path.

    Examples
    --------
    >>> resolve_arch("sa128").rows
    128
    """
    from .presets import PRESETS, SYSTEM_PRESETS

    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    if name_or_path in SYSTEM_PRESETS:
        raise UnsupportedError(f"'{name_or_path}' is a system of cores; this command takes one array (an "
                               "array's RTL is one core's; a design space makes systems with its system.* axes)")
    if Path(name_or_path).suffix in (".yaml", ".yml") or Path(name_or_path).exists():
        return load_arch(name_or_path)
    raise SpecError(f"unknown architecture '{name_or_path}': not a preset ({', '.join(PRESETS)}) "
                    f"nor a YAML file" + did_you_mean(name_or_path, PRESETS))
