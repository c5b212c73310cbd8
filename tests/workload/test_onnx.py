"""ONNX import: the model-zoo networks in the onnx wheel, a hand-built model covering each supported
op, unknown ops (strict and lenient) and malformed files."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="install the onnx extra: pip install -e '.[onnx]'")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.arch import ArrayConfig  # noqa: E402
from accelsim.cli import main  # noqa: E402
from accelsim.errors import SpecError, UnsupportedError  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.workload.layer import GemmView  # noqa: E402
from accelsim.sim import simulate  # noqa: E402
from accelsim.workload import graph_from_dict, graph_to_yaml, resolve_workload  # noqa: E402
from accelsim.workload.onnx_import import load_onnx  # noqa: E402
from accelsim.specio import load_yaml  # noqa: E402

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
NETWORKS = sorted(LIGHT.glob("light_*.onnx"))


def independent_counts(path: Path) -> tuple[int, int]:
    """MACs and parameters of Conv/Gemm/MatMul nodes, read straight from ONNX shape inference."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    shapes |= {t.name: list(t.dims) for t in model.graph.initializer}
    constant = {t.name for t in model.graph.initializer}
    for n in model.graph.node:  # constants, and anything computed from constants only (e.g. a Reshape of weights)
        if n.op_type in ("Constant", "ConstantOfShape") or all(i in constant for i in n.input if i):
            constant |= set(n.output)
    macs = params = 0
    for node in model.graph.node:
        ins = [i for i in node.input if i]
        if node.op_type == "Conv":
            w, y = shapes[ins[1]], shapes[node.output[0]]
            macs += math.prod(y) * math.prod(w[1:])  # each output sums C/groups · kh · kw products
            params += math.prod(w) + (math.prod(shapes[ins[2]]) if len(ins) > 2 else 0)
        elif node.op_type in ("Gemm", "MatMul"):
            a, b, y = shapes[ins[0]], shapes[ins[1]], shapes[node.output[0]]
            macs += math.prod(y) * a[-1]
            if ins[1] in constant:  # weights; a product of two activations has none
                params += math.prod(b) + (math.prod(shapes[ins[2]]) if len(ins) > 2 else 0)
    return macs, params


def test_all_nine_networks_ship_with_onnx():
    assert len(NETWORKS) == 9


