"""Issue 17 §2, "found tried as a new user would": the command line's hostile-input findings.

Each test failed before its fix: bad option values printed a usage block, empty names read the
current folder, options were accepted and ignored, ``hdl verify`` blamed the bench for causes
elsewhere, ONNX weight inputs got a misleading message, and an interrupted ``compress`` left a folder.
"""

from __future__ import annotations

import pytest

from accelsim.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. a bad option value is one line, for every subcommand ---------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["dse", "resnet18", "-o", "out", "--jobs", "0"], "argument --jobs: must be a positive integer"),
    (["dse", "resnet18", "-o", "out", "--budget", "0"], "argument --budget: must be a positive integer"),
    (["simulate", "resnet18", "--weight-bits", "17"], "argument --weight-bits: must be an integer width from 1 to 16"),
    (["simulate", "m.onnx", "--batch", "0"], "argument --batch: must be a positive integer"),
    (["hdl", "verify", "--stall", "1"], "argument --stall: must be in [0, 0.9], not '1'"),
    (["hdl", "verify", "--seed", "abc"], "argument --seed:"),
    (["simulate", "resnet18", "--sparse", "foo"], "argument --sparse: invalid choice: 'foo'"),
    (["workload", "info", "m.onnx", "--dim", "H"], "--dim must look like NAME=N"),
    (["compress", "w.npz", "-o", "out", "--prune-scope", "layer"], "argument --prune-scope: invalid choice"),
    (["scalesim", "-c", "a.cfg"], "the following arguments are required: -t/--topology"),
    (["arch"], "the following arguments are required: ACTION"),
    ([], "the following arguments are required: COMMAND"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
])
def test_a_bad_option_value_is_one_error_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("accelsim: error: ") and message in err, err
    assert "usage:" not in err


def test_a_usage_error_names_the_subcommands_help_and_help_still_works(capsys):
    code, _, err = run(capsys, "hdl", "verify", "--stall", "1")
    assert err == "accelsim: error: argument --stall: must be in [0, 0.9], not '1' (see 'accelsim hdl verify --help')\n"
    with pytest.raises(SystemExit) as done:  # argparse prints help and exits 0 itself
        from accelsim.cli import build_parser

        build_parser().parse_args(["simulate", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: accelsim simulate") and "--weight-bits B" in out
    assert run(capsys, "--help")[0] == 0


# -- 2. an empty name is refused by name, never read as the current folder -------------------------
@pytest.mark.parametrize("argv, message", [
    (["simulate", "resnet18", "--arch", ""], "argument --arch: an empty name: give a preset name or an architecture"),
    (["simulate", "resnet18", "--dataflow", ""], "argument --dataflow: an empty name: give ws, os, is"),
    (["simulate", ""], "argument workload: an empty name"),
    (["simulate", "resnet18", "--tensors", ""], "argument --tensors: an empty name"),
    (["simulate", "resnet18", "--energy-table", " "], "argument --energy-table: an empty name"),
    (["workload", "info", ""], "argument workload: an empty name"),
    (["arch", "show", ""], "argument arch: an empty name"),
    (["hdl", "generate", "--arch", "", "-o", "out"], "argument --arch: an empty name"),
    (["hdl", "verify", "--dataflow", ""], "argument --dataflow: an empty name"),
    (["hdl", "verify", "--verilog", ""], "argument --verilog: an empty name"),
    (["compress", "", "--prune", "2:4", "-o", "out"], "argument model: an empty name"),
])
def test_an_empty_name_is_one_line_naming_the_option(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"accelsim: error: {message}"), err
    assert "Is a directory" not in err and list(tmp_path.iterdir()) == []


# -- 3. accepted and ignored: now refused, or said as applied --------------------------------------
def _onnx_model(path, nodes, inputs, outputs, initializers=()):
    """An ONNX file from ``helper`` parts: inputs/outputs are ``(name, shape)``, shape None for unknown."""
    onnx = pytest.importorskip("onnx", reason="install the onnx extra: pip install -e '.[onnx]'")
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _initializer(name, shape):
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.random.default_rng(0).standard_normal(shape).astype(np.float32), name)


def _linear_model(path, xshape=("batch", 16, 64)):
    """x [batch, 16, 64] @ W [64, 32] with W an initializer: 16·64·32 MACs per batch item."""
    from onnx import helper

    return _onnx_model(path, [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], [("x", list(xshape))],
                       [("y", None)], [_initializer("W", (64, 32))])


@pytest.fixture
def npz(tmp_path):
    import numpy as np

    from accelsim.tensors import save_tensors

    save_tensors(tmp_path / "w.npz", {"fc.weight": np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)})
    return tmp_path / "w.npz"


