import numpy as np
import pytest

from accelsim.arch import ArrayConfig
from accelsim.sim import numerics


def test_wrap_and_saturate_at_the_edges():
    x = np.array([-(1 << 15) - 1, -(1 << 15), 0, (1 << 15) - 1, 1 << 15])
    assert numerics.wrap(x, 16, True).tolist() == [(1 << 15) - 1, -(1 << 15), 0, (1 << 15) - 1, -(1 << 15)]
    assert numerics.saturate(x, 16, True).tolist() == [-(1 << 15), -(1 << 15), 0, (1 << 15) - 1, (1 << 15) - 1]
    assert numerics.wrap(np.array([256, 257, -1]), 8, False).tolist() == [0, 1, 255]
    assert numerics.saturate(np.array([256, -1]), 8, False).tolist() == [255, 0]


def test_saturating_order_matters_and_is_defined():
    arch = ArrayConfig(rows=2, cols=1, input_bits=8, weight_bits=8, acc_bits=16, overflow="saturate")
    a = np.array([[127, 127, 127, -128, -128, -128]])
    w = np.full((6, 1), 127)
    # one chain: 16129, 32258, 48387 → 32767 (saturated), then −16256 three times: 16511, 255, −16001
    assert numerics.expected_gemm(a, w, arch, chunk=None).tolist() == [[-16001]]
    # chunks of three: 48387 → 32767 and −48768 → −32768, added: −1
    assert numerics.expected_gemm(a, w, arch, chunk=3).tolist() == [[-1]]
    # exact arithmetic would give −381; wrapping is order-free and agrees with it modulo 2**16
    assert (a @ w).tolist() == [[-381]]
    assert numerics.expected_gemm(a, w, arch.with_changes(overflow="wrap"), chunk=3).tolist() == [[-381]]


def test_random_operands_respect_widths_and_hit_extremes():
    arch = ArrayConfig(rows=2, cols=2, input_bits=4, weight_bits=3, acc_bits=12, signed=False)
    a, w = numerics.random_operands(np.random.default_rng(0), 50, 40, 30, arch, extremes=0.5)
    assert a.min() == 0 and a.max() == 15 and w.min() == 0 and w.max() == 7
    numerics.check_operands(a, w, arch)
    with pytest.raises(ValueError, match=r"operand W has values outside \[0, 7\]"):
        numerics.check_operands(a, w + 1, arch)


@pytest.mark.parametrize("signed", [True, False])
def test_one_integer_range_for_formats_arithmetic_and_the_rtl(signed):
    """The range the arithmetic clips to is the tensor format's range (accelsim.precision.value_range)."""
    from accelsim.precision import int_type, value_range

    for bits in range(1, 33):
        lo, hi = value_range(bits, signed)
        assert int_type(bits, signed).range == numerics.value_range(bits, signed) == (lo, hi)
        assert hi - lo == (1 << bits) - 1 and (lo < 0) == signed
        edges = np.array([lo - 1, lo, hi, hi + 1])
        assert numerics.saturate(edges, bits, signed).tolist() == [lo, lo, hi, hi]
        assert numerics.wrap(edges, bits, signed).tolist() == [hi, lo, hi, lo]
