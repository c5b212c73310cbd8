"""The graphs real exporters write: PyTorch's TorchScript (opset 17) and dynamo (opset 18) exports of
encoders, decoder LMs, a ViT and modern CNNs (tests/data/onnx_exports, weight-stripped; counts from
the PyTorch modules in manifest.json, computed by build.py, not from the ONNX graph)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx", reason="install the onnx extra: pip install -e '.[onnx]'")

from accelsim.arch import ArrayConfig  # noqa: E402
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


def test_an_embedding_lookup_moves_bytes_but_has_no_macs():
    graph = load_onnx(FOLDER / "llama.dynamo18.onnx")
    gathers = [layer for layer in graph if layer.kind == "reshape" and layer.op == "gather"]
    embedding = gathers[0]
    assert embedding.macs == 0 and embedding.out_shape[-1] == 64 and embedding.vector_ops == 16 * 64
