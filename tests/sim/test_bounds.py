"""Physical bounds on every result (issue 17; the reasons are in ``docs/bounds.md``).

The bounds are computed here from the layer and the array alone, independently of the model's own
counts: a result that beats them is a bug in the model, never in the bound. Random layers (linear,
conv with stride/padding/groups, batched matmul) × arrays × dataflows × every feature: operand
precision, PE style (parallel, bit-serial, fusible), sparse none/gate/skip, N:M PEs, compressed
DRAM formats, real tensors and per-layer mapping choices (loop order, temporal chunk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig
from accelsim.arch.config import MemorySpec
from accelsim.errors import MappingError, UnsupportedError
from accelsim.mapping import load_dataflow
from accelsim.mapping.choice import with_loop_order
from accelsim.precision import parse_dtype
from accelsim.sim.engine import simulate_layer
from accelsim.workload.layer import Layer

FORMATS = ("dense", "bitmap", "csr", "rle")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


@dataclass(frozen=True)
class Case:
    layer: Layer
    arch: ArrayConfig
    dataflow: str
    loop_order_swapped: bool
    tile_fraction: float  # < 1: a mapping choice with a smaller temporal chunk than the largest
    tensors: str  # "", "W", "I" or "both"
    seed: int
    memory: bool = True  # False: ideal memory (no stalls; each tensor still moves)


@st.composite
def layers(draw, structure: str = "", dtypes: tuple[str, str] = ("int8", "int8")) -> Layer:
    kind = draw(st.sampled_from(["linear", "conv2d", "matmul"]))
    density = {"input_density": draw(st.sampled_from([1.0, 0.7, 0.3])),
               "weight_density": 1.0 if structure else draw(st.sampled_from([1.0, 0.6, 0.2])),
               "weight_structure": structure, "input_type": dtypes[0], "weight_type": dtypes[1]}
    if kind == "linear":
        m, k, n = (draw(st.integers(1, 90)) for _ in range(3))
        return Layer("fc", "linear", in_shapes=((m, k),), out=n, batch=draw(st.integers(1, 2)), **density)
    if kind == "matmul":
        h, m, k, n = draw(st.integers(1, 3)), *(draw(st.integers(1, 40)) for _ in range(3))
        if structure:  # N:M describes weights; a matmul's second operand is an activation
            return Layer("fc", "linear", in_shapes=((m, k),), out=n, **density)
        return Layer("mm", "matmul", in_shapes=((h, m, k), (h, k, n)), **density)
    groups = draw(st.sampled_from([1, 1, 2]))
    c = groups * draw(st.integers(1, 6))
    r = draw(st.integers(1, 3))
    hw = draw(st.integers(r, 12))
    return Layer("conv", "conv2d", in_shapes=((c, hw, hw),), out=groups * draw(st.integers(1, 20)),
                 kernel=(r, r), stride=(draw(st.integers(1, 3)),) * 2, padding=(draw(st.integers(0, r - 1)),) * 4,
                 groups=groups, **density)


@st.composite
def arrays(draw, **fixed) -> ArrayConfig:
    kib = st.sampled_from([0.25, 1.0, 4.0, 64.0])
    memory = MemorySpec(ifmap_kib=draw(kib), filter_kib=draw(kib), ofmap_kib=draw(kib),
                        dram_bytes_per_cycle=draw(st.sampled_from([0.5, 2.0, 16.0])),
                        dram_latency_cycles=draw(st.sampled_from([0, 20])))
    fields = dict(rows=draw(st.integers(1, 9)), cols=draw(st.integers(1, 9)), double_buffered=draw(st.booleans()),
                  memory=memory, weight_format=draw(st.sampled_from(FORMATS)),
                  input_format=draw(st.sampled_from(FORMATS)))
    return ArrayConfig(**(fields | fixed))


@st.composite
def cases(draw) -> Case:
    """Any feature: precision and PE style, sparse mode, N:M PEs, formats, tensors, mapping choice."""
    feature = draw(st.sampled_from(["dense", "precision", "bit-serial", "fusible", "gate", "skip", "nm"]))
    dataflow = draw(st.sampled_from(["ws", "os", "is"]))
    structure, dtypes, fixed = "", ("int8", "int8"), {}
    if feature == "precision":
        dtypes = (draw(st.sampled_from(["int4", "int8", "uint8", "int16"])), draw(st.sampled_from(["int2", "int8"])))
        fixed = {"input_bits": 16, "weight_bits": 8}
    elif feature == "bit-serial":
        dtypes = (draw(st.sampled_from(["int2", "int5", "int8", "int16"])), "int8")
        fixed = {"pe_style": "bit-serial"}
    elif feature == "fusible":
        dtypes = (draw(st.sampled_from(["int2", "int4", "int8"])), draw(st.sampled_from(["int1", "int2", "int4", "int8"])))
        fixed = {"pe_style": "fusible", "input_bits": draw(st.sampled_from([8, 16])),
                 "fusion_brick_bits": draw(st.sampled_from([1, 2, 2]))}
    elif feature in ("gate", "skip"):
        fixed = {"sparse": feature}
    elif feature == "nm":
        structure, dataflow = draw(st.sampled_from(["2:4", "1:4", "2:8"])), "ws"
        fixed = {"weight_nm": draw(st.sampled_from(["2:4", "4:8"])), "dataflows": ("ws",), "weight_format": "dense"}
    layer = draw(layers(structure, dtypes))
    tensors = draw(st.sampled_from(["", "W", "I", "both"])) if feature in ("gate", "skip", "dense") else ""
    return Case(layer, draw(arrays(**fixed)), dataflow, draw(st.booleans()), draw(st.sampled_from([1.0, 0.5, 0.2])),
                tensors if layer.kind != "matmul" or tensors != "W" else "", draw(st.integers(0, 2**31 - 1)),
                draw(st.sampled_from([True, True, True, False])))


def operands_of(case: Case) -> dict[str, np.ndarray] | None:
    """Seeded GEMM operands with the layer's densities (exact zero positions)."""
    if not case.tensors:
        return None
    rng, g, layer = np.random.default_rng(case.seed), case.layer.gemm, case.layer
    out = {}
    if case.tensors in ("W", "both"):
        out["W"] = rng.integers(1, 4, size=(g.count, g.K, g.N)) * (rng.random((g.count, g.K, g.N)) < layer.weight_density)
    if case.tensors in ("I", "both"):
        out["I"] = rng.integers(1, 4, size=(g.count, g.M, g.K)) * (rng.random((g.count, g.M, g.K)) < layer.input_density)
    return out


