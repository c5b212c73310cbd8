"""`accelsim compress`: writes weights and reports, refuses to overwrite, bad values are one line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.compress import dequantize, quantize, sqnr_db
from accelsim.tensors import load_tensors, read_npz, save_tensors, weight_matrix
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layer import Layer


def graph() -> LayerGraph:
    g = LayerGraph("net", inputs={"x": (4, 6, 6)})
    g.add(Layer("conv1", "conv2d", in_shapes=((4, 6, 6),), out=8, kernel=(3, 3), padding=(1, 1, 1, 1)), ["x"])
    g.add(Layer("flat", "reshape", in_shapes=((8, 6, 6),), shape=(288,)), ["conv1"])
    g.add(Layer("fc", "linear", in_shapes=((288,),), out=10), ["flat"])
    return g


@pytest.fixture
def weights(tmp_path):
    rng = np.random.default_rng(21)
    tensors = {"conv1.weight": rng.standard_normal((8, 4, 3, 3)).astype(np.float32),
               "fc.weight": rng.standard_normal((10, 288)).astype(np.float32),
               "conv1.input": rng.standard_normal((4, 6, 6)).astype(np.float32)}
    save_tensors(tmp_path / "w.npz", tensors)
    return tmp_path / "w.npz", tensors


def run(capsys, *argv):
    code = main(["compress", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_prune_2_4_quantize_int4(tmp_path, capsys, weights):
    path, tensors = weights
    code, out, err = run(capsys, path, "--prune", "2:4", "--quantize", "int4", "-o", tmp_path / "out")
    assert code == 0, err
    assert "2 layers, 3,168 weights, density 1.000 -> " in out
    written = load_tensors(tmp_path / "out" / "weights.npz", graph())  # simulate --tensors can read it
    assert written["conv1"].weight.dtype == np.int8 and np.array_equal(written["conv1"].input, tensors["conv1.input"])
    for name in ("conv1", "fc"):
        w = written[name].weight
        assert w.min() >= -7 and w.max() <= 7
        wm = weight_matrix(graph()[name], w)
        k = wm.shape[1] - wm.shape[1] % 4
        groups = wm[:, :k].reshape(wm.shape[0], k // 4, 4, wm.shape[2])
        assert (np.count_nonzero(groups, axis=2) <= 2).all()
    rows = list(csv.DictReader((tmp_path / "out" / "report.csv").open()))
    assert [r["layer"] for r in rows] == ["conv1", "fc"]
    fc = rows[1]
    assert fc["shape"] == "10x288" and fc["structure"] == "2:4" and fc["dtype"] == "int4"
    assert float(fc["density_before"]) == 1.0 and float(fc["density_after"]) <= 0.5
    # SQNR of quantize-only recomputed independently
    ref = tensors["fc.weight"]
    assert float(fc["sqnr_quantize_db"]) == pytest.approx(sqnr_db(ref, dequantize(quantize(ref, "int4"))), abs=1e-5)
    assert float(fc["sqnr_total_db"]) < float(fc["sqnr_quantize_db"])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["prune"] == "2:4" and report["quantize"] == "int4" and report["symmetric"] is True
    assert report["layers"][1]["sqnr_prune_db"] == pytest.approx(float(fc["sqnr_prune_db"]))
    scale = read_npz(tmp_path / "out" / "weights.npz")["fc.weight.scale"]
    assert scale.shape == () and float(scale) == pytest.approx(float(np.abs(ref).max()) / 7, rel=1e-6)  # max kept


def test_density_global_float_output(tmp_path, capsys, weights):
    path, tensors = weights
    code, _, err = run(capsys, path, "--prune", "0.25", "--prune-scope", "global", "-o", tmp_path / "out")
    assert code == 0, err
    arrays = read_npz(tmp_path / "out" / "weights.npz")
    assert arrays["fc.weight"].dtype == np.float32 and "fc.weight.scale" not in arrays
    total = sum(np.count_nonzero(arrays[k]) for k in ("conv1.weight", "fc.weight"))
    assert total == round(0.25 * 3168)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["layers"][0]["sqnr_quantize_db"] is None and report["prune_scope"] == "global"
    assert report["totals"]["density_after"] == pytest.approx(792 / 3168)


def test_asymmetric_per_channel(tmp_path, capsys, weights):
    path, _ = weights
    code, _, err = run(capsys, path, "--quantize", "uint8", "--asymmetric", "--per-channel", "-o", tmp_path / "o")
    assert code == 0, err
    arrays = read_npz(tmp_path / "o" / "weights.npz")
    assert arrays["conv1.weight"].dtype == np.uint8
    assert arrays["conv1.weight.scale"].shape == (8,) and arrays["conv1.weight.zero_point"].shape == (8,)
    rows = list(csv.DictReader((tmp_path / "o" / "report.csv").open()))
    assert rows[0]["structure"] == "dense" and rows[0]["sqnr_prune_db"] == ""
    assert float(rows[0]["sqnr_total_db"]) > 40  # 8 bits per channel: ≈ 6 dB per bit


def test_refuses_to_overwrite_then_force(tmp_path, capsys, weights):
    path, _ = weights
    out = tmp_path / "out"
    assert run(capsys, path, "--prune", "0.5", "-o", out)[0] == 0
    before = (out / "weights.npz").read_bytes()
    code, _, err = run(capsys, path, "--prune", "0.25", "-o", out)
    assert code == 1 and err.count("\n") == 1
    assert "weights.npz exists; pass --force to overwrite" in err
    assert (out / "weights.npz").read_bytes() == before
    assert run(capsys, path, "--prune", "0.25", "-o", out, "--force")[0] == 0
    assert (out / "weights.npz").read_bytes() != before
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, path, "--prune", "0.5", "-o", tmp_path / "file")
    assert code == 1 and "is a file" in err


def test_same_input_same_bytes(tmp_path, capsys, weights):
    path, _ = weights
    run(capsys, path, "--prune", "2:4", "--quantize", "int8", "-o", tmp_path / "a")
    run(capsys, path, "--prune", "2:4", "--quantize", "int8", "-o", tmp_path / "b")
    for name in ("weights.npz", "report.csv", "report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--prune", "3:2"], "--prune must be N:M with 0 < N < M ≤ 16 or a density from 0 to 1, not '3:2'"),
    (["--prune", "1.5"], "not '1.5'"),
    (["--prune", "nan"], "not 'nan'"),
    (["--quantize", "int0"], "--quantize must be an integer type (int1..int16, uint1..uint16), not 'int0'"),
    (["--quantize", "int17"], "not 'int17'"),
    (["--quantize", "fp16"], "quantizing to fp16 is not supported"),
    (["--quantize", "uint4"], "symmetric quantization needs a signed type"),
    ([], "nothing to do: give --prune and/or --quantize"),
    (["--prune", "2:4", "--prune-scope", "global"], "--prune-scope global applies to a density"),
])
def test_bad_values_are_one_line(tmp_path, capsys, weights, args, message):
    path, _ = weights
    code, _, err = run(capsys, path, *args, "-o", tmp_path / "out")
    assert code == 1
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out" / "weights.npz").exists()


def test_bad_inputs_are_one_line(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"x")
    code, _, err = run(capsys, tmp_path / "model.pt", "--prune", "0.5", "-o", tmp_path / "o")
    assert code == 1 and "unknown file type '.pt'" in err and err.count("\n") == 1
    np.savez(tmp_path / "q.npz", **{"fc.weight.scale": np.ones(1)})
    code, _, err = run(capsys, tmp_path / "q.npz", "--prune", "0.5", "-o", tmp_path / "o")
    assert code == 1 and "not '<layer>.weight' or '<layer>.input'" in err
    np.savez(tmp_path / "n.npz", **{"fc.weight": np.array([np.nan, 1.0])})
    code, _, err = run(capsys, tmp_path / "n.npz", "--prune", "0.5", "-o", tmp_path / "o")
    assert code == 1 and "`fc.weight` contains NaN" in err


def onnx_model(path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(8)
    conv_w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    gemm_w = rng.standard_normal((5, 6 * 4 * 4)).astype(np.float32)  # transB=1: (out, in)
    mm_w = rng.standard_normal((5, 7)).astype(np.float32)            # MatMul: (in, out)
    nodes = [helper.make_node("Conv", ["x", "cw"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "gw"], ["g"], name="fc1", transB=1),
             helper.make_node("Reshape", ["mw_flat", "mw_shape"], ["mw"], name="fold"),  # a folded constant
             helper.make_node("MatMul", ["g", "mw"], ["y"], name="fc2")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7])],
                              [numpy_helper.from_array(conv_w, "cw"), numpy_helper.from_array(gemm_w, "gw"),
                               numpy_helper.from_array(mm_w.reshape(-1), "mw_flat"),
                               numpy_helper.from_array(np.array([5, 7], dtype=np.int64), "mw_shape")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return conv_w, gemm_w, mm_w


def test_onnx_weights_use_the_importer_names_and_layout(tmp_path):
    conv_w, gemm_w, mm_w = onnx_model(tmp_path / "tiny.onnx")
    from accelsim.workload.onnx_import import load_onnx, onnx_weights

    weights = onnx_weights(tmp_path / "tiny.onnx")
    g = load_onnx(tmp_path / "tiny.onnx")
    assert list(weights) == [layer.name for layer in g if layer.kind in ("conv2d", "linear")] == ["conv", "fc1", "fc2"]
    assert np.array_equal(weights["conv"], conv_w)
    assert np.array_equal(weights["fc1"], gemm_w)
    assert np.array_equal(weights["fc2"], mm_w.T)
    for name, w in weights.items():
        weight_matrix(g[name], w)  # shapes agree with the imported layers


def test_compress_onnx(tmp_path, capsys):
    conv_w, _, _ = onnx_model(tmp_path / "tiny.onnx")
    code, out, err = run(capsys, tmp_path / "tiny.onnx", "--prune", "1:4", "--quantize", "int8", "-o", tmp_path / "o")
    assert code == 0, err
    arrays = read_npz(tmp_path / "o" / "weights.npz")
    assert sorted(k for k in arrays if k.endswith(".weight")) == ["conv.weight", "fc1.weight", "fc2.weight"]
    assert arrays["fc2.weight"].shape == (7, 5)
    from accelsim.workload.onnx_import import load_onnx

    tensors = load_tensors(tmp_path / "o" / "weights.npz", load_onnx(tmp_path / "tiny.onnx"))
    assert set(tensors) == {"conv", "fc1", "fc2"}
