"""The max-plus form of the fold recursions (``uniform_cycles``) equals playing the folds (``gemm_timeline``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig
from accelsim.mapping import load_dataflow
from accelsim.mapping.choice import loop_orders
from accelsim.mapping.mapping import Mapping
from accelsim.sim.timing import gemm_timeline, uniform_cycles
from accelsim.workload import GemmView


def _one(mapping: Mapping) -> int:
    df, arch = mapping.dataflow, mapping.arch
    sizes = {d: np.array([mapping.size(d)]) for d in ("M", "N", "K")}
    return int(uniform_cycles(df.mode == "output", arch.stationary_banks, np.array([arch.rows]),
                              np.array([arch.cols]), sizes, df.rows, df.loop_order, df.temporal,
                              np.array([mapping.chunk]), mapping.gemm.count, mapping.serial_bits)[0])


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.integers(1, 3), st.integers(1, 9),
       st.integers(1, 9), st.sampled_from(["ws", "os", "is"]), st.booleans(), st.booleans(), st.integers(1, 40),
       st.integers(1, 3))
def test_maxplus_equals_the_timeline(m, n, k, count, rows, cols, name, swap, double, chunk, serial):
    spec = loop_orders(load_dataflow(name))[int(swap)]
    arch = ArrayConfig(rows=rows, cols=cols, double_buffered=double)
    mapping = Mapping(GemmView(M=m, N=n, K=k, count=count), spec, arch)
    if spec.mode == "stationary":
        tile = min(chunk, mapping.size(spec.temporal))
        mapping = Mapping(GemmView(M=m, N=n, K=k, count=count), spec, arch,
                          temporal_tile=tile if tile < mapping.size(spec.temporal) else None)
    if serial > 1:  # bit-serial PEs take each step in `serial` cycles
        from accelsim.mapping.plan import Precision
        from accelsim.precision import parse_dtype

        i8 = parse_dtype("int8")
        mapping = Mapping(mapping.gemm, spec, arch, temporal_tile=mapping.temporal_tile,
                          precision=Precision(i8, i8, i8, 32, serial_bits=serial))
    assert _one(mapping) == gemm_timeline(mapping).total


def test_many_at_once_equal_each_alone():
    """One call over several arrays and chunks gives each one's own cycles (nothing leaks between rows)."""
    ws = load_dataflow("ws")
    cases = [(8, 8, 64), (16, 4, 7), (3, 5, 1), (32, 32, 200)]
    sizes = {"M": np.full(4, 200), "N": np.full(4, 70), "K": np.full(4, 50)}
    got = uniform_cycles(False, 2, np.array([c[0] for c in cases]), np.array([c[1] for c in cases]), sizes, "K",
                         ws.loop_order, "M", np.array([c[2] for c in cases]), 2)
    want = [gemm_timeline(Mapping(GemmView(M=200, N=70, K=50, count=2), ws, ArrayConfig(rows=r, cols=c),
                                  temporal_tile=t if t < 200 else None)).total for r, c, t in cases]
    assert got.tolist() == want