@pytest.mark.parametrize("options, message", [
    (["--prune", "2:4", "--asymmetric"], "--asymmetric applies to quantization: give --quantize TYPE too"),
    (["--prune", "0.5", "--per-channel"], "--per-channel applies to quantization: give --quantize TYPE too"),
    (["--prune", "2:4", "--prune-scope", "channel"],
     "--prune-scope channel applies to a density; N:M keeps N of every M in each layer's reduction"),
    (["--prune", "2:4", "--prune-scope", "global"],
     "--prune-scope global applies to a density; N:M keeps N of every M in each layer's reduction"),
    (["--quantize", "int8", "--prune-scope", "channel"],
     "--prune-scope channel applies to pruning to a density: give --prune DENSITY too"),
])
def test_compress_options_that_would_be_ignored_are_refused(capsys, tmp_path, npz, options, message):
    code, out, err = run(capsys, "compress", npz, *options, "-o", tmp_path / "out")
    assert code == 1 and out == "" and err == f"accelsim: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_compress_still_takes_a_scope_with_a_density(capsys, tmp_path, npz):
    import json

    code, _, err = run(capsys, "compress", npz, "--prune", "0.5", "--prune-scope", "channel", "--quantize", "int8",
                       "--per-channel", "-o", tmp_path / "out")
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["prune_scope"] == "channel" and report["per_channel"] is True
    code, _, err = run(capsys, "compress", npz, "--prune", "0.5", "-o", tmp_path / "out2")
    assert code == 0 and json.loads((tmp_path / "out2" / "report.json").read_text())["prune_scope"] == "tensor"


@pytest.mark.parametrize("lenient", [False, True])
def test_compress_of_an_onnx_model_without_weights_writes_nothing(capsys, tmp_path, lenient):
    from onnx import helper

    if lenient:  # its only node becomes a placeholder, which has no weights
        path = _onnx_model(tmp_path / "m.onnx", [helper.make_node("NonZero", ["x"], ["y"], name="nz")],
                           [("x", [1, 64])], [("y", None)])
    else:
        path = _onnx_model(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"], name="r")],
                           [("x", [1, 64])], [("y", None)])
    code, out, err = run(capsys, "compress", path, "--prune", "2:4", "-o", tmp_path / "out",
                         *(["--lenient"] if lenient else []))
    assert code == 1 and out == ""
    assert err == (f"accelsim: error: {path}: has no conv or linear layer with constant weights (initializers or "
                   "Constant nodes; a --lenient placeholder has none): nothing to compress\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--seq", "16", "--dim", "seq=32"], "--seq 16 and --dim seq=32 both set the sequence length: give one"),
    (["--dim", "batch=2", "--dim", "batch=3"], "--dim batch is given twice (batch=2 and batch=3): give it once"),
    (["--dim", "batch=2", "--dim", "batch=2"], "--dim batch is given twice (batch=2 and batch=2): give it once"),
])
def test_dimension_options_given_twice_are_refused(capsys, tmp_path, argv, message):
    path = _linear_model(tmp_path / "m.onnx")
    code, out, err = run(capsys, "workload", "info", path, *argv)
    assert code == 1 and out == "" and err == f"accelsim: error: {message}\n"


def test_a_batch_given_by_dim_is_applied_and_not_called_assumed(capsys, tmp_path):
    import json

    path = _linear_model(tmp_path / "m.onnx")
    code, out, err = run(capsys, "simulate", path, "--dim", "batch=5", "--json")
    result = json.loads(out)
    assert code == 0 and err == ""
    assert result["total_macs"] == 5 * 16 * 64 * 32 and result["assumptions"] == []
    code, out, err = run(capsys, "simulate", path, "--json")  # no value given: batch 1, and said so
    assert json.loads(out)["total_macs"] == 16 * 64 * 32
    assert err == ("accelsim: warning: input 'x' has a symbolic batch dimension 'batch': assumed batch 1 "
                   "(pass --batch to choose)\n")