def run(case: Case, layer: Layer | None = None, arch: ArrayConfig | None = None, *, chunk: int | None = None):
    """Simulate the case's layer under its mapping choice; a case the model refuses is not drawn."""
    layer, arch = layer or case.layer, arch or case.arch
    df = load_dataflow(case.dataflow)
    if case.loop_order_swapped:
        df = with_loop_order(df, tuple(reversed(df.loop_order)))
    try:
        if chunk is None and case.tile_fraction < 1 and case.memory:
            largest = simulate_layer(layer, arch, df, operands=operands_of(case)).temporal_tile
            if largest:
                chunk = max(1, int(largest * case.tile_fraction))
        return simulate_layer(layer, arch, df, memory=case.memory, operands=operands_of(case), temporal_tile=chunk)
    except (MappingError, UnsupportedError):
        assume(False)


# -- the bounds, from first principles -------------------------------------------------------------------
def element_bytes(dtype: str) -> Fraction:
    return Fraction(parse_dtype(dtype).bits, 8)


def pe_rate(layer: Layer, arch: ArrayConfig, left: str) -> Fraction:
    """MACs one PE can complete per cycle at most. Bit Fusion fuses bricks of at least 2 bits
    (Sharma et al., ISCA 2018): an 8×8 PE does at most 16 narrow MACs. A bit-serial PE takes one bit
    of its streamed (left-edge) operand per cycle."""
    bits = {op: parse_dtype(t).bits for op, t in (("I", layer.input_type), ("W", layer.weight_type))}
    if arch.pe_style == "fusible":
        def lanes(datapath: int, b: int) -> int:
            width = datapath
            while width % 2 == 0 and width // 2 >= max(b, arch.fusion_brick_bits):
                width //= 2
            return datapath // width
        return Fraction(lanes(arch.input_bits, bits["I"]) * lanes(arch.weight_bits, bits["W"]))
    if arch.pe_style == "bit-serial":
        return Fraction(1, bits[left])
    return Fraction(1)