@pytest.mark.parametrize("path", NETWORKS, ids=[p.stem for p in NETWORKS])
def test_network_imports_with_independent_counts_and_simulates(path, capsys):
    macs, params = independent_counts(path)
    assert main(["workload", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["macs"], info["params"]) == (macs, params)
    assert info["placeholders"] == []
    graph = load_onnx(path)
    arch = ArrayConfig(rows=32, cols=32)
    for name in ("ws", "os", "is"):
        result = simulate(graph, arch, load_dataflow(name))
        assert result.total_macs == macs
        assert all(r.cycles * arch.pes >= r.macs for r in result.layers)
        assert 0 < result.utilization <= 1


def test_the_figures_the_issue_quotes():
    resnet = load_onnx(LIGHT / "light_resnet50.onnx")
    assert (resnet.macs, resnet.params) == (4_089_184_256, 25_503_912)
    assert load_onnx(LIGHT / "light_vgg19.onnx").params == 143_667_240


def test_edges_follow_the_onnx_data_flow():
    graph = load_onnx(LIGHT / "light_squeezenet.onnx")
    concats = [layer for layer in graph if layer.kind == "concat"]
    assert len(concats) == 8
    for layer in concats:  # each fire module joins its 1x1 and 3x3 expand convolutions
        producers = [graph[p] for p in graph.sources(layer.name)]
        assert sorted(p.kernel for p in producers) == [(1, 1), (3, 3)] or all(p.kind == "eltwise" for p in producers)
        assert graph.nx.in_degree(layer.name) == 2


def test_export_round_trips(tmp_path, capsys):
    out = tmp_path / "net.yaml"
    assert main(["workload", "export", str(LIGHT / "light_inception_v1.onnx"), "-o", str(out)]) == 0
    again = resolve_workload(str(out))
    original = load_onnx(LIGHT / "light_inception_v1.onnx")
    assert [layer for layer in again] == [layer for layer in original]
    assert main(["workload", "export", str(LIGHT / "light_inception_v1.onnx"), "-o", str(out)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err


# -- a model built with onnx.helper, one node per supported op ---------------------------------
def _const(name, shape, value=0.5):
    return numpy_helper.from_array(np.full(shape, value, dtype=np.float32), name)


def build_every_op_model() -> onnx.ModelProto:
    nodes, inits = [], []

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    inits += [_const("w1", (8, 3, 3, 3)), _const("b1", (8,)), _const("wd", (8, 1, 3, 3)),
              _const("scale", (8,)), _const("bias", (8,)), _const("mean", (8,)), _const("var", (8,), 1.0),
              _const("cb", (8, 1, 1)), _const("wfc", (10, 8)), _const("bfc", (10,)),
              _const("wqk", (16, 16)), _const("ln_s", (16,)), _const("ln_b", (16,))]
    inits.append(numpy_helper.from_array(np.array([1, 1, 16], dtype=np.int64), "shape_tok"))
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"))
    x = node("Conv", ["image", "w1", "b1"], "conv_same", auto_pad="SAME_UPPER", kernel_shape=[3, 3])
    x = node("BatchNormalization", [x, "scale", "bias", "mean", "var"], "bn")
    x = node("Relu", [x], "relu")
    x = node("MaxPool", [x], "pool_ceil", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    y = node("Conv", [x, "wd"], "dw_dilated", group=8, dilations=[2, 2], pads=[2, 2, 2, 2], kernel_shape=[3, 3])
    y = node("Add", [y, "cb"], "add_const")
    y = node("Sigmoid", [y], "sig")
    z = node("Mul", [y, x], "gate")
    z = node("Sum", [z, x], "sum")
    for op in ("LeakyRelu", "Tanh", "HardSwish", "Erf", "Dropout", "Identity"):
        z = node(op, [z], op.lower())
    z = node("Clip", [z], "clip")
    a = node("AveragePool", [z], "avg", kernel_shape=[2, 2], strides=[2, 2])
    cat = node("Concat", [a, a], "cat", axis=1)
    g = node("GlobalAveragePool", [cat], "gap")
    g2 = node("GlobalMaxPool", [a], "gmp")
    f = node("Flatten", [g2], "flat", axis=1)
    node("Softmax", [node("Gemm", [f, "wfc", "bfc"], "fc", transB=1)], "prob")
    # attention-like: the 16 pooled channels as one token of width 16
    t = node("Reshape", [node("Flatten", [g], "flat2", axis=1), "shape_tok"], "tokens")
    q = node("MatMul", [t, "wqk"], "q_proj")
    kt = node("Transpose", [q], "k_t", perm=[0, 2, 1])
    s = node("MatMul", [q, kt], "scores")
    s = node("Div", [s, node("Exp", [s], "exp")], "div")
    s = node("Sub", [s, s], "sub")
    node("LayerNormalization", [q, "ln_s", "ln_b"], "ln", axis=-1)
    node("Squeeze", [node("Unsqueeze", [s, "axis1"], "unsq"), "axis1"], "sq")
    graph = helper.make_graph(nodes, "every_op", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_model_with_every_supported_op(tmp_path):
    model = build_every_op_model()
    path = tmp_path / "every_op.onnx"
    onnx.save(model, str(path))
    graph = load_onnx(path)
    by_name = {layer.name: layer for layer in graph}
    ops = {n.op_type for n in model.graph.node}
    assert len(graph) == len(model.graph.node)  # every node is a layer (no constants computed here)
    assert by_name["conv_same"].padding == (1, 1, 1, 1) and by_name["conv_same"].bias
    assert by_name["pool_ceil"].out_shape == (8, 8, 8)  # ceil((16 − 3) / 2) + 1 = 8, not 7
    assert by_name["dw_dilated"].groups == 8 and by_name["dw_dilated"].dilation == (2, 2)
    assert by_name["add_const"].kind == "eltwise" and graph.sources("add_const") == ("dw_dilated",)
    assert graph.sources("gate") == ("sig", "pool_ceil")
    assert by_name["cat"].out_shape == (16, 4, 4)
    assert by_name["fc"].kind == "linear" and by_name["fc"].out == 10 and by_name["fc"].params == 8 * 10 + 10
    assert by_name["q_proj"].kind == "linear" and by_name["q_proj"].params == 16 * 16
    assert by_name["scores"].kind == "matmul" and by_name["scores"].gemm.K == 16
    assert by_name["k_t"].kind == "reshape" and by_name["ln"].op == "layernorm"
    macs, params = independent_counts(path)
    assert (graph.macs, graph.params) == (macs, params)
    assert {"Conv", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Concat",
            "Gemm", "MatMul", "Softmax", "LayerNormalization", "Transpose", "Reshape", "Flatten"} <= ops
    again = graph_from_dict(load_yaml(graph_to_yaml(graph)))
    assert [layer for layer in again] == [layer for layer in graph]


def test_unknown_ops_fail_or_become_listed_placeholders(tmp_path, capsys):
    node = helper.make_node("Det", ["x"], ["nz"], name="find")
    relu = helper.make_node("Relu", ["x"], ["y"], name="act")
    graph = helper.make_graph([relu, node], "odd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4])])
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(UnsupportedError, match=r"node 'find' \(Det\): op Det is not supported \(use --lenient"):
        load_onnx(path)
    assert main(["simulate", str(path)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["simulate", str(path), "--lenient", "--json"]) == 0
    captured = capsys.readouterr()
    assert "warning: node 'find' (Det): op Det is not supported" in captured.err
    layers = {layer["name"]: layer for layer in json.loads(captured.out)["layers"]}
    assert layers["find"]["kind"] == "placeholder" and layers["find"]["op"] == "Det" and layers["find"]["cycles"] == 0


@pytest.mark.parametrize("content, message", [
    (None, "not a readable ONNX model: Error parsing message"),  # truncated
    (b"", "not a readable ONNX model: the graph has no nodes"),
    (b"\x08\x07\x12\x04junk", "not a readable ONNX model"),
])
def test_malformed_files_give_one_line_errors(tmp_path, capsys, content, message):
    path = tmp_path / "bad.onnx"
    raw = (LIGHT / "light_resnet50.onnx").read_bytes()
    path.write_bytes(raw[: len(raw) // 3] if content is None else content)
    with pytest.raises(SpecError):
        load_onnx(path)
    assert main(["workload", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"accelsim: error: {path}: {message}") and err.count("\n") == 1


def test_a_missing_file(capsys):
    assert main(["simulate", "no_such_model.onnx"]) == 1
    assert "no_such_model.onnx: not a readable ONNX model" in capsys.readouterr().err


# -- weights that disagree with their inputs -----------------------------------------------------
def _one_node_model(path, op, wshape, xshape, yshape=None, **attrs):
    node = helper.make_node(op, ["x", "w"], ["y"], name="bad", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)], [_const("w", wshape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("wshape, attrs, message", [
    ([4, 5, 3, 3], {}, "weight shape [4, 5, 3, 3] (5 channels × group 1) does not fit input shape [1, 3, 8, 8]"),
    ([6, 2, 3, 3], {"group": 2}, "weight shape [6, 2, 3, 3] (2 channels × group 2) does not fit input shape [1, 3, 8, 8]"),
])
def test_conv_weights_must_fit_the_input(tmp_path, capsys, wshape, attrs, message):
    path = _one_node_model(tmp_path / "c.onnx", "Conv", wshape, [1, 3, 8, 8], **attrs)
    assert main(["workload", "info", str(path)]) == 1  # was: imported with 4·3·3·3 = 108 parameters
    assert capsys.readouterr().err == f"accelsim: error: {path}: node 'bad' (Conv): {message}\n"


@pytest.mark.parametrize("op, wshape, attrs, message", [
    ("Gemm", [5, 4], {}, "weight shape [5, 4] does not fit input shape [1, 3]"),
    ("Gemm", [4, 5], {"transB": 1}, "weight shape [4, 5] (transB) does not fit input shape [1, 3]"),
    ("MatMul", [5, 4], {}, "weight shape [5, 4] does not fit input shape [1, 3]"),
])
def test_gemm_weights_must_fit_the_input_even_if_onnx_does_not_check(tmp_path, monkeypatch, op, wshape, attrs, message):
    path = _one_node_model(tmp_path / "g.onnx", op, wshape, [1, 3], [1, 4], **attrs)
    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", lambda model, **kw: model)  # our check alone
    with pytest.raises(SpecError) as err:
        load_onnx(path)
    assert str(err.value) == f"{path}: node 'bad' ({op}): {message}"


# -- a symbolic batch dimension ------------------------------------------------------------------
def _symbolic_model(path, xshape=("N", 3, 8, 8)):
    """conv 3→4 (3×3, same padding) → relu → global pool → flatten → fc 4→10, batch named by xshape[0]."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc_w"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(xshape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [xshape[0], 10])],
                              [_const("w", [4, 3, 3, 3]), _const("fc_w", [10, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


NOTE = "input 'x' has a symbolic batch dimension 'N': assumed batch 1 (pass --batch to choose)"
MACS_PER_IMAGE = 4 * 8 * 8 * 3 * 3 * 3 + 4 * 10  # conv + fc


def test_a_symbolic_batch_is_taken_as_1_and_said_everywhere(tmp_path, capsys):
    path = _symbolic_model(tmp_path / "sym.onnx")
    assert main(["workload", "info", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"accelsim: warning: {NOTE}\n"
    info = json.loads(captured.out)
    assert info["assumptions"] == [NOTE] and info["macs"] == MACS_PER_IMAGE
    assert main(["simulate", str(path), "--arch", "tiny"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sym on tiny (4x4)") and lines[1] == f"note: {NOTE}"
    assert main(["simulate", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["assumptions"] == [NOTE] and result["total_macs"] == MACS_PER_IMAGE


def test_batch_option_sets_a_symbolic_batch(tmp_path, capsys):
    path = _symbolic_model(tmp_path / "sym.onnx")
    assert main(["simulate", str(path), "--batch", "3", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert captured.err == "" and result["assumptions"] == [] and result["total_macs"] == 3 * MACS_PER_IMAGE
    out = tmp_path / "sym.yaml"
    assert main(["workload", "export", str(path), "--batch", "3", "-o", str(out)]) == 0
    graph = resolve_workload(str(out))
    assert graph.macs == 3 * MACS_PER_IMAGE and {layer.batch for layer in graph} == {3}
    assert "assumptions" not in graph.meta


@pytest.mark.parametrize("xshape, argv, message", [
    (("N", 3, "H", 8), [], "input 'x' has a symbolic dimension 'H' (axis 2): give it a value with --dim H=N"),
    ((2, 3, 8, 8), ["--batch", "4"], "input 'x' fixes the batch at 2; batch 4 cannot be asked for"),
])
def test_other_symbolic_dims_and_a_fixed_batch_are_one_line_errors(tmp_path, capsys, xshape, argv, message):
    path = _symbolic_model(tmp_path / "m.onnx", xshape)
    assert main(["workload", "info", str(path), *argv]) == 1
    assert capsys.readouterr().err == f"accelsim: error: {path}: {message}\n"


def test_dim_option_sets_other_symbolic_dims(tmp_path, capsys):
    path = _symbolic_model(tmp_path / "m.onnx", ("N", 3, "H", "W"))
    assert main(["workload", "info", str(path), "--batch", "2", "--dim", "H=8", "--dim", "W=8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["macs"] == 2 * MACS_PER_IMAGE
    for argv, message, code in [(["--dim", "H=8"], "symbolic dimension 'W' (axis 3): give it a value with --dim W=N", 1),
                                (["--dim", "H"], "--dim must look like NAME=N", 2),
                                (["--dim", "H=0"], "--dim must look like NAME=N", 2)]:
        assert main(["workload", "info", str(path), *argv]) == code
        err = capsys.readouterr().err.splitlines()
        assert message in err[-1] and (code == 2 or len(err) == 1), err  # 2: argparse's usage, then the line


def test_batch_option_is_refused_for_yaml_workloads(capsys):
    assert main(["simulate", "resnet18", "--batch", "2"]) == 1
    assert capsys.readouterr().err == ("accelsim: error: a batch size applies to ONNX models only; 'resnet18' "
                                       "sets `batch` in its YAML\n")


# -- nodes that break their operator's schema (found by tests/test_cli_fuzz.py) -------------------
def _conv_model(path, node):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_const("w", [4, 3, 3, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_node_missing_a_required_input_is_one_line(tmp_path, capsys):
    node = helper.make_node("Relu", ["x"], ["r"], name="r")
    path = tmp_path / "m.onnx"
    graph = helper.make_graph([node, helper.make_node("Conv", ["r"], ["y"], name="c")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert main(["workload", "info", str(path)]) == 1  # was: IndexError traceback
    assert capsys.readouterr().err == f"accelsim: error: {path}: node 'c' (Conv): has 1 inputs; Conv needs at least 2\n"


def test_an_attribute_of_the_wrong_type_is_one_line(tmp_path, capsys):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[1, 1, 1, 1])
    node.attribute[0].type = onnx.AttributeProto.UNDEFINED  # as a damaged file has it
    path = _conv_model(tmp_path / "m.onnx", node)
    assert main(["workload", "info", str(path)]) == 1  # was: TypeError traceback
    assert capsys.readouterr().err == (f"accelsim: error: {path}: node 'c' (Conv): attribute 'pads' must be INTS, "
                                       "not UNDEFINED\n")


def test_an_onnx_path_that_is_not_a_file(tmp_path, capsys):
    (tmp_path / "dir.onnx").mkdir()
    assert main(["workload", "info", str(tmp_path / "dir.onnx")]) == 1
    assert capsys.readouterr().err == f"accelsim: error: {tmp_path / 'dir.onnx'}: not a readable ONNX model: not a regular file\n"


@pytest.mark.parametrize("batch", [0, -1])
def test_a_fixed_batch_that_is_not_positive_is_refused(tmp_path, capsys, batch):
    """Found by a hostile audit: [0, 3, 8, 8] and [-1, 3, 8, 8] were silently simulated at batch 1."""
    path = _symbolic_model(tmp_path / "b.onnx", (batch, 3, 8, 8))
    assert main(["workload", "info", str(path)]) == 1
    assert capsys.readouterr().err == (f"accelsim: error: {path}: input 'x' has dimension {batch} on axis 0; "
                                       "dimensions must be positive\n")


def test_a_huge_batch_is_a_usage_error(tmp_path, capsys):
    """Found by a hostile audit: --batch 99999999999999999999 crashed inside ONNX with a traceback."""
    path = _symbolic_model(tmp_path / "s.onnx")
    assert main(["workload", "info", str(path), "--batch", "99999999999999999999"]) == 2
    err = capsys.readouterr().err
    assert "--batch: must be a positive integer up to 2,147,483,647, not '99999999999999999999'" in err


@pytest.mark.parametrize("width", [4, 256])  # folded as a small constant, or left as an Identity node
def test_weights_shared_through_identity_count_once(tmp_path, width):
    """TorchScript hands ALBERT's shared layer weights to later layers through Identity nodes: the alias's
    new name made them count again (105,024 params for 39,488 there)."""
    w = numpy_helper.from_array(np.ones((width, width), np.float32), "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y1"], name="mm1"),
             helper.make_node("Identity", ["W"], ["W_alias"], name="alias"),
             helper.make_node("Cast", ["W_alias"], ["W_cast"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["y1", "W_cast"], ["y2"], name="mm2")]
    graph = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, width])],
                              [helper.make_tensor_value_info("y2", TensorProto.FLOAT, [2, width])], [w])
    path = tmp_path / "shared.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert [layer.name for layer in imported] == ["mm1", "mm2"]
    assert imported.params == width * width and imported.macs == 2 * 2 * width * width


def test_an_empty_tensor_is_no_work_not_an_error(tmp_path):
    """Phi-3's partial_rotary_factor = 1.0 slices a rotary pass-through of width 0 and concatenates it back;
    onnxruntime runs it, and strict import refused it (tensor 'pass' is empty)."""
    def ints(name, values):
        return numpy_helper.from_array(np.array(values, np.int64), name)

    nodes = [helper.make_node("Slice", ["x", "zero", "eight", "axis"], ["rot"], name="rot_part"),
             helper.make_node("Slice", ["x", "eight", "eight", "axis"], ["pass"], name="pass_part"),
             helper.make_node("Neg", ["rot"], ["rot2"], name="rotate"),
             helper.make_node("Concat", ["rot2", "pass"], ["cat"], name="cat", axis=2),
             helper.make_node("MatMul", ["cat", "W"], ["y"], name="proj")]
    graph = helper.make_graph(nodes, "empty", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])],
                              [numpy_helper.from_array(np.ones((8, 8), np.float32), "W"), ints("zero", [0]),
                               ints("eight", [8]), ints("axis", [2])])
    path = tmp_path / "empty.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert "pass_part" not in imported and imported.macs == 4 * 8 * 8 and imported.params == 64
    assert not imported.meta.get("placeholders")



def test_a_matmul_of_constants_is_said_not_silently_dropped(tmp_path, capsys):
    """DeBERTa-v2's relative-position projections and DETR's first decoder layer multiply constants only: they
    vanished with no layer, MACs, params or word. A compiler folds them once: say so, with what they hold."""
    consts = [numpy_helper.from_array(np.ones((65, 128), np.float32), "A"),
              numpy_helper.from_array(np.ones((128, 64), np.float32), "B")]
    nodes = [helper.make_node("MatMul", ["A", "B"], ["C"], name="relative"),
             helper.make_node("MatMul", ["x", "C"], ["y"], name="use")]
    graph = helper.make_graph(nodes, "consts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 65])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 64])], consts)
    path = tmp_path / "consts.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert [layer.name for layer in imported] == ["use"]
    assert imported.meta["assumptions"] == [
        "1 MatMul/Gemm node(s) read only constants: computed once when the model is compiled, so their 532,480 "
        "MACs are not modelled per inference, and the 8,192 weight parameters only they read are not in the params"]
    assert imported.meta["constant_matmuls"] == {"nodes": 1, "macs": 65 * 128 * 64, "params": 128 * 64}
    assert imported.params == 0  # the product is computed, not a tensor of the file
    assert main(["simulate", str(path), "--arch", "sa8", "--json"]) == 0
    assert "532,480 MACs" in " ".join(json.loads(capsys.readouterr().out)["assumptions"])
    # or, as PyTorch runs it, every inference: A is data read from DRAM, B the weights of a layer
    assert main(["simulate", str(path), "--arch", "sa8", "--json", "--constant-matmuls", "every-run"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total_macs"] == 65 * 128 * 64 + 2 * 65 * 64
    assert "run every inference (--constant-matmuls every-run)" in " ".join(result["assumptions"])
    every_run = load_onnx(path, constant_matmuls="every-run")
    assert every_run.params == 128 * 64 and every_run.inputs["A"] == (65, 128)
    assert main(["simulate", "resnet18", "--constant-matmuls", "every-run"]) == 1
    assert "--constant-matmuls applies to ONNX models only" in capsys.readouterr().err


@pytest.mark.parametrize("attrs, length", [({}, 98), ({"pads": [1, 1], "strides": [2]}, 50),
                                           ({"auto_pad": "SAME_UPPER"}, 100), ({"dilations": [2], "pads": [2, 0]}, 98),
                                           ({"group": 2}, 98)])
def test_a_1d_convolution_is_the_2d_one_of_height_1(tmp_path, capsys, attrs, length):
    """Whisper's and wav2vec2's front ends and Mamba's causal conv were refused (only 2-D convolutions)."""
    channels = 8 // attrs.get("group", 1)
    w = numpy_helper.from_array(np.ones((16, channels, 3), np.float32), "W")
    node = helper.make_node("Conv", ["x", "W"], ["y"], name="conv1", **attrs)
    graph = helper.make_graph([node], "c1", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8, 100])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "conv1d.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert [layer.name for layer in imported] == ["conv1.as2d", "conv1", "conv1.as1d"]
    assert imported.macs == 2 * 16 * length * channels * 3 and imported.params == 16 * channels * 3
    for dataflow in ("ws", "os", "is"):
        assert main(["simulate", str(path), "--arch", "sa8", "--dataflow", dataflow, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["total_macs"] == imported.macs


def test_a_moe_router_top_k_is_vector_work(tmp_path):
    """Every MoE router picks its experts with TopK over the gate logits; it was refused as unsupported."""
    consts = [numpy_helper.from_array(np.ones((32, 8), np.float32), "gate"),
              numpy_helper.from_array(np.array([2], np.int64), "k")]
    nodes = [helper.make_node("MatMul", ["x", "gate"], ["logits"], name="router"),
             helper.make_node("TopK", ["logits", "k"], ["weights", "experts"], name="top2", axis=-1),
             helper.make_node("Softmax", ["weights"], ["probs"], name="norm", axis=-1)]
    graph = helper.make_graph(nodes, "router", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 32])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [6, 2]),
                               helper.make_tensor_value_info("experts", TensorProto.INT64, [6, 2])], consts)
    path = tmp_path / "router.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    top = imported["top2"]
    assert (top.kind, top.op, top.vector_ops) == ("eltwise", "reduce", 6 * 8)  # one compare per logit
    assert top.batch * math.prod(top.out_shape) == 6 * 2
    assert imported.macs == 6 * 32 * 8


@pytest.mark.parametrize("op, extra, shape", [("Expand", [("shape", [4, 3, 8])], (4, 3, 8)),
                                              ("Tile", [("reps", [1, 4, 1])], (1, 12, 8)),
                                              ("Pad", [("pads", [0, 0, 0, 0, 1, 4])], (1, 4, 12))])
def test_materialising_movement_writes_what_it_makes(tmp_path, op, extra, shape):
    """Expand (GQA's repeated K/V heads), Tile and Pad write every element they make: they were free."""
    consts = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in extra]
    node = helper.make_node(op, ["x", *[n for n, _ in extra]], ["y"], name="move")
    graph = helper.make_graph([node], "move", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], consts)
    path = tmp_path / "move.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    layer = load_onnx(path)["move"]
    assert layer.vector_ops == math.prod(shape)
    result = simulate(load_onnx(path), ArrayConfig(rows=4, cols=4), load_dataflow("ws"))
    assert result.total_cycles == -(-math.prod(shape) // 4)  # one copy per element on 4 lanes


def test_a_constant_left_operand_is_a_linear_layer_on_the_transposed_input(tmp_path, capsys):
    """DETR's decoder cross-attention and Mamba's dt_proj.weight @ x multiply a weight from the left: refused."""
    w = numpy_helper.from_array(np.ones((24, 16), np.float32), "W")
    node = helper.make_node("MatMul", ["W", "x"], ["y"], name="dt_proj")
    graph = helper.make_graph([node], "left", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 24, 10])], [w])
    path = tmp_path / "left.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert [layer.name for layer in imported] == ["dt_proj.xT", "dt_proj", "dt_proj.yT"]
    assert imported.macs == 2 * 24 * 16 * 10 and imported.params == 24 * 16
    for dataflow in ("ws", "os", "is"):
        assert main(["simulate", str(path), "--arch", "sa8", "--dataflow", dataflow, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["total_macs"] == imported.macs


@pytest.mark.parametrize("wshape", [(4, 16, 12), (1, 4, 16, 12)])
def test_a_constant_right_operand_per_head_is_a_grouped_layer(tmp_path, capsys, wshape):
    """DeBERTa-v2's relative-position keys: one constant [K, N] matrix per head, refused as not 2-D."""
    w = numpy_helper.from_array(np.ones(wshape, np.float32), "W")
    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="rel_keys")
    graph = helper.make_graph([node], "heads", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 10, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 10, 12])], [w])
    path = tmp_path / "heads.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert [layer.name for layer in imported] == ["rel_keys.grouped", "rel_keys", "rel_keys.heads"]
    assert imported.macs == 2 * 4 * 10 * 16 * 12 and imported.params == 4 * 16 * 12
    for dataflow in ("ws", "os", "is"):
        assert main(["simulate", str(path), "--arch", "sa8", "--dataflow", dataflow, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["total_macs"] == imported.macs


@pytest.mark.parametrize("equation, a, b, macs, params", [
    ("bhid,bhjd->bhij", [2, 4, 10, 16], [2, 4, 12, 16], 2 * 4 * 10 * 12 * 16, 0),   # attention scores
    ("bij,bjk->bik", [3, 5, 7], [3, 7, 9], 3 * 5 * 7 * 9, 0),
    ("...d,ed->...e", [2, 6, 16], "W", 2 * 6 * 16 * 24, 24 * 16),                    # a linear layer, weights (out, in)
    ("btd,de->bte", [2, 6, 16], "V", 2 * 6 * 16 * 24, 16 * 24),
])
def test_einsum_is_the_matmul_it_spells(tmp_path, capsys, equation, a, b, macs, params):
    consts = {"W": np.ones((24, 16), np.float32), "V": np.ones((16, 24), np.float32)}
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, a)]
    inits = []
    if isinstance(b, str):
        inits.append(numpy_helper.from_array(consts[b], "b"))
    else:
        inputs.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, b))
    node = helper.make_node("Einsum", ["a", "b"], ["y"], name="ein", equation=equation)
    graph = helper.make_graph([node], "einsum", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    path = tmp_path / "einsum.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert imported.macs == macs and imported.params == params
    assert main(["simulate", str(path), "--arch", "sa8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_macs"] == macs


@pytest.mark.parametrize("equation", ["ii->i", "ij->i", "ij,jk,kl->il"])
def test_einsum_that_is_not_a_matmul_is_refused_with_its_equation(tmp_path, equation):
    operands = equation.split("->")[0].split(",")
    inputs = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [4] * len(t)) for i, t in enumerate(operands)]
    node = helper.make_node("Einsum", [v.name for v in inputs], ["y"], name="ein", equation=equation)
    graph = helper.make_graph([node], "einsum", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "einsum.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises((SpecError, UnsupportedError), match=equation.replace(".", r"\.")):
        load_onnx(path)


@pytest.mark.parametrize("attrs, size", [({"strides": [2, 2]}, 17), ({"strides": [2, 2], "pads": [1, 1, 1, 1],
                                          "output_padding": [1, 1]}, 16), ({}, 10), ({"group": 2}, 10)])
def test_a_transposed_convolution_runs_over_its_zero_inserted_input(tmp_path, capsys, attrs, size):
    """UNet and decoder upsampling: ConvTranspose was refused. Its output matches ONNX's; the array issues the
    inserted zeros' MACs, and the useful ones are said."""
    groups = attrs.get("group", 1)
    w = numpy_helper.from_array(np.ones((4, 6 // groups, 3, 3), np.float32), "W")
    node = helper.make_node("ConvTranspose", ["x", "W"], ["y"], name="up", **attrs)
    graph = helper.make_graph([node], "up", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "up.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    from onnx.reference import ReferenceEvaluator

    if groups == 1:  # (ONNX's reference evaluator does not run grouped transposed convolutions)
        expected = ReferenceEvaluator(str(path)).run(None, {"x": np.ones((1, 4, 8, 8), np.float32)})[0].shape
        assert expected == (1, 6, size, size)
    imported = load_onnx(path)
    up = imported["up"]
    assert up.out_shape == (6, size, size) and imported.params == 4 * 6 // groups * 9
    useful = 4 * 8 * 8 * (6 // groups) * 9
    assert up.macs >= useful
    assert f"for {useful:,} useful ones" in imported.meta["assumptions"][-1]
    for dataflow in ("ws", "os", "is"):
        assert main(["simulate", str(path), "--arch", "sa8", "--dataflow", dataflow]) == 0
        capsys.readouterr()


@pytest.mark.parametrize("width", [16, 1024])  # the dequantised weights folded as a constant, or left as a node
def test_a_qdq_graph_imports_with_its_weights_once(tmp_path, width):
    """onnxruntime's QDQ format (quantize_static): QuantizeLinear/DequantizeLinear were refused. On activations
    they are vector work; on weights, constants computed once, the int8 tensor counting once."""
    inits = [numpy_helper.from_array(np.ones((width, 8), np.int8), "W_q"),
             numpy_helper.from_array(np.full((8,), 0.1, np.float32), "w_scale"),
             numpy_helper.from_array(np.zeros((8,), np.int8), "w_zp"),
             numpy_helper.from_array(np.array(0.05, np.float32), "x_scale"),
             numpy_helper.from_array(np.array(128, np.uint8), "x_zp")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"], name="q_x"),
             helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"], name="dq_x"),
             helper.make_node("DequantizeLinear", ["W_q", "w_scale", "w_zp"], ["W"], name="dq_w", axis=1),
             helper.make_node("MatMul", ["x_dq", "W"], ["y"], name="mm")]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], inits)
    path = tmp_path / "qdq.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    assert [(layer.name, layer.kind) for layer in imported] == [("q_x", "eltwise"), ("dq_x", "eltwise"),
                                                                ("mm", "linear")]
    assert imported["q_x"].vector_ops == 4 * width and imported.params == width * 8
    assert imported.macs == 4 * width * 8
    assert (imported["mm"].input_type, imported["mm"].weight_type) == ("int8", "int8")


def _quantized_conv_model(path, op: str):
    """x (float) → QuantizeLinear (uint8) → a quantized 3×3 conv of 4 → 8 channels → (dequantized) output."""
    t = numpy_helper.from_array
    inits = [t(np.ones((8, 4, 3, 3), np.int8), "W_q"), t(np.array(0.05, np.float32), "x_scale"),
             t(np.array(128, np.uint8), "x_zp"), t(np.array(0.1, np.float32), "w_scale"),
             t(np.array(0, np.int8), "w_zp"), t(np.array(0.2, np.float32), "y_scale"),
             t(np.array(128, np.uint8), "y_zp"), t(np.arange(8, dtype=np.int32), "bias_q")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"], name="q_x")]
    if op == "QLinearConv":
        nodes += [helper.make_node("QLinearConv", ["x_q", "x_scale", "x_zp", "W_q", "w_scale", "w_zp", "y_scale",
                                                   "y_zp", "bias_q"], ["y_q"], name="conv", pads=[1, 1, 1, 1]),
                  helper.make_node("DequantizeLinear", ["y_q", "y_scale", "y_zp"], ["y"], name="dq_y")]
    else:  # ConvInteger: the int32 accumulators, scaled back by a Cast and a Mul
        nodes += [helper.make_node("ConvInteger", ["x_q", "W_q", "x_zp", "w_zp"], ["acc"], name="conv",
                                   pads=[1, 1, 1, 1]),
                  helper.make_node("Cast", ["acc"], ["acc_f"], name="cast", to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["acc_f", "y_scale"], ["y"], name="scale")]
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("op, output", [("QLinearConv", "int8"), ("ConvInteger", "int32")])
def test_a_qoperator_convolution_is_a_convolution_in_the_files_formats(tmp_path, capsys, op, output):
    """onnxruntime's QOperator format: QLinearConv/ConvInteger were refused. Each is the convolution it
    quantizes, carrying its formats: uint8 activations run as int8 (said), int8 weights, the output requantized
    (QLinearConv) or the int32 accumulators (ConvInteger)."""
    path = tmp_path / "q.onnx"
    _quantized_conv_model(path, op)
    graph = load_onnx(path)
    conv = graph["conv"]
    assert conv.kind == "conv2d" and conv.macs == 8 * 8 * 8 * 4 * 9
    assert conv.params == 8 * 4 * 9 + (8 if op == "QLinearConv" else 0)
    assert (conv.input_type, conv.weight_type, conv.output_type) == ("int8", "int8", output)
    assert "float_operands" not in graph.meta
    assert any("uint8 operands: run as int8 shifted by 128" in note for note in graph.meta["assumptions"])
    for dataflow in ("ws", "os", "is"):
        assert main(["simulate", str(path), "--arch", "sa8", "--dataflow", dataflow]) == 0
    assert "shifted by 128" in capsys.readouterr().err


@pytest.mark.parametrize("op", ["QLinearMatMul", "MatMulInteger"])
def test_a_qoperator_matmul_is_a_linear_layer_in_the_files_formats(tmp_path, op):
    t = numpy_helper.from_array
    inits = [t(np.ones((16, 8), np.int8), "W_q"), t(np.array(0.05, np.float32), "s"),
             t(np.array(3, np.int8), "zp"), t(np.array(0, np.int8), "w_zp")]
    inputs = ["x_q", "s", "zp", "W_q", "s", "w_zp", "s", "zp"] if op == "QLinearMatMul" else ["x_q", "W_q", "zp", "w_zp"]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["x_q"], name="q_x"),
             helper.make_node(op, inputs, ["y"], name="mm")]
    out_type = TensorProto.INT8 if op == "QLinearMatMul" else TensorProto.INT32
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("y", out_type, [4, 8])], inits)
    path = tmp_path / "q.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    graph = load_onnx(path)
    mm = graph["mm"]
    assert mm.kind == "linear" and mm.macs == 4 * 16 * 8 and mm.params == 16 * 8
    assert (mm.input_type, mm.weight_type) == ("int8", "int8")
    assert mm.output_type == ("int8" if op == "QLinearMatMul" else "int32")
    assert "assumptions" not in graph.meta  # int8 activations: nothing shifted


