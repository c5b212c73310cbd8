"""One fold sequence, one definition: ``Mapping.folds()`` is what ``fold_count``, ``fold_sums()`` and
``play_sequence()`` count and play, on every kind of mapping (issue 17 §3).

The reference engine and the RTL bench walk ``folds()``; the fast engine plays ``play_sequence()``
and the memory model reads ``fold_sums()``. Before this test, a zero-skipping mapping built from
real tensors yielded from ``folds()`` every K tile of the longest column tile (8 folds, 1,024
PE-steps) where ``fold_count`` and ``fold_sums()`` said 6 (768).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig
from accelsim.mapping import Mapping, load_dataflow
from accelsim.mapping.choice import with_loop_order
from accelsim.workload import Layer

KINDS = ("dense", "chunked", "nm", "nm-tensor", "fusible", "bit-serial", "skip-density", "skip-tensor-W",
         "skip-tensor-I", "skip-tensor-both")


def expand(seq, times: int = 1) -> list:
    """A run-length encoded fold sequence as the flat list of folds it plays."""
    out = []
    for item, repeat in seq:
        out += (expand(item) if isinstance(item, list) else [item]) * repeat
    return out * times


def brute_sums(mapping: Mapping, folds) -> dict[str, int]:
    """``fold_sums()`` from the folds themselves; N:M stream words from each fold's real K offset."""
    b = mapping.serial_bits
    sums = dict.fromkeys(("macs", "rows_cols", "rows_steps", "cols_steps", "stream_words"), 0)
    for _, offsets, fold in folds:
        steps = fold.steps // b
        sums["macs"] += fold.rows * fold.cols * steps
        sums["rows_cols"] += fold.rows * fold.cols
        sums["rows_steps"] += fold.rows * steps
        sums["cols_steps"] += fold.cols * steps
        if mapping.nm_groups:  # every group of M inputs the fold's kept rows come from
            n, m = mapping.nm_groups
            k0 = offsets["K"]
            words = m * len({r // n for r in range(k0, k0 + fold.rows)})
        else:
            words = fold.rows
        sums["stream_words"] += steps * words
    return sums


@st.composite
def mappings(draw):
    kind = draw(st.sampled_from(KINDS))
    name = draw(st.sampled_from(["ws", "os", "is"]))
    if kind.startswith("nm"):
        name = "ws"
    dataflow = load_dataflow(name)
    if draw(st.booleans()):
        dataflow = with_loop_order(dataflow, tuple(reversed(dataflow.loop_order)))
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    m, n, k = (draw(st.integers(1, 20)) for _ in range(3))
    count = draw(st.integers(1, 2))
    arch = ArrayConfig(rows=rows, cols=cols, double_buffered=draw(st.booleans()))
    fields: dict = {}
    operands: dict = {}
    temporal_tile = None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.05, 0.3, 0.7]))
    if kind == "chunked" and dataflow.mode == "stationary":
        temporal_tile = draw(st.integers(1, m if dataflow.temporal == "M" else n))
    elif kind.startswith("nm"):
        arch = arch.with_changes(dataflows=("ws",), weight_nm=draw(st.sampled_from(["2:4", "1:4", "4:8"])))
        keep, group = arch.nm
        fields["weight_structure"] = f"{keep}:{group}"
        if kind == "nm-tensor":  # at most N non-zeros in every group of M along K
            w = rng.integers(1, 8, size=(count, k, n))
            order = rng.random((count, -(-k // group) * group, n)).argsort(axis=1) % group
            operands["W"] = w * (order[:, :k] < keep)
    elif kind == "fusible":
        arch = arch.with_changes(pe_style="fusible")
        fields.update(input_type=draw(st.sampled_from(["int2", "int4", "int8"])),
                      weight_type=draw(st.sampled_from(["int1", "int4", "int8"])))
    elif kind == "bit-serial":
        arch = arch.with_changes(pe_style="bit-serial")
        fields[f"{'input' if dataflow.left == 'I' else 'weight'}_type"] = f"int{draw(st.integers(1, 16))}"
    elif kind.startswith("skip"):
        arch = arch.with_changes(sparse="skip")
        fields.update(input_density=density, weight_density=draw(st.sampled_from([0.1, 0.5, 1.0])))
        which = kind.rsplit("-", 1)[1]
        if which in ("I", "both"):
            operands["I"] = rng.integers(1, 4, size=(count, m, k)) * (rng.random((count, m, k)) < density)
        if which in ("W", "both"):
            operands["W"] = rng.integers(1, 4, size=(count, k, n)) * (rng.random((count, k, n)) < density)
    shape = (count,) if count > 1 else ()
    layer = Layer("g", "matmul", in_shapes=((*shape, m, k), (*shape, k, n)), **fields)
    return kind, Mapping.for_layer(layer, dataflow, arch.with_changes(dataflows=(dataflow.name,)), memory=False,
                                   operands=operands or None, temporal_tile=temporal_tile)


@settings(max_examples=400, deadline=None)
@given(mappings())
def test_folds_is_the_sequence_every_count_and_the_timeline_read(case):
    kind, mapping = case
    folds = list(mapping.folds())
    assert len(folds) == mapping.fold_count, kind
    assert brute_sums(mapping, folds) == mapping.fold_sums(), kind
    assert expand(*mapping.play_sequence()) == [fold for _, _, fold in folds], kind
    assert all(fold.steps % mapping.serial_bits == 0 and fold.rows and fold.cols and fold.steps for _, _, fold in folds)


@settings(max_examples=150, deadline=None)
@given(mappings())
def test_uniform_folds_tile_the_gemm_exactly_once(case):
    """Where every tile runs the same reduction, the folds cover count × M × N × K' once each."""
    kind, mapping = case
    if not mapping.uniform:
        return
    g, df = mapping.gemm, mapping.dataflow
    size = {d: mapping.size(d) for d in "MNK"}
    covered = np.zeros((g.count, size["M"], size["N"], size["K"]), dtype=np.int64)
    for index, offsets, fold in mapping.folds():
        extent = {df.rows: fold.rows, df.cols: fold.cols, df.temporal: fold.steps // mapping.serial_bits}
        covered[index, offsets["M"]:offsets["M"] + extent["M"], offsets["N"]:offsets["N"] + extent["N"],
                offsets["K"]:offsets["K"] + extent["K"]] += 1
    assert (covered == 1).all(), kind


def test_skipping_from_tensors_yields_the_folds_it_counts():
    """The issue's case: two column tiles on a 4×4 WS array keep 16 and 8 of their 16 rows."""
    arch = ArrayConfig(rows=4, cols=4, sparse="skip")
    weights = np.ones((1, 16, 8), dtype=np.int64)
    weights[0, 8:, 4:] = 0  # the second column tile: rows 8–15 all zero
    layer = Layer("fc", "linear", in_shapes=((8, 16),), out=8)
    mapping = Mapping.for_layer(layer, load_dataflow("ws"), arch, memory=False, operands={"W": weights})
    assert mapping.reduction == ((16, 8),)
    folds = [fold for _, _, fold in mapping.folds()]
    assert len(folds) == mapping.fold_count == 6
    assert sum(f.rows * f.cols * f.steps for f in folds) == mapping.fold_sums()["macs"] == 768


def test_output_mode_skipping_follows_the_loop_order():
    """Per-tile steps are looked up by tile, whatever order the loop visits the tiles in."""
    arch = ArrayConfig(rows=2, cols=2, sparse="skip", dataflows=("os",))
    inputs = np.ones((1, 4, 6), dtype=np.int64)
    inputs[0, 2:, 3:] = 0  # the second row tile needs only steps 0–2
    layer = Layer("fc", "linear", in_shapes=((4, 6),), out=4)
    for order, want in (("MN", [6, 6, 3, 3]), ("NM", [6, 3, 6, 3])):
        dataflow = with_loop_order(load_dataflow("os"), tuple(order))
        mapping = Mapping.for_layer(layer, dataflow, arch, memory=False, operands={"I": inputs})
        assert [f.steps for _, _, f in mapping.folds()] == want
        assert expand(*mapping.play_sequence()) == [f for _, _, f in mapping.folds()]

