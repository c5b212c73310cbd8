import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_resnet50_json(capsys):
    code, out, err = run(capsys, "simulate", "resnet50", "--arch", "sa128", "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["workload"] == "resnet50" and result["dataflow"] == "ws"
    assert (result["arch"]["rows"], result["arch"]["cols"]) == (128, 128)
    assert result["total_macs"] == pytest.approx(4.1e9, rel=0.01)
    assert result["total_cycles"] == sum(layer["cycles"] for layer in result["layers"])
    for layer in result["layers"]:
        assert {"name", "kind", "macs", "cycles", "compute_cycles", "stall_cycles", "utilization"} <= set(layer)
        assert layer["cycles"] * 128 * 128 >= layer["macs"]
        assert layer["cycles"] == layer["compute_cycles"] + layer["stall_cycles"]
        assert 0 <= layer["utilization"] <= 1
    kinds = {layer["kind"] for layer in result["layers"]}
    assert kinds == {"conv2d", "eltwise", "pool", "reshape", "linear"}  # nothing silently dropped


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_every_dataflow_gives_sane_totals(capsys, dataflow):
    code, out, _ = run(capsys, "simulate", "bert_base_s128", "--arch", "edge", "--dataflow", dataflow, "--json")
    result = json.loads(out)
    assert code == 0 and result["dataflow"] == dataflow
    assert 0.3 < result["utilization"] <= 1.0


def test_json_is_byte_identical_between_runs(capsys):
    first = run(capsys, "simulate", "mobilenet_v2", "--json")[1]
    assert run(capsys, "simulate", "mobilenet_v2", "--json")[1] == first


def test_human_table(capsys):
    code, out, _ = run(capsys, "simulate", "alexnet", "--arch", "tiny")
    assert code == 0
    assert out.splitlines()[0] == "alexnet on tiny (4x4), dataflow ws, fixed mapping, memory: ifmap/filter/ofmap 8/8/8 KiB, DRAM 4 B/cycle"
    assert "total: 714,188,480 MACs" in out.splitlines()[-1]
    code, out, _ = run(capsys, "simulate", "alexnet", "--arch", "tiny", "--ideal-memory")
    assert out.splitlines()[0] == "alexnet on tiny (4x4), dataflow ws, fixed mapping, ideal memory" and "(0 stalled;" in out


def test_workload_info(capsys):
    code, out, _ = run(capsys, "workload", "info", "resnet50", "--json")
    info = json.loads(out)
    assert code == 0 and (info["macs"], info["params"], info["layers"]) == (4_089_184_256, 25_503_912, 122)
    code, out, _ = run(capsys, "workload", "info", "llama7b_block_decode")
    assert code == 0 and out.splitlines()[-1] == "llama7b_block_decode: 24 layers, 206,577,664 MACs, 202,375,168 params"


def test_workload_by_path_and_arch_by_path(capsys, tmp_path):
    wl = tmp_path / "net.yaml"
    wl.write_text("version: 1\nname: net\ninputs: {x: [4, 16]}\nlayers:\n  - {name: fc, kind: linear, out_features: 8}\n")
    arch = tmp_path / "arch.yaml"
    arch.write_text("rows: 2\ncols: 8\ndouble_buffered: false\n")
    code, out, _ = run(capsys, "simulate", str(wl), "--arch", str(arch), "--json", "--ideal-memory")
    layer = json.loads(out)["layers"][0]
    # WS: K=16 over 2 rows → 8 folds of 2 rows; single bank: each reload waits Rt+C−3 = 7 after the stream
    assert code == 0 and layer["folds"] == 8 and layer["cycles"] == 2 + 8 * 4 + 7 * (7 + 2) + 2 + 8 - 1


@pytest.mark.parametrize("argv, message", [
    (["simulate", "resnet5"], "accelsim: error: unknown workload 'resnet5': not a bundled workload"),
    (["simulate", "resnet50", "--arch", "sa12"], "accelsim: error: unknown architecture 'sa12'"),
    (["simulate", "resnet50", "--arch", "tpuv1", "--dataflow", "os"],
     "accelsim: error: architecture 'tpuv1' does not support dataflow 'os' (it supports ws)"),
    (["simulate", "resnet50", "--dataflow", "wsx"], "accelsim: error: unknown dataflow 'wsx'"),
    (["workload", "info", "missing.yaml"], "accelsim: error: missing.yaml: cannot read file"),
])
def test_errors_are_one_line_and_exit_non_zero(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_bad_yaml_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "a.yaml"
    bad.write_text("rows: 4\ncols: [\n")
    code, _, err = run(capsys, "simulate", "resnet50", "--arch", str(bad))
    assert code == 1 and err == f"accelsim: error: {bad}:3: invalid YAML: did not find expected node content\n"


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "simulate")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2


def test_listings(capsys):
    code, out, _ = run(capsys, "workload", "list")
    assert code == 0 and "resnet50" in out and "4,089,184,256" in out
    code, out, _ = run(capsys, "arch", "list")
    assert code == 0 and "tpuv1" in out and "256x256" in out
    code, out, _ = run(capsys, "arch", "show", "tiny", "--json")
    assert code == 0 and json.loads(out)["rows"] == 4


def test_import_is_light_and_the_console_script_runs():
    probe = ("import sys, accelsim.cli, accelsim.sim, accelsim.workload; "
             "print(sorted(m for m in ('amaranth', 'cocotb') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"
    done = subprocess.run([sys.executable, "-c", "from accelsim.cli import run; run()", "arch", "list"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "sa128" in done.stdout


@pytest.mark.parametrize("argv", [["hdl", "generate", "-o", "out"], ["hdl", "verify"], ["hdl", "area"]])
def test_hdl_commands_without_the_hdl_extra_say_how_to_install_it(capsys, monkeypatch, argv):
    import importlib.util
    import sys

    import accelsim.rtl

    real = importlib.util.find_spec
    monkeypatch.setattr(accelsim.rtl, "find_spec", lambda name: None if name == "amaranth" else real(name))
    monkeypatch.setitem(sys.modules, "amaranth", None)  # importing it now fails, as on a core-only install
    for name in [m for m in sys.modules if m.startswith(("amaranth.", "accelsim.rtl."))]:
        monkeypatch.delitem(sys.modules, name)
    assert main(argv) == 1
    assert capsys.readouterr().err == ("accelsim: error: this command needs Amaranth: pip install 'accelsim[hdl]' "
                                       "(or pip install -e '.[hdl]' in a checkout)\n")


ALIAS_BOMB = "".join(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 9)}]\n" for i in range(9))


@pytest.mark.parametrize("kind", ["workload", "arch", "dataflow"])
def test_alias_bomb_in_any_spec_is_one_line(capsys, tmp_path, kind):
    """Nested anchors standing for 9**9 values: refused while loading, in every kind of YAML."""
    spec = tmp_path / f"{kind}.yaml"
    argv = {"workload": ["workload", "info", str(spec), "--json"],
            "arch": ["simulate", "resnet18", "--arch", str(spec)],
            "dataflow": ["simulate", "resnet18", "--dataflow", str(spec)]}[kind]
    spec.write_text({"workload": "version: 1\nname: bomb\ninputs: {x: [4, 16]}\n"
                                 "layers: [{name: fc, kind: linear, out_features: 8}]\nmeta:\n",
                     "arch": "rows: 4\ncols: 4\nmemory:\n", "dataflow": "name: ws\nrows: K\nnotes:\n"}[kind] + ALIAS_BOMB)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    line = {"workload": 12, "arch": 10, "dataflow": 10}[kind]
    assert err == (f"accelsim: error: {spec}:{line}: invalid YAML: its aliases expand to more than 1,000,000 "
                   "values (limit: accelsim.specio.MAX_YAML_VALUES)\n")


def test_export_refuses_a_folder_and_an_existing_file(capsys, tmp_path):
    assert run(capsys, "workload", "export", "resnet18", "-o", str(tmp_path), "--force") == (
        1, "", f"accelsim: error: {tmp_path} is a folder; the output must be a file name\n")
    out = tmp_path / "r.yaml"
    out.write_text("old")
    assert run(capsys, "workload", "export", "resnet18", "-o", str(out)) == (
        1, "", f"accelsim: error: {out} exists; pass --force to overwrite\n")
    assert out.read_text() == "old"
    code, text, _ = run(capsys, "workload", "export", "resnet18", "-o", str(out), "--force")
    assert code == 0 and text == f"wrote {out}: 49 layers, 1,814,073,344 MACs, 11,679,912 params\n"
    assert out.read_text().startswith("version: 1\nname: resnet18\n")


def test_huge_layers_give_exact_counts_and_times(capsys, tmp_path):
    """A 4e9 × 4e9 · 4e9 × 4e9 product: every count past 2**53, where floats would round."""
    from fractions import Fraction

    wl = tmp_path / "huge.yaml"
    wl.write_text("version: 1\nname: huge\ninputs: {x: [4000000000, 4000000000]}\n"
                  "layers:\n  - {name: fc, kind: linear, out_features: 4000000000}\n")
    code, out, _ = run(capsys, "simulate", str(wl), "--arch", "tiny", "--json")
    result = json.loads(out)
    layer = result["layers"][0]
    dram = layer["dram_ifmap_bytes"] + layer["dram_filter_bytes"] + layer["dram_ofmap_bytes"]
    assert code == 0 and layer["macs"] == 4_000_000_000**3 and layer["dram_ofmap_bytes"] == 4_000_000_000**2
    assert layer["cycles"] == -(-dram // 4) == layer["compute_cycles"] + layer["stall_cycles"]  # DRAM-bound, 4 B/cycle
    assert result["time_ms"] == float(Fraction(layer["cycles"], 10**6))  # 1000 MHz, rounded once
    code, out, _ = run(capsys, "simulate", str(wl), "--arch", "tiny")
    cycles = layer["cycles"]
    row = next(line for line in out.splitlines() if line.startswith("fc "))
    assert row.split()[-2] == f"{round(Fraction(dram, 1024)):,}"  # the DRAM KiB column (energy after it)
    assert row.split()[-1] == f"{result['layers'][0]['energy_pj'] / 1e6:,.1f}"
    assert (f"in {cycles:,} cycles ({layer['stall_cycles']:,} stalled; {cycles // 10**6:,}."
            f"{round(Fraction(cycles % 10**6, 1000)):03d} ms at 1000 MHz)") in out.splitlines()[-1]


def test_absurd_sizes_are_one_line_errors(capsys, tmp_path):
    wl = tmp_path / "absurd.yaml"
    wl.write_text("version: 1\nname: absurd\ninputs: {x: [100000000000, 1000000000000]}\n"
                  "layers:\n  - {name: fc, kind: linear, out_features: 8}\n")
    assert run(capsys, "simulate", str(wl)) == (1, "", (
        f"accelsim: error: {wl}:5: `layers[0]` input 0 (1 × [100000000000, 1000000000000]) has "
        "100,000,000,000,000,000,000,000 elements, more than the limit of 2**64 (accelsim.workload.layer.MAX_ELEMENTS)\n"))


def test_tables_align_wide_and_combining_characters(capsys, tmp_path):
    """CJK characters take two columns, combining accents none: columns line up on screen, not in code points."""
    from wcwidth import wcswidth

    wl = tmp_path / "unicode.yaml"
    wl.write_text("version: 1\nname: unicode\ninputs: {x: [4, 16]}\nlayers:\n"
                  "  - {name: 全結合層, kind: linear, out_features: 8}\n"
                  "  - {name: \"cafe\u0301\", kind: eltwise, op: relu}\n"
                  "  - {name: plain_ascii_name, kind: eltwise, op: relu}\n", encoding="utf-8")
    for argv in (["workload", "info", str(wl)], ["simulate", str(wl), "--arch", "tiny"]):
        code, out, _ = run(capsys, *argv)
        lines = [line for line in out.splitlines() if line.startswith(("layer", "-----", "全", "caf", "plain"))]
        assert code == 0 and len(lines) == 5
        second = [re.match(r"(\S+ +)\S", line).group(1) for line in lines]  # first cell and its padding
        assert {wcswidth(prefix) for prefix in second} == {18}  # "plain_ascii_name" (16) + 2 spaces, on every row


def test_onnx_without_the_onnx_extra_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "onnx", None)  # importing it now fails, as on a core-only install
    assert run(capsys, "workload", "info", str(model)) == (1, "", (
        "accelsim: error: ONNX import needs the onnx package: pip install 'accelsim[onnx]' "
        "(or pip install -e '.[onnx]' in a checkout)\n"))


def test_silicon_benchmark_runs_from_the_repository_alone(tmp_path):
    """Its data ships in benchmarks/data; run from a copy with nothing around it, it prints the documented figures."""
    import shutil
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    copy = tmp_path / "checkout" / "benchmarks"
    shutil.copytree(bench / "data", copy / "data")
    shutil.copy(bench / "tpuv4_silicon.py", copy)
    done = subprocess.run([sys.executable, str(copy / "tpuv4_silicon.py")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines()[0] == "125 GEMMs measured on TPU v4; fit duration_us = a*cycles + b"
    assert done.stdout.splitlines()[4].split()[-3:] == ["0.953", "9.9%", "1457"]  # memory model, 571 B/cycle
    missing = subprocess.run([sys.executable, str(copy / "tpuv4_silicon.py"), "--csv", "nope.csv"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "tpuv4_silicon: error: nope.csv: No such file or directory\n"


def _sigint_as_on_a_terminal() -> None:
    """Run in the child before exec: a shell's background job ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


SLOW_SITECUSTOMIZE = '''
import os, time
import accelsim.sim.engine as engine

real = engine.simulate_layer

def slow(*args, **kwargs):  # the first layer says the work has begun, then takes its time
    if not os.path.exists(os.environ["ACCELSIM_STARTED"]):
        open(os.environ["ACCELSIM_STARTED"], "w").close()
        time.sleep(30)
    return real(*args, **kwargs)

engine.simulate_layer = slow
'''


def interrupted(tmp_path, sitecustomize: str, argv: list[str], signum: int) -> tuple[int, str, str]:
    """Run ``python -m accelsim ARGV`` with ``sitecustomize`` (it touches $ACCELSIM_STARTED and then
    stalls); once it has started, send ``signum``; return the exit code, stdout and stderr."""
    import os
    import time

    (tmp_path / "sitecustomize.py").write_text(sitecustomize)
    started = tmp_path / "started"
    path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(path), "ACCELSIM_STARTED": str(started)}
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=_sigint_as_on_a_terminal)
    try:
        deadline = time.monotonic() + 20
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline  # exited early, or never started
            time.sleep(0.02)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    return proc.returncode, out, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_is_one_line_and_exit_130(tmp_path, signum):
    """A real `python -m accelsim simulate`, slowed down by a sitecustomize, interrupted once it is working."""
    assert interrupted(tmp_path, SLOW_SITECUSTOMIZE, ["simulate", "resnet18", "--arch", "tiny"], signum) == (
        130, "", "accelsim: error: interrupted\n")


SLOW_IMPORT_SITECUSTOMIZE = '''
import os, sys, time

class SlowCli:  # stalls the import of accelsim.cli, so the signal lands while the CLI is being imported
    def find_spec(self, name, path=None, target=None):
        if name == "accelsim.cli":
            open(os.environ["ACCELSIM_STARTED"], "w").close()
            time.sleep(30)
        return None

sys.meta_path.insert(0, SlowCli())
'''


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_start_up_is_one_line_and_exit_130(tmp_path, signum):
    """Found by a hostile audit: a Ctrl-C in the first ~80 ms gave a traceback from `import argparse`."""
    assert interrupted(tmp_path, SLOW_IMPORT_SITECUSTOMIZE, ["arch", "list"], signum) == (
        130, "", "accelsim: error: interrupted\n")


@pytest.mark.parametrize("yaml_name, shown", [("new\\nline", r"new\nline"), ("\\e[31mred", r"\x1b[31mred"),
                                              ("tab\\there", r"tab\there"), ("\\u202erev", r"\u202erev")])
def test_control_characters_in_layer_names_are_refused(tmp_path, capsys, yaml_name, shown):
    """Found by a hostile audit: such names broke the table and sent escape sequences to the terminal."""
    path = tmp_path / "net.yaml"
    path.write_text(f'version: 1\nname: n\ninputs: {{x: [3, 8, 8]}}\nlayers:\n'
                    f'  - {{name: "{yaml_name}", kind: conv2d, out_channels: 4, kernel: 3}}\n')
    assert main(["workload", "info", str(path)]) == 1
    assert capsys.readouterr().err == (f"accelsim: error: {path}:5: `layers[0].name` must not contain control "
                                       f"characters, not '{shown}'\n")


def test_tables_show_control_characters_as_escapes():
    from accelsim.cli._common import table

    assert table([["a\x1b[31mb", "1"]], ["name", "n"], {1}).splitlines()[2] == "a\\x1b[31mb  1"


def test_an_empty_output_name_is_refused(tmp_path, capsys, monkeypatch):
    """Found by a hostile audit: `-o ""` wrote into the current folder."""
    monkeypatch.chdir(tmp_path)
    assert main(["workload", "export", "alexnet", "-o", ""]) == 1
    assert capsys.readouterr().err == "accelsim: error: the output file must be named, not ''\n"
    data = Path(__file__).parent / "data" / "scalesim" / "calc_ws_8x8"
    assert main(["scalesim", "-c", str(data / "scale.cfg"), "-t", str(data / "topology.csv"), "-o", ""]) == 1
    assert capsys.readouterr().err == ("accelsim: error: the output folder must be named (an empty -o would write "
                                       "into the current folder)\n")
    assert list(tmp_path.iterdir()) == []


def test_a_run_name_too_long_for_a_file_name_writes_nothing(tmp_path, capsys):
    """Found by a hostile audit: a 300-character run_name failed only after creating the output folder."""
    data = Path(__file__).parent / "data" / "scalesim" / "calc_ws_8x8"
    cfg = tmp_path / "long.cfg"
    cfg.write_text((data / "scale.cfg").read_text().replace("run_name = test", "run_name = " + "a" * 300))
    assert main(["scalesim", "-c", str(cfg), "-t", str(data / "topology.csv"), "-o", str(tmp_path / "out")]) == 1
    assert "must be a plain name of at most 255 bytes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
