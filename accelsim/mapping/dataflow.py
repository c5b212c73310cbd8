"""Dataflows as data: a `DataflowSpec` read from ``dataflows/*.yaml``.

A spec says which GEMM dimension (M, N, K of ``O[M×N] = I[M×K]·W[K×N]``) is spread over the array's
rows, which over its columns, which is streamed through time, which operand stays in the PEs, and
the order of the fold loops. The engines interpret it; adding a dataflow needs no engine code, as
long as the reduction dimension K is on the rows (partial sums flow down the columns) or temporal
(outputs accumulate in place).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .._paths import data_dir
from ..errors import SpecError, UnsupportedError, did_you_mean
from ..specio import Fields, read_yaml_file

FORMAT_VERSION = 1
GEMM_DIMS = ("M", "N", "K")
OPERAND_DIMS = {"I": ("M", "K"), "W": ("K", "N"), "O": ("M", "N")}


@dataclass(frozen=True)
class DataflowSpec:
    """How a GEMM maps onto the array.

    Examples
    --------
    >>> ws = load_dataflow("ws")
    >>> ws.stationary, ws.rows, ws.cols, ws.temporal, ws.mode
    ('W', 'K', 'N', 'M', 'stationary')
    >>> load_dataflow("os").mode
    'output'
    """

    name: str
    stationary: str
    rows: str
    cols: str
    temporal: str
    loop_order: tuple[str, str]
    description: str = ""

    def __post_init__(self):
        _check(self, Fields(self.to_dict(), where=f"dataflow '{self.name}'"))

    @property
    def mode(self) -> str:
        """``"stationary"`` (an input operand held, K on rows) or ``"output"`` (K temporal)."""
        return "output" if self.temporal == "K" else "stationary"

    @property
    def supports_nm(self) -> bool:
        """Can N:M weight PEs run this dataflow: W stationary with K on the rows.

        Each PE holds a kept weight and its index inside a group of M reduction rows and picks
        its input from the group of M the row streams, so the compressed K' must be spatial
        on the rows under stationary weights. The one rule the mapping, the RTL generator, the
        area model and the SCALE-Sim adapter ask.

        Examples
        --------
        >>> [(n, load_dataflow(n).supports_nm) for n in ("ws", "os", "is")]
        [('ws', True), ('os', False), ('is', False)]
        """
        return self.stationary == "W" and self.rows == "K"

    @property
    def left(self) -> str:
        """The operand that enters from the array's left edge and moves along the rows.

        Stationary mode: the streamed operand. Output mode: the operand indexed by the rows and K.
        This and :attr:`top` are the one definition of operand roles every engine, the memory
        model and the RTL read.

        Examples
        --------
        >>> [(n, load_dataflow(n).left, load_dataflow(n).top) for n in ("ws", "is", "os")]
        [('ws', 'I', 'W'), ('is', 'W', 'I'), ('os', 'I', 'W')]
        """
        if self.mode == "stationary":
            return "I" if self.stationary == "W" else "W"
        return next(op for op in ("I", "W") if set(OPERAND_DIMS[op]) == {self.rows, "K"})

    @property
    def top(self) -> str:
        """The other input operand: loaded from the top edge (stationary tile, or OS stream)."""
        return "W" if self.left == "I" else "I"

    @property
    def streamed(self) -> str:
        """The operand that streams from the left edge (stationary mode); same as :attr:`left`."""
        return self.left

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "name": self.name, "description": self.description,
                "stationary": self.stationary, "rows": self.rows, "cols": self.cols,
                "temporal": self.temporal, "loop_order": list(self.loop_order)}

    @classmethod
    def from_dict(cls, data: Any, *, file: str | None = None) -> DataflowSpec:
        f = Fields(data, where="dataflow", file=file)
        f.int("version", FORMAT_VERSION)
        kw = dict(name=f.str("name"), description=f.raw("description", ""),
                  stationary=f.str("stationary", choices=OPERAND_DIMS),
                  rows=f.str("rows", choices=GEMM_DIMS), cols=f.str("cols", choices=GEMM_DIMS),
                  temporal=f.str("temporal", choices=GEMM_DIMS))
        order = f.raw("loop_order")
        if not isinstance(order, list) or len(order) != 2 or not all(isinstance(d, str) for d in order):
            raise f.error("loop_order", "must list the two spatial dimensions, outermost first")
        kw["loop_order"] = tuple(order)
        f.done()
        try:
            return cls(**kw)
        except SpecError as err:
            field = err.path.split("'.", 1)[1] if err.path and "'." in err.path else None
            raise f.error(field, err.message) from None


def _check(spec: DataflowSpec, f: Fields) -> None:
    dims = (spec.rows, spec.cols, spec.temporal)
    if sorted(dims) != sorted(GEMM_DIMS):
        raise f.error("temporal", f"rows, cols and temporal must be M, N and K once each, not {', '.join(dims)}")
    if "K" == spec.cols:
        raise UnsupportedError(f"dataflow '{spec.name}': the reduction dimension K on the columns is not "
                               "supported (put it on the rows or make it temporal)")
    want = "O" if spec.temporal == "K" else next(op for op, d in OPERAND_DIMS.items()
                                                 if set(d) == {spec.rows, spec.cols})
    if spec.stationary != want:
        raise f.error("stationary", f"with rows {spec.rows} and cols {spec.cols} the stationary operand "
                                    f"must be {want}, not {spec.stationary}")
    if sorted(spec.loop_order) != sorted((spec.rows, spec.cols)):
        raise f.error("loop_order", f"must order the spatial dimensions {spec.rows} and {spec.cols}, "
                                    f"not {list(spec.loop_order)}")


def dataflow_names() -> list[str]:
    """Names of the bundled dataflows."""
    return sorted(p.stem for p in data_dir("dataflows").glob("*.yaml"))


@cache
def load_dataflow(name_or_path: str) -> DataflowSpec:
    """A bundled dataflow by name, or a dataflow YAML file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = data_dir("dataflows") / f"{name_or_path}.yaml"
        if not path.is_file():
            names = dataflow_names()
            raise SpecError(f"unknown dataflow '{name_or_path}' (bundled: {', '.join(names)})"
                            + did_you_mean(name_or_path, names))
    return DataflowSpec.from_dict(read_yaml_file(path), file=str(path))
