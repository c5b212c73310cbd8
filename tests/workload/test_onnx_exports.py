"""The graphs real exporters write: PyTorch's TorchScript (opset 17) and dynamo (opset 18) exports of
encoders, decoder LMs, a ViT and modern CNNs (tests/data/onnx_exports, weight-stripped; counts from
the PyTorch modules in manifest.json, computed by build.py, not from the ONNX graph)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx", reason="install the onnx extra: pip install -e '.[onnx]'")

from accelsim.arch import ArrayConfig, resolve_arch  # noqa: E402
from accelsim.cli import main  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.sim import simulate  # noqa: E402
from accelsim.workload import resolve_workload  # noqa: E402
from accelsim.workload.onnx_import import load_onnx  # noqa: E402

FOLDER = Path(__file__).resolve().parent.parent / "data" / "onnx_exports"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())["fixtures"]
FILES = sorted(MANIFEST)


def test_every_model_comes_from_both_exporters():
    models = {}
    for name, entry in MANIFEST.items():
        models.setdefault(entry["model"], set()).add((entry["exporter"], entry["opset"]))
        assert entry["export_error"] is None
    assert set(models) >= {"bert", "llama", "gpt2", "vit", "mobilenetv3", "efficientnet", "convnext"}
    assert all(exports == {("torchscript", 17), ("dynamo", 18)} for exports in models.values()), models


@pytest.mark.parametrize("name", FILES)
def test_imports_strictly_with_the_pytorch_counts_and_simulates_in_every_dataflow(name):
    entry = MANIFEST[name]
    graph = load_onnx(FOLDER / name)
    assert "placeholders" not in graph.meta and "assumptions" not in graph.meta
    assert graph.macs == entry["macs"]
    assert graph.params == entry["params_linear_conv_in_file"]
    arch = ArrayConfig(rows=32, cols=32)
    for dataflow in ("ws", "os", "is"):
        result = simulate(graph, arch, load_dataflow(dataflow))
        assert result.total_macs == entry["macs"] and result.total_cycles > 0
        assert all(r.cycles * arch.pes >= r.macs for r in result.layers)


@pytest.mark.parametrize("name", FILES)
def test_export_round_trips(name, tmp_path, capsys):
    out = tmp_path / "model.yaml"
    assert main(["workload", "export", str(FOLDER / name), "-o", str(out)]) == 0
    capsys.readouterr()
    graph, again = load_onnx(FOLDER / name), resolve_workload(str(out))
    assert [layer.to_dict() for layer in again] == [layer.to_dict() for layer in graph]
    arch = ArrayConfig(rows=32, cols=32)
    assert simulate(again, arch, load_dataflow("ws")).to_dict()["layers"] == \
        simulate(graph, arch, load_dataflow("ws")).to_dict()["layers"]


@pytest.mark.parametrize("name", FILES)
def test_lenient_imports_the_same_graph(name):
    strict, lenient = load_onnx(FOLDER / name), load_onnx(FOLDER / name, lenient=True)
    assert [layer.to_dict() for layer in lenient] == [layer.to_dict() for layer in strict]


def test_tokens_merged_with_the_batch_time_linear_layers_with_m_equal_b_times_s():
    graph = load_onnx(FOLDER / "bert.ts17.onnx")  # batch 2, sequence 16, hidden 64
    linears = [layer for layer in graph if layer.kind == "linear" and layer.out == 64]
    assert linears and all(layer.gemm.M == 2 * 16 for layer in linears[:-1])  # the pooler reads one token per sample
    attention = [layer for layer in graph if layer.kind == "matmul"]
    assert len(attention) == 4 and all(layer.gemm.count == 2 * 4 for layer in attention)  # batch × heads


def test_an_embedding_lookup_reads_its_rows_from_dram_but_has_no_macs():
    """A Gather from a constant table (an embedding) was a free on-chip copy: it reads its rows from DRAM."""
    graph = load_onnx(FOLDER / "llama.dynamo18.onnx")
    lookups = [layer for layer in graph if layer.kind == "reshape" and layer.op == "lookup"]
    embedding = lookups[0]
    assert embedding.macs == 0 and embedding.out_shape[-1] == 64 and embedding.vector_ops == 16 * 64
    arch = ArrayConfig(rows=32, cols=32)
    result = next(r for r in simulate(graph, arch, load_dataflow("ws")).layers if r.name == embedding.name)
    assert result.traffic["W"].dram_bytes == 16 * 64  # int8 rows on an integer array
    assert result.cycles >= 16 * 64 // arch.memory.dram_bytes_per_cycle
    on_bf16 = simulate(graph, resolve_arch("tpuv4"), load_dataflow("ws"))
    assert next(r for r in on_bf16.layers if r.name == embedding.name).traffic["W"].dram_bytes == 2 * 16 * 64


# -- each behaviour on a hand-built graph (independent of the fixtures) -----------------------------
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
import numpy as np  # noqa: E402


def _save(tmp_path, nodes, inputs, outputs, inits=(), opset=17, name="m.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    path = tmp_path / name
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def _t(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _w(name, shape, value=0.5):
    return numpy_helper.from_array(np.full(shape, value, dtype=np.float32), name)


def test_a_broadcasting_multiply_costs_its_broadcast_output(tmp_path):
    """Squeeze-excitation: a [C,1,1] scale times the [C,H,W] map."""
    path = _save(tmp_path, [helper.make_node("GlobalAveragePool", ["x"], ["s"], name="pool"),
                            helper.make_node("Sigmoid", ["s"], ["g"], name="gate"),
                            helper.make_node("Mul", ["x", "g"], ["y"], name="scale")],
                 [_t("x", [2, 8, 5, 5])], [_t("y", [2, 8, 5, 5])])
    scale = load_onnx(path)["scale"]
    assert scale.in_shapes == ((8, 5, 5), (8, 1, 1)) and scale.out_shape == (8, 5, 5)
    assert scale.vector_ops == 2 * 8 * 5 * 5  # the broadcast output, once per element


def test_tokens_flattened_with_the_batch_feed_a_linear_of_m_equal_b_times_s(tmp_path):
    shape = numpy_helper.from_array(np.array([-1, 16], dtype=np.int64), "flat")
    back = numpy_helper.from_array(np.array([3, 7, 32], dtype=np.int64), "back")
    path = _save(tmp_path, [helper.make_node("Reshape", ["x", "flat"], ["t"], name="merge"),
                            helper.make_node("MatMul", ["t", "w"], ["p"], name="fc"),
                            helper.make_node("Add", ["p", "b"], ["q"], name="bias"),
                            helper.make_node("Reshape", ["q", "back"], ["y"], name="split"),
                            helper.make_node("Relu", ["y"], ["z"], name="act")],
                 [_t("x", [3, 7, 16])], [_t("z", [3, 7, 32])],
                 [shape, back, _w("w", [16, 32]), _w("b", [32])])
    graph = load_onnx(path)
    fc = graph["fc"]
    assert fc.gemm.M == 3 * 7 and fc.batch == 1 and fc.bias and fc.params == 16 * 32 + 32
    assert "bias" not in graph  # the Add is the linear layer's bias, not an elementwise layer
    assert graph["act"].batch == 3 and graph["act"].in_shapes == ((7, 32),)
    assert graph.macs == 3 * 7 * 16 * 32


def test_a_concat_with_a_constant_token_and_a_gathered_embedding(tmp_path):
    path = _save(tmp_path, [helper.make_node("Gather", ["table", "ids"], ["e"], name="embed"),
                            helper.make_node("Concat", ["cls", "e"], ["y"], name="prepend", axis=1)],
                 [_t("ids", [1, 5], TensorProto.INT64)], [_t("y", [1, 6, 8])],
                 [_w("table", [100, 8]), _w("cls", [1, 1, 8])])
    graph = load_onnx(path)
    assert graph["embed"].macs == 0 and graph["embed"].vector_ops == 5 * 8 and graph.params == 0
    assert graph["prepend"].out_shape == (6, 8)


def test_shape_arithmetic_is_folded_and_an_unknown_dimension_is_one_line(tmp_path, capsys):
    # Reshape's target computed from Shape: folded to a constant, so the import needs no guess
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["b"], name="batch", axis=0),
             helper.make_node("Unsqueeze", ["b", "axes"], ["b1"], name="unsq"),
             helper.make_node("Concat", ["b1", "minus1"], ["target"], name="cat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten")]
    inits = [numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
             numpy_helper.from_array(np.array([0], dtype=np.int64), "axes"),
             numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus1")]
    path = _save(tmp_path, nodes, [_t("x", ["N", 4, 6])], [_t("y", None)], inits)
    graph = load_onnx(path, batch=2)
    assert graph["flatten"].out_shape == (24,) and graph["flatten"].batch == 2
    # NonZero's output size depends on the data: nothing can resolve it, and it is said, not guessed
    nodes = [helper.make_node("NonZero", ["x"], ["nz"], name="nz"),
             helper.make_node("Transpose", ["nz"], ["y"], name="t")]
    path = _save(tmp_path, nodes, [_t("x", [2, 3])], [_t("y", None, TensorProto.INT64)], name="nz.onnx")
    assert main(["workload", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "depends on the data (NonZero)" in err
    assert main(["workload", "info", str(path), "--lenient", "--json"]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert len(info["placeholders"]) == 2 and "depends on the data" in info["placeholders"][1]


def test_lenient_never_fails_on_structure(tmp_path, capsys):
    """A conv whose weights do not fit its input, and an op nobody knows: placeholders, listed."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="badconv"),
             helper.make_node("FancyOp", ["c"], ["f"], name="fancy", domain="com.example"),
             helper.make_node("Relu", ["x"], ["y"], name="relu")]
    import onnx

    graph = helper.make_graph(nodes, "g", [_t("x", [1, 3, 8, 8])], [_t("y", [1, 3, 8, 8]), _t("f", None)],
                              [_w("w", [4, 5, 3, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    assert main(["workload", "info", str(path)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    graph = load_onnx(path, lenient=True)
    assert [layer.kind for layer in graph] == ["placeholder", "placeholder", "eltwise"]
    assert len(graph.meta["placeholders"]) == 2


# -- hostile inputs (each was a traceback, a hang, a blow-up or a silently wrong graph) -------------
def test_a_huge_range_is_never_materialised(tmp_path):
    nodes = [helper.make_node("Range", ["zero", "limit", "one"], ["r"], name="rng"),
             helper.make_node("Cast", ["r"], ["rf"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["rf", "ax"], ["ru"], name="unsq"),
             helper.make_node("Add", ["x", "ru"], ["y"], name="add")]
    inits = [numpy_helper.from_array(np.array(v, dtype=np.int64), n) for n, v in
             (("zero", 0), ("limit", 10**9), ("one", 1))] + [numpy_helper.from_array(np.array([0], dtype=np.int64), "ax")]
    path = _save(tmp_path, nodes, [_t("x", [2, 1])], [_t("y", None)], inits)
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    graph = load_onnx(path, lenient=True)  # the Range stays an uncomputed constant
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: no gigabytes
    assert [layer.name for layer in graph] in (["add"], [])


def test_dynamic_axes_resolve_with_batch_and_seq(tmp_path):
    """Range(batch) and Range(seq) unsqueezed and added: ONNX's data propagation refused it."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "i0"], ["b"], name="gb", axis=0),
             helper.make_node("Gather", ["s", "i1"], ["n"], name="gn", axis=0),
             helper.make_node("Range", ["zero", "b", "one"], ["rb"], name="rangeb"),
             helper.make_node("Range", ["zero", "n", "one"], ["rn"], name="rangen"),
             helper.make_node("Unsqueeze", ["rb", "ax1"], ["ub"], name="ub"),
             helper.make_node("Unsqueeze", ["rn", "ax0"], ["un"], name="un"),
             helper.make_node("Add", ["ub", "un"], ["grid"], name="grid"),
             helper.make_node("Cast", ["grid"], ["gf"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "gf"], ["y"], name="add")]
    ints = {"i0": 0, "i1": 1, "zero": 0, "one": 1}
    inits = [numpy_helper.from_array(np.array(v, dtype=np.int64), k) for k, v in ints.items()]
    inits += [numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
              numpy_helper.from_array(np.array([0], dtype=np.int64), "ax0")]
    path = _save(tmp_path, nodes, [_t("x", ["batch", "seq"])], [_t("y", None)], inits)
    graph = load_onnx(path, batch=3, dims={"seq": 7})
    assert graph["add"].out_shape == (7,) and graph["add"].batch == 3


def test_subgraphs_are_never_constants_and_broken_files_are_one_line(tmp_path, capsys):
    then = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [], [_t("t", [2, 4])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [_t("e", [2, 4])])
    nodes = [helper.make_node("If", ["cond"], ["y"], name="if", then_branch=then, else_branch=other)]
    inits = [numpy_helper.from_array(np.array(True), "cond"), _w("w", [4, 4])]
    path = _save(tmp_path, nodes, [_t("x", [2, 4])], [_t("y", [2, 4])], inits)
    assert main(["workload", "info", str(path)]) == 1
    assert "op If is not supported" in capsys.readouterr().err
    assert [layer.kind for layer in load_onnx(path, lenient=True)] == ["placeholder"]
    import onnx

    model = onnx.load(str(path))  # weights stored outside, then the data file lost
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.bin", size_threshold=0)
    (tmp_path / "ext.bin").unlink()
    assert main(["workload", "info", str(tmp_path / "ext.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable ONNX model" in err


def test_scalars_odd_names_and_unknown_dim_flags(tmp_path, capsys):
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], name="1e3", keepdims=0),
             helper.make_node("Mul", ["m", "t"], ["y"], name="line\nbreak")]
    path = _save(tmp_path, nodes, [_t("x", [1, 4]), _t("t", [])], [_t("y", [])], opset=17)
    graph = load_onnx(path)
    assert [layer.name for layer in graph] == ["1e3", "line\\x0abreak"]
    out = tmp_path / "m.yaml"
    assert main(["workload", "export", str(path), "-o", str(out)]) == 0
    assert [layer.to_dict() for layer in resolve_workload(str(out))] == [layer.to_dict() for layer in graph]
    capsys.readouterr()
    for argv, message in [(["--dim", "sequence=4"], "no symbolic dimension 'sequence'"),
                          (["--seq", "4"], "no symbolic sequence dimension")]:
        assert main(["workload", "info", str(path), *argv]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_matmuls_whose_leading_dimensions_broadcast(tmp_path):
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm"),
             helper.make_node("Relu", ["w"], ["rw"], name="relu"),
             helper.make_node("MatMul", ["x", "rw"], ["z"], name="act2d")]
    path = _save(tmp_path, nodes, [_t("a", [2, 3, 4, 8]), _t("b", [2, 1, 8, 6]), _t("x", [2, 5, 16]),
                                   _t("w", [16, 8])], [_t("y", [2, 3, 4, 6]), _t("z", [2, 5, 8])])
    graph = load_onnx(path)
    assert graph["mm"].macs == 2 * 3 * 4 * 8 * 6 and graph["mm"].out_shape == (3, 4, 6)
    assert graph["act2d"].macs == 2 * 5 * 16 * 8


def test_a_weight_shared_by_layers_counts_once(tmp_path, capsys):
    """ALBERT reuses one layer's weights in every layer: the file holds them once."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h1"], name="l1"),
             helper.make_node("Add", ["h1", "b"], ["a1"], name="l1_bias"),
             helper.make_node("MatMul", ["a1", "w"], ["h2"], name="l2"),
             helper.make_node("Add", ["h2", "b"], ["y"], name="l2_bias")]
    path = _save(tmp_path, nodes, [_t("x", [1, 5, 16])], [_t("y", [1, 5, 16])], [_w("w", [16, 16]), _w("b", [16])])
    graph = load_onnx(path)
    assert graph.params == 16 * 16 + 16 and graph.macs == 2 * 5 * 16 * 16
    assert graph["l2"].shared_params == 16 * 16 + 16
    out = tmp_path / "m.yaml"
    assert main(["workload", "export", str(path), "-o", str(out)]) == 0
    capsys.readouterr()
    assert resolve_workload(str(out)).params == graph.params


def test_lenient_survives_a_model_onnx_shape_inference_rejects(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "c"], ["y"], name="add"),  # [1, 24] + [5]: does not broadcast
             helper.make_node("Relu", ["x"], ["z"], name="relu2")]
    path = _save(tmp_path, nodes, [_t("x", [1, 24])], [_t("y", None), _t("z", [1, 24])], [_w("c", [5])])
    assert main(["workload", "info", str(path)]) == 1
    assert "ONNX shape inference failed" in capsys.readouterr().err
    graph = load_onnx(path, lenient=True)
    assert "relu" in graph and "relu2" in graph and graph["add"].kind == "placeholder"
    assert "shape inference failed" in graph.meta["placeholders"][0]
