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