def least_work(case: Case) -> Fraction:
    """MACs the hardware must perform at least: all of them, unless it skips. N:M PEs skip at most
    (M−N)/M of them; skipping PEs can never skip a product of two non-zeros."""
    layer, arch = case.layer, case.arch
    macs = layer.macs
    if arch.nm:
        n, m = arch.nm
        return Fraction(macs * n, m)
    if arch.sparse == "skip":
        ops = operands_of(case) or {}
        if "I" in ops and "W" in ops:
            return Fraction(int(((ops["I"] != 0).sum(axis=1) * (ops["W"] != 0).sum(axis=2)).sum()))
        # expected values: a measured density where a tensor is given, else the description
        density = {op: Fraction(int(np.count_nonzero(ops[op])), ops[op].size) if op in ops else Fraction(d)
                   for op, d in (("I", layer.input_density), ("W", layer.weight_density))}
        return math.floor(macs * density["I"] * density["W"])
    return Fraction(macs)


def touched_inputs(conv: Layer) -> int:
    """Input elements some window of the convolution reads (a stride above the kernel skips some)."""
    c, h, w = conv.in_shapes[0]
    _, p, q = conv.out_shape
    touched = []
    for size, out, k, stride, dil, pad in ((h, p, conv.kernel[0], conv.stride[0], conv.dilation[0], conv.padding[0]),
                                           (w, q, conv.kernel[1], conv.stride[1], conv.dilation[1], conv.padding[1])):
        touched.append(len({o * stride + r * dil - pad for o in range(out) for r in range(k)} & set(range(size))))
    return conv.batch * c * touched[0] * touched[1]