# -- 4. hdl verify names the cause, up front -------------------------------------------------------
@pytest.fixture(scope="module")
def dense_verilog(tmp_path_factory):
    pytest.importorskip("amaranth", reason="install the hdl extra: pip install -e '.[hdl]'")
    from accelsim.arch import resolve_arch
    from accelsim.mapping import load_dataflow
    from accelsim.rtl.export import write_design

    return write_design(resolve_arch("tiny"), load_dataflow("ws"), tmp_path_factory.mktemp("design"))["verilog"]


@pytest.mark.usefixtures("icarus")
def test_hdl_verify_refuses_a_negative_seed(capsys):
    from accelsim.arch import resolve_arch
    from accelsim.errors import HDLError
    from accelsim.mapping import load_dataflow
    from accelsim.rtl.cocotb_run import check_bench_options

    code, _, err = run(capsys, "hdl", "verify", "--seed", "-1")
    assert code == 2 and err.startswith("accelsim: error: argument --seed: must be an integer from 0 to 4294967295, "
                                        "not '-1'") and err.count("\n") == 1
    with pytest.raises(HDLError, match=r"^the seed must be an integer from 0 to 4294967295, not -1$"):
        check_bench_options(10, 0.3, -1)
    from accelsim.rtl.cocotb_run import verify

    with pytest.raises(HDLError, match="the seed must be"):  # before anything is built
        verify(resolve_arch("tiny"), load_dataflow("ws"), cases=1, seed=-1, build_dir="/nonexistent/never")


@pytest.mark.usefixtures("icarus")
def test_hdl_verify_refuses_a_verilog_file_not_named_v(capsys, tmp_path, dense_verilog):
    renamed = tmp_path / "design.txt"
    renamed.write_text(open(dense_verilog).read())
    code, out, err = run(capsys, "hdl", "verify", "--arch", "tiny", "--verilog", renamed, "--cases", "1",
                         "--build-dir", tmp_path / "b")
    assert code == 1 and out == ""
    assert err == (f"accelsim: error: {renamed}: a Verilog file's name must end in .v or .sv (the simulator "
                   "picks the language by it), not '.txt'\n")
    assert not (tmp_path / "b").exists()


@pytest.mark.usefixtures("icarus")
@pytest.mark.parametrize("argv, message", [
    (["--weight-nm", "2:4"], "module accelsim_array has no port 'load_index' (input, 8 bits) that tiny (4x4) ws "
                             "with N:M 2:4 PEs needs"),
    (["--dataflow", "os"], "module accelsim_array has no port 'stream_top' (input, 32 bits) that tiny (4x4) os needs"),
    (["--sparse", "gate"], "module accelsim_array has no port 'load_mask'"),
])
def test_hdl_verify_refuses_verilog_for_another_configuration(capsys, tmp_path, dense_verilog, argv, message):
    code, out, err = run(capsys, "hdl", "verify", "--arch", "tiny", "--verilog", dense_verilog, "--cases", "1",
                         "--build-dir", tmp_path / "b", *argv)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"accelsim: error: {dense_verilog}: {message}"), err
    assert "was it generated for another configuration?" in err and "cocotb" not in err


def test_verilog_ports_reads_the_generated_header(dense_verilog):
    from accelsim.rtl.cocotb_run import verilog_ports

    ports = verilog_ports(open(dense_verilog).read())
    assert ports["load_data"] == ("input", 32) and ports["out_data"] == ("output", 128) and len(ports) == 14
    assert verilog_ports("module other(a); input a; endmodule") is None


def test_a_bench_that_did_not_finish_names_the_error_and_a_log_that_exists(tmp_path):
    from accelsim.rtl.cocotb_run import _failure_cause

    test_log, worker_log = tmp_path / "test.log", tmp_path / "worker.log"
    worker_log.write_text("Traceback (most recent call last):\n  File \"x\", line 1\n"
                          "ValueError: Can't determine source file type of d.txt.\n")
    assert _failure_cause(test_log, worker_log) == ("ValueError: Can't determine source file type of d.txt.", worker_log)
    test_log.write_text("  0.00ns INFO  cocotb\n        rng = np.random.default_rng(-1)\n"
                        "                                  ValueError: expected non-negative integer\n")
    assert _failure_cause(test_log, worker_log) == ("ValueError: expected non-negative integer", test_log)
    assert _failure_cause(tmp_path / "none.log") == ("", None)


