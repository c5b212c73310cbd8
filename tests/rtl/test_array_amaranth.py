"""The generated array in Amaranth's simulator, against the reference engine: every output value
and the cycle it appears, over a matrix of configurations covering each behaviour switch."""

import numpy as np
import pytest

pytest.importorskip("amaranth", reason="install the hdl extra: pip install -e '.[hdl]'")

from accelsim.arch import ArrayConfig  # noqa: E402
from accelsim.mapping import Mapping, load_dataflow  # noqa: E402
from accelsim.rtl.amaranth_sim import simulate_plan  # noqa: E402
from accelsim.rtl.array import SystolicArray  # noqa: E402
from accelsim.rtl.plan import make_plan, random_plan  # noqa: E402
from accelsim.workload import GemmView  # noqa: E402

# Each row switches at least one behaviour; accumulators as narrow as one product make overflow common.
MATRIX = [
    ("1x1 ws", dict(rows=1, cols=1), "ws"),
    ("1x1 os", dict(rows=1, cols=1), "os"),
    ("3x2 ws signed wrap double", dict(rows=3, cols=2, acc_bits=16), "ws"),
    ("2x5 ws single saturate", dict(rows=2, cols=5, acc_bits=16, overflow="saturate", double_buffered=False), "ws"),
    ("3x4 is saturate", dict(rows=3, cols=4, acc_bits=17, overflow="saturate"), "is"),
    ("2x3 is single unsigned", dict(rows=2, cols=3, signed=False, acc_bits=17, double_buffered=False), "is"),
    ("3x2 os saturate double", dict(rows=3, cols=2, acc_bits=16, overflow="saturate"), "os"),
    ("2x4 os single wrap", dict(rows=2, cols=4, acc_bits=16, double_buffered=False), "os"),
    ("4x4 ws narrow 4-bit unsigned saturate", dict(rows=4, cols=4, input_bits=4, weight_bits=4, acc_bits=8,
                                                   signed=False, overflow="saturate"), "ws"),
    ("4x4 os narrow 3/5-bit signed saturate", dict(rows=4, cols=4, input_bits=3, weight_bits=5, acc_bits=8,
                                                   overflow="saturate"), "os"),
]


@pytest.mark.parametrize("label, fields, dataflow", MATRIX, ids=[m[0] for m in MATRIX])
def test_outputs_and_cycles_equal_the_reference(label, fields, dataflow):
    arch = ArrayConfig(**fields)
    spec = load_dataflow(dataflow)
    dut = SystolicArray(arch, spec)
    rng = np.random.default_rng(sum(map(ord, label)))  # a stable seed per configuration
    checked = 0
    for case in range(8):
        plan = random_plan(rng, arch, spec, stall_p=(0.0, 0.3, 0.6)[case % 3], extremes=0.5)
        driver = simulate_plan(plan, dut)
        assert driver.mismatch() is None, f"case {case} {plan.gemm}: {driver.mismatch()}"
        checked += len(driver.observed)
    assert checked > 0


def test_k1_and_single_step_folds():
    for name in ("ws", "os", "is"):
        arch = ArrayConfig(rows=2, cols=2, acc_bits=16)
        a = np.array([[3], [-4], [5]])
        w = np.array([[7, -8, 1]])
        driver = simulate_plan(make_plan(Mapping.for_gemm(GemmView(M=3, N=3, K=1), load_dataflow(name), arch), a, w))
        assert driver.mismatch() is None
        assert len(driver.observed) == len(driver.plan.expected.events) > 0


def test_the_bench_catches_a_wrong_design(monkeypatch):
    """A mutant of the generator (wrapping where it should saturate) must fail: the check is not vacuous."""
    import accelsim.rtl.array as generator

    arch = ArrayConfig(rows=3, cols=2, acc_bits=16, overflow="saturate")
    plans = [random_plan(np.random.default_rng(s), arch, load_dataflow("ws"), extremes=0.9) for s in range(6)]
    monkeypatch.setattr(generator, "_reduce", lambda arch, value: value[:arch.acc_bits].as_signed())
    caught = [simulate_plan(p).mismatch() for p in plans]
    assert any(caught)
    first = next(c for c in caught if c)
    assert first.startswith("output ") and "expected" in first and "at cycle" in first