def _linear_model(path, quantized: bool, width: int = 256):
    t = numpy_helper.from_array
    if quantized:
        inits = [t(np.ones((width, width), np.int8), "W_q"), t(np.array(0.1, np.float32), "s"),
                 t(np.array(0, np.int8), "zp")]
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["x_q"], name="q_x"),
                 helper.make_node("DequantizeLinear", ["x_q", "s", "zp"], ["x_dq"], name="dq_x"),
                 helper.make_node("DequantizeLinear", ["W_q", "s", "zp"], ["W"], name="dq_w"),
                 helper.make_node("MatMul", ["x_dq", "W"], ["y"], name="fc"),
                 helper.make_node("QuantizeLinear", ["y", "s", "zp"], ["y_q"], name="q_y"),
                 helper.make_node("DequantizeLinear", ["y_q", "s", "zp"], ["z"], name="dq_y")]
    else:
        inits = [t(np.ones((width, width), np.float32), "W")]
        nodes = [helper.make_node("MatMul", ["x", "W"], ["z"], name="fc")]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, width])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [64, width])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_an_int8_graph_runs_in_int8_and_a_float_one_in_the_datapaths_format(tmp_path):
    """A QDQ graph's layer is int8 in, int8 weights, int8 out (the QuantizeLinear it feeds); a float32 graph's
    operands take the array's float format (bf16 on a bf16 array, said), so the int8 weights move half the bytes.
    On an integer array both run as int8, like every workload."""
    from accelsim.arch import resolve_arch

    for quantized in (True, False):
        _linear_model(tmp_path / f"{quantized}.onnx", quantized)
    int8, fp32 = load_onnx(tmp_path / "True.onnx"), load_onnx(tmp_path / "False.onnx")
    assert (int8["fc"].input_type, int8["fc"].weight_type, int8["fc"].output_type) == ("int8",) * 3
    assert "float_operands" not in int8.meta and fp32.meta["float_operands"] == {"IWO": ["fc"]}
    arch = resolve_arch("tpuv4")
    ws = load_dataflow("ws")
    q, f = simulate(int8, arch, ws), simulate(fp32, arch, ws)
    assert f.assumptions == ("1 layer ('fc') with float32 operands in the file: run in bf16, the datapath's format",)
    q_fc, f_fc = next(r for r in q.layers if r.name == "fc"), f.layers[0]
    assert 2 * q_fc.traffic["W"].dram_bytes == f_fc.traffic["W"].dram_bytes == 2 * 256 * 256
    assert q_fc.precision.W.name == "int8" and f_fc.precision.W.name == "bf16"
    int_arch = ArrayConfig(rows=32, cols=32)
    assert simulate(fp32, int_arch, ws).layers[0].traffic["W"].dram_bytes == 256 * 256
    assert simulate(fp32, int_arch, ws).assumptions == ()
    # the user's --weight-bits wins over the datapath's format, for the operand it sets
    given = fp32.with_gemm_changes({"weight_type": "int4"})
    assert given.meta["float_operands"] == {"IO": ["fc"]}
    assert simulate(given, arch, ws).layers[0].precision.W.name == "int4"