def compulsory_bytes(case: Case) -> dict[str, Fraction]:
    """Each tensor moved once: inputs (the input tensor, not its im2col) and weights as their non-zero
    values at least (dense storage: every element), outputs written once."""
    layer, arch, g = case.layer, case.arch, case.layer.gemm
    in_elements = touched_inputs(layer) if layer.kind == "conv2d" else g.count * g.M * g.K
    w_elements = g.count * g.K * g.N
    nm_bytes = None
    if arch.nm:  # kept values and their index, or dense when that is smaller (a short reduction)
        n, m = arch.nm
        kept = g.count * -(-g.K // m) * n * g.N
        nm_bytes = kept * (element_bytes(layer.weight_type) + Fraction((m - 1).bit_length(), 8))
    ops = operands_of(case) or {}
    density = {op: Fraction(int(np.count_nonzero(ops[op])), ops[op].size) if op in ops and ops[op].size else Fraction(d)
               for op, d in (("I", layer.input_density), ("W", layer.weight_nonzero_fraction))}
    need = {}
    for op, elements, fmt, dtype in (("I", in_elements, arch.input_format, layer.input_type),
                                     ("W", w_elements, arch.weight_format, layer.weight_type)):
        if fmt != "dense" and not (op == "W" and arch.nm):
            elements = math.floor(elements * density[op])  # a compressed format stores the non-zeros at least
        need[op] = elements * element_bytes(dtype)
    if nm_bytes is not None:
        need["W"] = min(need["W"], nm_bytes)
    need["O"] = g.count * g.M * g.N * element_bytes(layer.output_type)
    return need


def moved(result, op: str) -> int:
    """DRAM bytes of an operand, values and metadata."""
    return result.traffic[op].dram_total


# -- properties ----------------------------------------------------------------------------------------------
@PROPERTY
@given(cases())
def test_cycles_never_beat_the_roofline(case):
    """cycles ≥ least work / peak rate of the array as configured, and ≥ compulsory bytes / bandwidth."""
    result = run(case)
    rate = pe_rate(case.layer, case.arch, load_dataflow(case.dataflow).left)
    compute_floor = math.ceil(least_work(case) / (case.arch.pes * rate))
    assert result.compute_cycles >= compute_floor
    bandwidth = Fraction(case.arch.memory.dram_bytes_per_cycle)
    memory_floor = math.ceil(sum(compulsory_bytes(case).values()) / bandwidth)
    if case.memory:  # ideal memory has no bandwidth limit; its traffic is still bounded below
        assert result.cycles >= memory_floor + case.arch.memory.dram_latency_cycles
    else:
        assert result.stall_cycles == 0
    assert result.cycles == result.compute_cycles + result.stall_cycles and result.stall_cycles >= 0
    assert 0.0 <= result.utilization <= 1.0


@PROPERTY
@given(cases())
def test_dram_bytes_between_compulsory_and_no_reuse(case):
    """Each tensor at least once; at most once per use (an input per output column, a weight per output
    row, an output once per reduction step), values and metadata alike."""
    result = run(case)
    need = compulsory_bytes(case)
    g, layer = case.layer.gemm, case.layer
    for op in ("I", "W", "O"):
        assert moved(result, op) >= math.floor(need[op]), op
    in_tensor = layer.batch * math.prod(layer.in_shapes[0]) if layer.kind == "conv2d" else g.count * g.M * g.K
    worst_index_bits = 64  # a CSR column index plus a row pointer per element, far above any format's metadata
    per_element = {op: element_bytes(t) + Fraction(worst_index_bits, 8)
                   for op, t in (("I", layer.input_type), ("W", layer.weight_type))}
    assert moved(result, "I") <= max(in_tensor, g.count * g.M * g.K) * per_element["I"] * g.N  # IS: im2col tiles
    assert moved(result, "W") <= g.count * g.K * g.N * per_element["W"] * g.M
    assert moved(result, "O") <= g.count * g.M * g.N * element_bytes(layer.output_type) * g.K


@PROPERTY
@given(cases(), st.sampled_from([0.25, 4.0, 1e6]))
def test_more_dram_bandwidth_never_adds_cycles(case, factor):
    slow = run(case)
    bw = case.arch.memory.dram_bytes_per_cycle * factor
    fast = run(case, arch=case.arch.with_changes(memory=replace(case.arch.memory, dram_bytes_per_cycle=bw)))
    assert (fast.cycles <= slow.cycles) == (factor >= 1) or fast.cycles == slow.cycles
    assert fast.compute_cycles == slow.compute_cycles and moved(fast, "I") == moved(slow, "I")


@PROPERTY
@given(cases())
def test_gating_never_changes_cycles_or_traffic(case):
    assume(case.arch.sparse == "none" and not case.arch.nm and case.arch.pe_style == "parallel")
    plain = run(case)
    gated = run(case, arch=case.arch.with_changes(sparse="gate"))
    assert gated.cycles == plain.cycles and gated.stall_cycles == plain.stall_cycles
    assert all(moved(gated, op) == moved(plain, op) for op in "IWO")
    assert gated.mac_counts.gated == gated.mac_counts.issued - gated.mac_counts.effective


@PROPERTY
@given(cases(), st.sampled_from(["int2", "int4", "uint4"]))
def test_narrower_inputs_never_add_bytes(case, narrow):
    """Narrower inputs under the same mapping choice move no more bytes of any operand."""
    assume(case.arch.pe_style == "parallel" and case.layer.input_type in ("int8", "int16"))
    wide = run(case)
    slim = run(case, layer=replace(case.layer, input_type=narrow), chunk=wide.temporal_tile or None)
    assert all(moved(slim, op) <= moved(wide, op) for op in "IWO")


@PROPERTY
@given(cases(), st.sampled_from([0.05, 0.25, 0.5]))
def test_more_sparsity_never_adds_effective_macs_or_skipping_cycles(case, lower):
    assume(not case.tensors and not case.layer.weight_structure and lower < case.layer.weight_density)
    dense, sparse = run(case), run(case, layer=replace(case.layer, weight_density=lower))
    assert sparse.mac_counts.effective <= dense.mac_counts.effective
    if case.arch.sparse == "skip":
        assert sparse.compute_cycles <= dense.compute_cycles


@PROPERTY
@given(layers(structure="2:4"), arrays(dataflows=("ws",), weight_format="dense"),
       st.sampled_from(["2:4", "1:4"]), st.booleans())
def test_nm_weights_cut_compute_at_most_m_over_n_and_never_input_bytes(layer, arch, structure, swap):
    """N:M PEs skip at most (M−N)/M of the work; they still select from all K inputs; their weights
    move exactly the kept values plus an index each, per pass."""
    layer = replace(layer, weight_structure=structure)
    nm_arch = arch.with_changes(weight_nm="2:4")
    case = Case(layer, nm_arch, "ws", swap, 1.0, "", 0)
    sparse = run(case)
    assume(sparse.mac_counts.skipped > 0)
    dense = run(case, layer=replace(layer, weight_structure=""), arch=arch, chunk=sparse.temporal_tile or None)
    # 2:4 PEs (N/M = 1/2): the streamed steps (the work) halve at most, exactly; the cycles too, but for
    # one fold's fill and drain: a dense layer's last partial K-tile (e.g. 1 row) costs a whole fold's
    # stream time, so its cycles can exceed twice the N:M ones by that much (docs/bounds.md)
    assert sparse.stream_cycles * 4 >= dense.stream_cycles * 2
    assert sparse.compute_cycles * 4 >= (dense.compute_cycles - 2 * (arch.rows + arch.cols)) * 2
    assert sparse.traffic.I.dram_bytes >= dense.traffic.I.dram_bytes
    g = layer.gemm
    kept = g.count * -(-g.K // 4) * 2 * g.N
    values, index = kept * element_bytes(layer.weight_type), Fraction(kept * 2, 8)
    passes = Fraction(sparse.traffic.W.dram_bytes) / values
    assert passes.denominator == 1 or sparse.traffic.W.dram_bytes == math.ceil(values * math.floor(passes))
    assert sparse.traffic.W.dram_metadata_bytes == math.ceil(index * round(passes))


def test_nm_cycles_may_beat_half_dense_by_the_dense_layers_partial_fold():
    """The example the property found: K = 82 on 9 rows is 9 full K-tiles and one of 1 row dense, 4 and one
    of 6 rows at 2:4; the streamed steps halve exactly, the cycles by 2.005x (806 against 402)."""
    arch = ArrayConfig(rows=9, cols=1, dataflows=("ws",), memory=MemorySpec(0.25, 0.25, 0.25, dram_bytes_per_cycle=0.5))
    layer = Layer("fc", "linear", in_shapes=((2, 82),), out=8, batch=2)
    dense = simulate_layer(layer, arch, load_dataflow("ws"))
    nm = simulate_layer(replace(layer, weight_structure="2:4"), arch.with_changes(weight_nm="2:4"), load_dataflow("ws"))
    assert (dense.folds, nm.folds, dense.stream_cycles, nm.stream_cycles) == (80, 40, 320, 160)
    assert (dense.compute_cycles, nm.compute_cycles) == (806, 402)


def test_the_issue_17_repro_is_at_most_twice_as_fast_and_moves_every_input():
    """256×1024 @ 1024×4096 on sa32 WS: 2:4 had 4.61× fewer cycles and 128× fewer input bytes than dense."""
    from accelsim.arch import resolve_arch

    layer = Layer("fc", "linear", in_shapes=((256, 1024),), out=4096)
    sa32, ws = resolve_arch("sa32"), load_dataflow("ws")
    dense = simulate_layer(layer, sa32, ws)
    sparse = simulate_layer(replace(layer, weight_structure="2:4"), sa32.with_changes(weight_nm="2:4"), ws)
    assert (dense.cycles, dense.traffic.I.dram_bytes) == (2_424_832, 33_554_432)
    assert dense.cycles / sparse.cycles <= 2
    assert sparse.traffic.I.dram_bytes >= dense.traffic.I.dram_bytes
    assert (sparse.traffic.W.dram_bytes, sparse.traffic.W.dram_metadata_bytes) == (1024 * 4096 // 2, 1024 * 4096 // 2 // 4)


@pytest.mark.parametrize("mode, search", [("skip", False), ("nm", False), ("nm", True)])
def test_resnet50_sparse_speed_up_stays_within_what_the_pes_can_deliver(mode, search):
    from accelsim.arch import resolve_arch
    from accelsim.sim import simulate
    from accelsim.workload import resolve_workload

    graph = resolve_workload("resnet50")
    arch = resolve_arch("sa32").with_changes(**({"weight_nm": "2:4", "dataflows": ("ws",)} if mode == "nm" else {"sparse": "skip"}))
    changes = {"weight_structure": "2:4"} if mode == "nm" else {"weight_density": 0.5}
    graph, ws = graph.with_gemm_changes(changes), load_dataflow("ws")
    if search:  # the searched mapping's dense_cycles is the same mapping dense (4.6x on one layer before)
        from accelsim.dse.mapping_search import search_mapping

        result = simulate(graph, arch, ws, energy_table=None, choices=search_mapping(graph, arch, "ws"))
    else:
        result = simulate(graph, arch, ws, energy_table=None)
    array_layers = [r for r in result.layers if r.unit == "array"]
    assert len(array_layers) == 54
    for r in array_layers:  # 2:4 PEs halve the work at most; skipping half-zero weights cannot beat 2x either
        assert r.dense_cycles <= 2 * r.cycles, r.name


@PROPERTY
@given(cases())
def test_skipping_zero_weights_never_cuts_input_bytes(case):
    """Each column tile skips different reduction rows, so every input stays needed: a skipping array
    moves at least the dense input bytes under the same chunk (the residency bug of issue 17)."""
    assume(case.arch.sparse == "skip" and case.layer.weight_density < 1 and "W" not in case.tensors)
    sparse = run(case)
    dense = run(case, arch=case.arch.with_changes(sparse="none"), chunk=sparse.temporal_tile or None)
    assert moved(sparse, "I") >= moved(dense, "I")


def test_skipping_on_the_issue_17_layer_moves_every_input():
    """The repro layer with 1%-dense weights on a skipping sa32: the rows each column tile keeps differ,
    so the inputs are re-read per column tile exactly as dense (they were read once before the fix)."""
    from accelsim.arch import resolve_arch

    layer = Layer("fc", "linear", in_shapes=((256, 1024),), out=4096, weight_density=0.01)
    sa32, ws = resolve_arch("sa32"), load_dataflow("ws")
    skip = simulate_layer(layer, sa32.with_changes(sparse="skip"), ws)
    dense = simulate_layer(layer, sa32, ws, temporal_tile=skip.temporal_tile or None)
    assert skip.traffic.I.dram_bytes == dense.traffic.I.dram_bytes == 33_554_432


def test_skipping_with_k_outer_still_rereads_inputs_per_column_tile():
    """Loop order (K, N): one K-tile's rows serve every column tile densely, but skipping column tiles keep
    different rows, so nothing is reused across them unless the chunk's rows over all of K stay resident
    (the review of issue 17: 262,144 input bytes before, 128 column tiles × 262,144 now)."""
    from accelsim.arch import resolve_arch

    layer = Layer("fc", "linear", in_shapes=((256, 1024),), out=4096, weight_density=0.01)
    kn = with_loop_order(load_dataflow("ws"), ("K", "N"))
    sa32 = resolve_arch("sa32")
    arch = sa32.with_changes(sparse="skip", memory=replace(sa32.memory, ifmap_kib=4))  # 4 rows × 1024 B: no fit
    skip = simulate_layer(layer, arch, kn)
    assert skip.temporal_tile == 4 and skip.mac_counts.skipped > 0
    assert skip.traffic.I.dram_bytes == 128 * 262_144  # once per column tile


def test_an_is_convolution_reads_its_input_tensor_once_when_it_stays_resident():
    """IS keeps the input stationary: with ideal memory (or a buffer that holds it) the 16×16×16 tensor is
    read once (4,096 bytes), not as its 3×3-unfolded tiles (36,864 before issue 17's review)."""
    conv = Layer("c", "conv2d", in_shapes=((16, 16, 16),), out=32, kernel=(3, 3), padding=(1, 1, 1, 1))
    arch = ArrayConfig(rows=32, cols=32)
    for memory in (False, True):
        r = simulate_layer(conv, arch, load_dataflow("is"), memory=memory)
        assert r.traffic.I.dram_bytes == 16 * 16 * 16


@PROPERTY
@given(cases())
def test_ideal_memory_is_never_slower_and_never_moves_more(case):
    """Buffers that hold everything and a DRAM that is never late: no stall, no re-read, no chunk reload."""
    assume(case.memory)
    modelled = run(case)
    ideal = run(replace(case, memory=False, tile_fraction=1.0))
    assert ideal.stall_cycles == 0 and ideal.cycles <= modelled.cycles
    assert all(moved(ideal, op) <= moved(modelled, op) for op in "IWO")
