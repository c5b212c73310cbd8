"""A tensor file's number format is its layers' format unless an option says otherwise; a contradiction is an error.

Issue 17 §2: `compress --quantize int4` then `simulate --tensors` ran the int4 weights as int8, int16
tensors on an int8 datapath and ±127 with `--weight-bits 4` were accepted silently.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.errors import SpecError
from accelsim.precision import parse_dtype
from accelsim.tensors import load_tensors, read_npz, save_tensors
from accelsim.workload import resolve_workload

NET = ("version: 1\nname: net\ninputs: {x: [3, 8, 8]}\nlayers:\n"
       "  - {name: c1, kind: conv2d, out_channels: 16, kernel: 3, padding: 1}\n"
       "  - {name: flat, kind: reshape, shape: [1024]}\n"
       "  - {name: fc, kind: linear, out_features: 64}\n")
SHAPES = {"c1": (16, 3, 3, 3), "fc": (64, 1024)}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    return path


def floats(tmp_path, seed=17):
    rng = np.random.default_rng(seed)
    path = tmp_path / "float.npz"
    save_tensors(path, {f"{n}.weight": rng.standard_normal(s).astype(np.float32) for n, s in SHAPES.items()})
    return path


def ints(tmp_path, name, low, high, dtype, declared=None, seed=5):
    rng = np.random.default_rng(seed)
    arrays = {f"{n}.weight": rng.integers(low, high + 1, size=s).astype(dtype) for n, s in SHAPES.items()}
    for n in SHAPES:  # the extremes are present
        arrays[f"{n}.weight"].flat[:2] = (low, high)
    if declared:
        arrays |= {f"{n}.weight.dtype": np.array(declared) for n in SHAPES}
    save_tensors(tmp_path / name, arrays)
    return tmp_path / name


def simulate(capsys, *argv):
    code, out, err = run(capsys, "simulate", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def compressed(capsys, tmp_path, quantize="int4"):
    code, _, err = run(capsys, "compress", floats(tmp_path), "--prune", "2:4", "--quantize", quantize,
                       "-o", tmp_path / "out")
    assert code == 0, err
    return tmp_path / "out" / "weights.npz"


def test_compress_records_each_weights_format(tmp_path, capsys, net):
    path = compressed(capsys, tmp_path)
    arrays = read_npz(path)
    assert {k: str(arrays[k]) for k in arrays if k.endswith(".dtype")} == {"c1.weight.dtype": "int4",
                                                                         "fc.weight.dtype": "int4"}
    assert np.load(path)["fc.weight.dtype"].item() == "int4"  # numpy reads it without pickles
    tensors = load_tensors(path, resolve_workload(str(net)))
    assert tensors["fc"].weight_format == parse_dtype("int4") and tensors["fc"].weight.dtype == np.int8


def test_the_readme_pipeline_runs_the_files_int4_weights(tmp_path, capsys, net):
    path = compressed(capsys, tmp_path)
    own = simulate(capsys, net, "--tensors", path, "--sparse", "gate")
    told = simulate(capsys, net, "--tensors", path, "--sparse", "gate", "--weight-bits", "4")
    undeclared = tmp_path / "undeclared.npz"  # the same file as compress wrote it before: int8 arrays, no .dtype
    save_tensors(undeclared, {k: v for k, v in read_npz(path).items() if not k.endswith(".dtype")})
    as_int8 = simulate(capsys, net, "--tensors", undeclared, "--sparse", "gate")
    assert [r["precision"]["weight"] for r in as_int8["layers"] if r["precision"]] == ["int8", "int8"]
    assert as_int8["assumptions"] == []
    assert [r["precision"]["weight"] for r in own["layers"] if r["precision"]] == ["int4", "int4"]
    # the file's format and the option agree: the same run to the last digit
    assert own["layers"] == told["layers"] and own["energy_pj"] == told["energy_pj"]
    # int4 weights move half the bytes of int8 ones: 16·27/2 + 64·1024/2
    fc, c1 = (next(r for r in own["layers"] if r["name"] == n) for n in ("fc", "c1"))
    fc8 = next(r for r in as_int8["layers"] if r["name"] == "fc")
    assert (fc["dram_filter_bytes"], fc8["dram_filter_bytes"], c1["dram_filter_bytes"]) == (32768, 65536, 216)
    assert own["energy_pj"] < as_int8["energy_pj"]
    assert any("int4" in note and "weights" in note for note in own["assumptions"])


def test_a_declared_format_the_option_contradicts_is_one_line(tmp_path, capsys, net):
    path = compressed(capsys, tmp_path, "int8")
    code, out, err = run(capsys, "simulate", net, "--tensors", path, "--weight-bits", "4")
    assert code != 0 and out == "" and len(err.splitlines()) == 1 and err.startswith("accelsim: error: ")
    assert err == (f"accelsim: error: {path}: `c1.weight.dtype` declares int8 but --weight-bits 4 says int4 "
                   "(layer 'c1')\n")
    assert simulate(capsys, net, "--tensors", path, "--weight-bits", "8")["layers"][0]["precision"]["weight"] == "int8"


def test_values_outside_the_options_range_are_one_line(tmp_path, capsys, net):
    path = ints(tmp_path, "w.npz", -127, 127, np.int8)  # no declared format: the option may narrow it if values fit
    code, out, err = run(capsys, "simulate", net, "--tensors", path, "--weight-bits", "4")
    assert code != 0 and out == "" and len(err.splitlines()) == 1
    assert err == (f"accelsim: error: {path}: `c1.weight` (layer 'c1') holds values from -127 to 127, "
                   "outside int4's range -8..7 (--weight-bits 4)\n")
    fits = ints(tmp_path, "w4.npz", -8, 7, np.int8)
    result = simulate(capsys, net, "--tensors", fits, "--weight-bits", "4")
    assert result["layers"][0]["precision"]["weight"] == "int4"


def test_declared_values_outside_their_format_are_refused(tmp_path, net):
    path = ints(tmp_path, "w.npz", -8, 8, np.int8, declared="int4")
    with pytest.raises(SpecError) as err:
        load_tensors(path, resolve_workload(str(net)))
    assert str(err.value) == (f"{path}: `c1.weight` (layer 'c1') holds values from -8 to 8, "
                              "outside int4's range -8..7 (declared by `c1.weight.dtype`)")
    unknown = tmp_path / "bad.npz"
    save_tensors(unknown, {"fc.weight": np.zeros(SHAPES["fc"], np.int8), "fc.weight.dtype": np.array("int99")})
    with pytest.raises(SpecError, match=r"`fc.weight.dtype` is 'int99'; a format is one of int1\.\.int16"):
        load_tensors(unknown, resolve_workload(str(net)))
    floating = tmp_path / "float4.npz"
    save_tensors(floating, {"fc.weight": np.full(SHAPES["fc"], 0.5, np.float32), "fc.weight.dtype": np.array("int4")})
    with pytest.raises(SpecError, match=r"`fc.weight` holds float32 values but `fc.weight.dtype` declares int4"):
        load_tensors(floating, resolve_workload(str(net)))


def test_int16_tensors_on_an_int8_datapath_are_refused(tmp_path, capsys, net):
    path = ints(tmp_path, "w16.npz", -1000, 1000, np.int16)
    code, out, err = run(capsys, "simulate", net, "--tensors", path)
    assert code != 0 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("accelsim: error: layer 'c1': weights are int16 but the array's weight datapath is 8-bit")
    assert str(path) in err
    # an int16 datapath takes them, as int16
    arch = tmp_path / "a16.yaml"
    arch.write_text("version: 1\nname: a16\nrows: 8\ncols: 8\ninput_bits: 16\nweight_bits: 16\n")
    result = simulate(capsys, net, "--tensors", path, "--arch", arch)
    assert result["layers"][0]["precision"]["weight"] == "int16"


def test_wide_numpy_integers_are_values_checked_against_the_layers_format(tmp_path, capsys, net):
    ok = ints(tmp_path, "w64.npz", -128, 127, np.int64)  # numpy's default integer says nothing of the format
    assert simulate(capsys, net, "--tensors", ok)["layers"][0]["precision"]["weight"] == "int8"
    wide = ints(tmp_path, "big.npz", -300, 300, np.int64)
    code, _, err = run(capsys, "simulate", net, "--tensors", wide)
    assert code != 0 and len(err.splitlines()) == 1
    assert err == (f"accelsim: error: {wide}: `c1.weight` (layer 'c1') holds values from -300 to 300, "
                   "outside int8's range -128..127 (the layer's weight format)\n")


def test_float_tensors_keep_the_layers_format(tmp_path, capsys, net):
    path = floats(tmp_path)
    plain = simulate(capsys, net)
    result = simulate(capsys, net, "--tensors", path)
    assert [r["precision"] for r in result["layers"]] == [r["precision"] for r in plain["layers"]]
    assert result["assumptions"] == []
    assert simulate(capsys, net, "--tensors", path, "--weight-bits", "4")["layers"][0]["precision"]["weight"] == "int4"