@pytest.mark.parametrize("batch, attrs", [(1, {}), (2, {"pads": [1, 1, 1, 1, 1, 1], "strides": [2, 1, 2]}),
                                          (1, {"pads": [0, 1, 0, 0, 1, 0], "dilations": [2, 1, 1], "group": 2})])
def test_a_3d_convolution_gathers_its_frames_then_runs_2d(tmp_path, capsys, batch, attrs):
    """Video models' Conv3d was refused: it is the im2col GEMM M = B·D'·H'·W', K = C·kd·kh·kw, N = out."""
    groups = attrs.get("group", 1)
    w = numpy_helper.from_array(np.ones((8, 4 // groups, 3, 3, 3), np.float32), "W")
    b = numpy_helper.from_array(np.ones((8,), np.float32), "B")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv3d", **attrs),
                               helper.make_node("Relu", ["y"], ["z"], name="relu")], "video",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4, 6, 10, 10])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [w, b])
    path = tmp_path / "video.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(path)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    out = [d.dim_value for d in next(v for v in model.graph.value_info if v.name == "y").type.tensor_type.shape.dim]
    conv = imported["conv3d"]
    assert conv.macs == math.prod(out) * (4 // groups) * 27 and conv.params == 8 * (4 // groups) * 27 + 8
    assert conv.gemm.K == (4 // groups) * 27 and conv.gemm.M == batch * math.prod(out[2:])
    assert imported["relu"].out_shape == tuple(out[1:]) or imported["relu"].out_shape == tuple(out)
    for dataflow in ("ws", "os", "is"):
        assert main(["simulate", str(path), "--arch", "sa8", "--dataflow", dataflow]) == 0
        capsys.readouterr()


@pytest.mark.parametrize("form", ["4d", "3d", "4d_cache"])
def test_opset_23_attention_is_two_matmuls_and_a_softmax(tmp_path, capsys, form):
    """Opset 23's Attention was refused. Grouped-query: 4 query heads share 2 K/V heads; a KV cache of 5
    tokens is concatenated in front of the 8 new ones, and every query attends to all keys."""
    batch, seq, heads, kv_heads, d, cached = 2, 8, 4, 2, 16, 5 if form == "4d_cache" else 0
    if form == "3d":
        shapes = {"Q": [batch, seq, heads * d], "K": [batch, seq, kv_heads * d], "V": [batch, seq, kv_heads * d]}
        attrs = {"q_num_heads": heads, "kv_num_heads": kv_heads}
    else:
        shapes = {"Q": [batch, heads, seq, d], "K": [batch, kv_heads, seq, d], "V": [batch, kv_heads, seq, d]}
        attrs = {}
    inputs = ["Q", "K", "V"]
    if cached:
        shapes |= {"past_k": [batch, kv_heads, cached, d], "past_v": [batch, kv_heads, cached, d]}
        inputs += ["", "past_k", "past_v"]
    outputs = ["Y", "present_k", "present_v"]
    graph = helper.make_graph([helper.make_node("Attention", inputs, outputs, name="attn", is_causal=1, **attrs)],
                              "attention", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                            for n, s in shapes.items()],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs])
    path = tmp_path / "attention.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), str(path))
    imported = load_onnx(path)
    keys = seq + cached
    assert imported.macs == 2 * batch * heads * seq * d * keys
    matmuls = [layer for layer in imported if layer.kind == "matmul"]
    assert [m.gemm for m in matmuls] == [GemmView(M=2 * seq, N=keys, K=d, count=batch * kv_heads),
                                         GemmView(M=2 * seq, N=d, K=keys, count=batch * kv_heads)]
    assert imported["attn.softmax"].vector_ops == 5 * batch * heads * seq * keys
    for dataflow in ("ws", "os", "is"):
        assert main(["simulate", str(path), "--arch", "sa8", "--dataflow", dataflow]) == 0
        capsys.readouterr()