# -- 5. ONNX: weights as graph inputs, and lenient warnings with one prefix ------------------------
def test_a_weight_given_as_a_graph_input_is_named_as_the_cause(capsys, tmp_path):
    from onnx import helper

    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")
    path = _onnx_model(tmp_path / "m.onnx", [node], [("x", ["N", 64]), ("W", [64, 32])], [("y", None)])
    code, out, err = run(capsys, "simulate", path)
    cause = ("the weight 'W' [64, 32] of node 'mm' (MatMul) is a graph input, not an initializer (accelsim reads a "
             "graph input as data and its axis 0 as the batch): store the weights as initializers (e.g. export "
             "with export_params=True)")
    assert code == 1 and err == (f"accelsim: error: {path}: node 'mm' (MatMul): matmul operands need at least 2 "
                                 f"dimensions, not [64] and [64, 32]; {cause}\n")
    code, out, err = run(capsys, "simulate", path, "--batch", "4")
    assert code == 1 and err.endswith(f"; {cause}\n") and err.count("\n") == 1


def test_a_weight_graph_input_with_symbolic_dimensions_says_which_dim_to_give(capsys, tmp_path):
    from onnx import helper

    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")
    path = _onnx_model(tmp_path / "m.onnx", [node], [("x", ["N", "S", 64]), ("W", ["K", 32])], [("y", None)])
    code, _, err = run(capsys, "workload", "info", path, "--dim", "S=16")
    assert code == 1 and err.count("\n") == 1
    assert err.endswith("; the weight 'W' of node 'mm' (MatMul) is a graph input with symbolic dimensions "
                        "['K', 32], not an initializer (accelsim reads a graph input as data and its axis 0 as the "
                        "batch): give its dimensions with --dim K=N, or store the weights as initializers (e.g. "
                        "export with export_params=True)\n"), err
    code, out, err = run(capsys, "workload", "info", path, "--dim", "S=16", "--dim", "K=64", "--json")
    assert code == 0, err  # the fix the message gives works
    import json

    assert json.loads(out)["macs"] == 16 * 64 * 32


def test_lenient_warnings_name_the_node_once(capsys, tmp_path):
    from onnx import helper

    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="bad")
    path = _onnx_model(tmp_path / "m.onnx", [conv], [("x", [1, 3, 8, 8])], [("y", None)],
                       [_initializer("w", (4, 5, 3, 3))])
    code, _, err = run(capsys, "workload", "info", path, "--lenient")
    assert code == 0
    assert err == ("accelsim: warning: node 'bad' (Conv): weight shape [4, 5, 3, 3] (5 channels × group 1) does not "
                   "fit input shape [1, 3, 8, 8]; imported as a zero-cost placeholder\n")


# -- 6. an interrupted compress leaves nothing behind ----------------------------------------------
@pytest.mark.parametrize("where", ["weights", "report"])
@pytest.mark.parametrize("output", ["out", "a/b/out"])
def test_an_interrupted_compress_leaves_no_folder(capsys, tmp_path, npz, monkeypatch, where, output):
    import accelsim.atomic
    import accelsim.tensors

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(accelsim.tensors if where == "weights" else accelsim.atomic,
                        "save_tensors" if where == "weights" else "atomic_write_text", interrupt)
    code, out, err = run(capsys, "compress", npz, "--prune", "2:4", "-o", tmp_path / output)
    assert code == 130 and err == "accelsim: error: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]


def test_an_interrupted_compress_keeps_a_folder_it_did_not_create(capsys, tmp_path, npz, monkeypatch):
    import accelsim.atomic

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(accelsim.atomic, "atomic_write_text", interrupt)
    code, _, _ = run(capsys, "compress", npz, "--prune", "2:4", "-o", tmp_path / "out")
    assert code == 130 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt"]
