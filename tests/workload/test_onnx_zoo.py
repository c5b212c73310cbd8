"""The ONNX zoo: 37 model families as PyTorch's two exporters write them, and onnxruntime's int8 quantizer
(tests/data/onnx_zoo, weight-stripped; reference counts from PyTorch's FlopCounterMode and the modules'
weights, computed by the build_*.py scripts there, never from the ONNX graph; README.*.md say how)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx", reason="install the onnx extra: pip install -e '.[onnx]'")

from accelsim.arch import ArrayConfig, resolve_arch  # noqa: E402
from accelsim.errors import SpecError  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.sim import simulate  # noqa: E402
from accelsim.workload.onnx_import import load_onnx  # noqa: E402

FOLDER = Path(__file__).resolve().parent.parent / "data" / "onnx_zoo"
MANIFEST = {name: entry for path in sorted(FOLDER.glob("manifest.*.json"))
            for name, entry in json.loads(path.read_text())["fixtures"].items()}
FILES = sorted(name for name, entry in MANIFEST.items() if not entry.get("export_error"))
FAMILIES = {"qwen2", "qwen3", "mistral_sw", "gemma2", "phi3", "falcon", "opt", "bloom", "gpt_neox", "qwen2_decode",
            "mixtral_batched", "mixtral_eager", "mamba", "roberta", "albert", "deberta_v2", "clip", "segformer",
            "detr", "whisper_encoder", "whisper_decoder", "wav2vec2", "mobilevit", "levit", "unet", "yoloneck",
            "resnext", "regnet", "densenet", "shufflenetv2", "squeezenet", "googlenet", "inceptionv3",
            "mobilenetv2", "deeplabv3"}
# What a file holds beyond PyTorch's count, and why (each measured; see the README.*.md files here)
EXTRA_PARAMS = {
    # the dynamo exporter's optimiser folds the transpose of a shared weight at each use: the file holds copies
    "albert.dynamo18.onnx": 2 * 32_768,  # 3 copies of each of ALBERT's shared weight matrices
    "deberta_v2.dynamo18.onnx": 4 * 64 * 64,  # query/key projections copied for the relative-position path
    # the dynamo exporter computed 6 of DETR's 7 constant-only matmuls itself: their weights are not in the file
    "detr.dynamo18.onnx": -4_224,
}
MISSING_MACS = {"detr.dynamo18.onnx": 36_864}  # those 6 matmuls' MACs: computed by the exporter, not in the file
INVALID = {"mamba.ts17.onnx": "'Repeats' input must be 1D"}  # the exporter writes an invalid Tile (ORT refuses it)


def _import(name: str):
    routing = MANIFEST[name].get("import_kwargs", {}).get("routing_file")
    return load_onnx(FOLDER / name, routing=FOLDER / routing if routing else None)


def test_every_family_is_here_from_both_exporters_or_its_failure_recorded():
    families: dict[str, set[str]] = {}
    for name, entry in MANIFEST.items():
        family, _, rest = name.partition(".")
        exporter = rest.rsplit(".", 1)[0]
        families.setdefault(family, set()).add(exporter)
        assert entry.get("export_error") or (FOLDER / name).is_file(), name
    assert FAMILIES <= set(families)
    for family in FAMILIES - {"mobilenetv2", "bert"}:
        assert {"ts17", "dynamo18"} <= families[family], family
    assert {"int8.qdq", "int8.qdq_perchannel", "int8.qop"} <= families["mobilenetv2"]
    assert {"int8.qdq", "int8.qop"} <= families["bert"]


@pytest.mark.parametrize("name", FILES)
def test_imports_strictly_with_the_pytorch_counts(name):
    entry = MANIFEST[name]
    if name in INVALID:
        with pytest.raises(SpecError, match=INVALID[name]):
            _import(name)
        return
    graph = _import(name)
    assert "placeholders" not in graph.meta
    constant = graph.meta.get("constant_matmuls", {"macs": 0, "params": 0})
    # MACs: what PyTorch runs. A transposed convolution's zero-insertion MACs are issued but not useful; the
    # matmuls of constants run once at compile time; Mamba's state update is elementwise (vector work), which
    # FlopCounterMode does not count either (the builder added it by hand: macs_uncounted_by_flop_counter)
    reference = entry.get("macs_flop_counter") if name.startswith("mamba") else entry["macs"]
    issued = entry.get("macs_as_issued", entry["macs"]) - entry["macs"]
    assert graph.macs - issued + constant["macs"] == reference - MISSING_MACS.get(name, 0)
    params = entry.get("params_linear_conv_in_file", entry.get("params"))
    assert graph.params + constant["params"] == params + EXTRA_PARAMS.get(name, 0)
    if "constant_matmuls" in graph.meta:  # or run them every inference, as PyTorch does: its counts exactly
        every_run = load_onnx(FOLDER / name, constant_matmuls="every-run")
        assert every_run.macs - issued == reference - MISSING_MACS.get(name, 0)
        assert every_run.params == params + EXTRA_PARAMS.get(name, 0)


@pytest.mark.parametrize("name", [n for n in FILES if n not in INVALID])
def test_simulates_in_every_dataflow(name):
    graph = _import(name)
    arch = ArrayConfig(rows=32, cols=32)
    for dataflow in ("ws", "os", "is"):
        result = simulate(graph, arch, load_dataflow(dataflow))
        assert result.total_macs == graph.macs and result.total_cycles * arch.pes >= graph.macs


@pytest.mark.parametrize("model", ["mobilenetv2", "bert"])
def test_int8_graphs_run_in_int8_with_half_the_weight_bytes_of_the_float_one(model):
    """The quantized graphs carry their formats: on a bf16 array the float model's weights are bf16 and the
    int8 ones move half their bytes; every matmul and convolution of the int8 graphs is int8 × int8."""
    arch, ws = resolve_arch("tpuv4"), load_dataflow("ws")
    float_graph = _import(f"{model}.float.ts17.onnx")
    fp = simulate(float_graph, arch, ws)
    assert any("run in bf16, the datapath's format" in note for note in fp.assumptions)

    def weight_bytes(graph, result, fmt: str) -> int:  # the weights of conv and linear layers, all in ``fmt``
        rows = [r for r in result.layers if r.unit == "array" and graph[r.name].kind != "matmul"]
        assert rows and all(r.precision.W.name == fmt for r in rows)
        return sum(r.traffic["W"].dram_bytes for r in rows)
    bf16 = weight_bytes(float_graph, fp, "bf16")
    assert bf16 >= 2 * sum(layer.params - layer.out * layer.bias for layer in float_graph if layer.gemm is not None
                           and layer.kind != "matmul")  # every weight read at least once
    if model == "mobilenetv2":  # one scale per output channel: said, not charged
        notes = _import("mobilenetv2.int8.qdq_perchannel.onnx").meta["assumptions"]
        assert "53 layer(s) have per-channel weight scales (9,282 scales in all)" in " ".join(notes)
    for form in ("qdq", "qop"):
        int8 = _import(f"{model}.int8.{form}.onnx")
        gemms = [layer for layer in int8 if layer.gemm is not None]
        assert gemms and all((layer.input_type, layer.weight_type) == ("int8", "int8") for layer in gemms)
        result = simulate(int8, arch, ws)
        assert result.total_macs == fp.total_macs
        assert 2 * weight_bytes(int8, result, "int8") == bf16


def test_experts_receive_balanced_or_measured_routing(tmp_path, capsys):
    """transformers' batched experts gather each routed token's expert weights: one linear layer per expert over
    the tokens it receives. Without routing data the tokens split evenly (said); --routing gives measured ones."""
    from accelsim.cli import main

    path = FOLDER / "mixtral_batched.ts17.onnx"
    balanced = load_onnx(path)
    experts = [layer for layer in balanced if ".expert" in layer.name and layer.gemm is not None]
    assert len(experts) == 2 * 2 * 4  # 2 MoE layers × (gate_up, down) × 4 experts
    assert {layer.gemm.M for layer in experts} == {16 * 2 // 4}  # 16 tokens, top-2 of 4 experts
    assert any("balanced top-k routing assumed" in note for note in balanced.meta["assumptions"])
    measured = _import("mixtral_batched.ts17.onnx")
    assert [layer.gemm.M for layer in measured if ".expert" in layer.name and layer.gemm is not None][:4] == \
        [10, 9, 7, 6]
    assert measured.macs == balanced.macs and measured.params == balanced.params  # the same tokens, spread unevenly
    assert not any("balanced" in note for note in measured.meta.get("assumptions", []))
    bad = tmp_path / "routing.json"
    for routing, message in (("/dev/zero", "not a regular file"), (str(tmp_path), "not a regular file")):
        assert main(["simulate", str(path), "--routing", routing]) == 1  # /dev/zero filled the memory
        assert message in capsys.readouterr().err
    deep = tmp_path / "deep.json"
    deep.write_text('{"tokens_per_expert": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    with pytest.raises(SpecError, match="nested too deeply"):  # was a RecursionError traceback
        load_onnx(path, routing=deep)
    five = tmp_path / "five.json"
    five.write_text(json.dumps({"tokens_per_expert": [[10, 9, 7, 6, 0], [7, 8, 10, 7, 0]]}))
    with pytest.raises(SpecError, match="experts are 4"):  # the eager loop accepted a fifth, idle, expert
        load_onnx(FOLDER / "mixtral_eager.ts17.onnx", routing=five)
    for content, message in ((json.dumps({"tokens_per_expert": [[10, 9, 7, 6]]}), "the routing gives 1 MoE layer"),
                             (json.dumps({"tokens_per_expert": [[10, 9, 7, 5], [8] * 4]}), "routes 32 tokens"),
                             (json.dumps({"tokens_per_expert": [[-1]]}), "integers ≥ 0"), ("{", "not JSON")):
        bad.write_text(content)
        with pytest.raises(SpecError, match=message):
            load_onnx(path, routing=bad)
        assert main(["simulate", str(path), "--routing", str(bad)]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert main(["simulate", "resnet18", "--routing", str(bad)]) == 1
    assert "--routing applies to ONNX models only" in capsys.readouterr().err


def test_an_eager_expert_loop_gets_its_token_counts_from_the_routing():
    """transformers' eager experts: NonZero finds each expert's tokens (shapes ONNX cannot infer), a Gather picks
    the expert's weights at run time, ScatterElements adds the results back. Strict import failed at OneHot."""
    path = FOLDER / "mixtral_eager.ts17.onnx"
    balanced, measured = load_onnx(path), _import("mixtral_eager.ts17.onnx")

    def tokens(graph):  # the gate_up projection's tokens, expert by expert, in the first MoE layer
        return [layer.gemm.M for layer in graph if layer.kind == "linear" and layer.out == 256][:4]
    assert tokens(balanced) == [8, 8, 8, 8] and tokens(measured) == [10, 9, 7, 6]
    assert any("balanced top-k routing assumed" in note for note in balanced.meta["assumptions"])
    assert balanced.macs == measured.macs == MANIFEST["mixtral_eager.ts17.onnx"]["macs"]
    assert balanced.params == measured.params == MANIFEST["mixtral_eager.ts17.onnx"]["params"]
    onehot = [layer for layer in measured if layer.op == "expand" and "OneHot" in layer.name]
    assert onehot and onehot[0].vector_ops == 16 * 2 * 5  # 16 tokens × top-2 × the exporter's 4 + 1 classes