def test_an_op_the_models_opset_does_not_define_is_one_line(tmp_path, capsys):
    """Gelu exists from opset 20: at opset 13 the schema lookup raised a traceback, even with --lenient."""
    graph = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"], name="g")], "old",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])])
    path = tmp_path / "old.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert main(["workload", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Gelu is not defined at the model's opset 13" in err and len(err.strip().splitlines()) == 1
    assert load_onnx(path, lenient=True)["g"].kind == "placeholder"


def test_a_convolution_with_an_empty_output_is_refused_not_dropped(tmp_path):
    """A kernel deeper than its input gave an empty output, taken as 'no work': its weights vanished, silently."""
    w = numpy_helper.from_array(np.ones((8, 3, 3, 3, 3), np.float32), "W")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], name="c3")], "deep",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "deep.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(SpecError, match="is empty .* its weights would do no work"):
        load_onnx(path)


@pytest.mark.parametrize("shapes, inputs, message", [
    ({"Q": [1, 4, 8, 16], "K": [1, 2, 8, 16], "V": [1, 2, 8, 16], "pk": [1, 2, 5, 16]}, ["Q", "K", "V", "", "pk"],
     "needs both past_key and past_value"),
    ({"Q": [1, 8, 64], "K": [1, 2, 8, 16], "V": [1, 2, 8, 16]}, ["Q", "K", "V"], "must all be 3-D or all 4-D"),
])
def test_attention_that_does_not_fit_says_why(tmp_path, shapes, inputs, message):
    """These were refused with an internal layer's shape mismatch."""
    node = helper.make_node("Attention", inputs, ["Y"], name="att", q_num_heads=4, kv_num_heads=2)
    graph = helper.make_graph([node], "a", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                            for n, s in shapes.items()],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    path = tmp_path / "a.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), str(path))
    with pytest.raises(SpecError, match=message):
        load_onnx(path)


def test_an_einsum_with_an_implicit_output_is_the_matmul_it_spells(tmp_path):
    """'ij,jk' means 'ij,jk->ik' (the indices that appear once, in order): it was refused."""
    graph = helper.make_graph([helper.make_node("Einsum", ["a", "b"], ["y"], name="es", equation="ij,jk")], "e",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3, 4]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "e.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert load_onnx(path).macs == 3 * 4 * 5
    node = helper.make_node("Einsum", ["a", "b"], ["y"], name="es", equation="bij,bjk")  # b summed too: 'ik'
    graph = helper.make_graph([node], "e", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3, 4])
                                            for n in ("a", "b")],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph.input[1].CopyFrom(helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 4, 5]))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert load_onnx(path).macs == 3 * (2 * 4) * 5
