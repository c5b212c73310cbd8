"""The CLI as a hostile user meets it: broken workload, architecture, SCALE-Sim and ONNX files.

Each example starts from a valid input, applies hypothesis-chosen damage (a value replaced by a
hostile one, a line dropped or doubled, the text cut short, junk bytes), runs the command in-process
inside a fresh folder and checks the promises of the CLI:

- the exit code is 0 (the damage was harmless) or 1 (a user error), never anything else;
- nothing escapes as an exception, and stderr holds only ``accelsim:`` lines, at most one error;
- no file appears outside the output folder named with ``-o``;
- no example runs away (each has a wall-clock limit).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
from importlib.util import find_spec
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from accelsim.arch import resolve_arch
from accelsim.cli import main
from accelsim.workload import graph_to_yaml, resolve_workload

DATA = Path(__file__).parent / "data" / "scalesim" / "calc_ws_8x8"
SECONDS_PER_EXAMPLE = 30
EXAMPLES = int(os.environ.get("ACCELSIM_FUZZ_EXAMPLES", "60"))

HOSTILE = ["2", "16", "64", "-1", "0", "1.5", "1e30", "99999999999999999999", ".inf", "-.inf", ".nan", "nan", "null", "true",
           "''", "[]", "{}", "[1, [2]]", "'x'", "é名", "../../escape", "/tmp/abs", "&a [*a, *a]", "*undefined",
           "!!python/object:os.system", "0x10", "1_000", "2020-01-01", "!!binary aGk=", "!!set {a}", "!!float 1", "1:20", "~", "  ", ",", ":", "#", "\t", '"', "'"]

damage = st.lists(st.tuples(st.sampled_from(["value", "drop", "double", "cut", "junk"]),
                            st.integers(0, 10_000), st.sampled_from(HOSTILE)), min_size=1, max_size=3)


def damaged(text: str, edits: list[tuple[str, int, str]]) -> str:
    """``text`` after each edit: replace a value, drop or double a line, truncate, or insert junk."""
    for kind, where, payload in edits:
        lines = text.splitlines(keepends=True) or [""]
        i = where % len(lines)
        if kind == "value":
            line = lines[i]
            cuts = [j for j, ch in enumerate(line) if ch in ":,=[{"]
            if cuts:
                j = cuts[where % len(cuts)] + 1
                end = min([k for k in (line.find(c, j) for c in ",}]\n") if k >= 0] or [len(line)])
                lines[i] = f"{line[:j]} {payload}{line[end:]}"
        elif kind == "drop":
            del lines[i]
        elif kind == "double":
            lines.insert(i, lines[i])
        elif kind == "cut":
            joined = "".join(lines)
            lines = [joined[: where % (len(joined) + 1)]]
        else:
            joined = "".join(lines)
            at = where % (len(joined) + 1)
            lines = [joined[:at] + payload + joined[at:]]
        text = "".join(lines)
    return text


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"an example ran over {SECONDS_PER_EXAMPLE} s")


def run_cli(argv: list[str], folder: Path) -> tuple[int, str, str]:
    """Run ``accelsim ARGV`` in ``folder``; return the exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_EXAMPLE)
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def check_promises(argv: list[str], inputs: dict[str, str | bytes]) -> None:
    """Write ``inputs`` into a fresh folder, run ``argv`` there, assert the CLI's promises."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for file, content in inputs.items():
            (folder / file).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "replace"))
        (folder / "out").mkdir()
        before = files_under(folder)
        code, _, err = run_cli(argv, folder)
        event(f"exit {code}")
        assert code in (0, 1), (code, err)
        lines = err.splitlines()
        assert all(line.startswith("accelsim: ") for line in lines), err
        assert sum(line.startswith("accelsim: error:") for line in lines) <= 1, err
        assert code == 0 or lines and lines[-1].startswith("accelsim: error:"), err
        new = files_under(folder) - before
        assert all(p.parts[0] == "out" for p in new), new


WORKLOAD = graph_to_yaml(resolve_workload("mobilenet_v1_025"))


def arch_yaml() -> str:
    import yaml

    return yaml.safe_dump(resolve_arch("tiny").to_dict(), sort_keys=False)


@settings(max_examples=EXAMPLES)
@given(edits=damage, command=st.sampled_from(["simulate", "info", "export"]))
def test_broken_workload_yaml(edits, command):
    text = damaged(WORKLOAD, edits)
    argv = {"simulate": ["simulate", "net.yaml", "--arch", "tiny"],
            "info": ["workload", "info", "net.yaml", "--json"],
            "export": ["workload", "export", "net.yaml", "-o", "out/net.yaml"]}[command]
    check_promises(argv, {"net.yaml": text})


@settings(max_examples=EXAMPLES)
@given(edits=damage, dataflow=st.sampled_from(["ws", "os", "is"]))
def test_broken_arch_yaml(edits, dataflow):
    check_promises(["simulate", "mobilenet_v1_025", "--arch", "arch.yaml", "--dataflow", dataflow],
                   {"arch.yaml": damaged(arch_yaml(), edits)})


@settings(max_examples=EXAMPLES)
@given(cfg_edits=damage, topo_edits=damage, which=st.sampled_from(["cfg", "topology", "both"]),
       convention=st.sampled_from(["accelsim", "scalesim"]))
def test_broken_scalesim_files(cfg_edits, topo_edits, which, convention):
    cfg = (DATA / "scale.cfg").read_text()
    topology = (DATA / "topology.csv").read_text()
    if which in ("cfg", "both"):
        cfg = damaged(cfg, cfg_edits)
    if which in ("topology", "both"):
        topology = damaged(topology, topo_edits)
    check_promises(["scalesim", "-c", "scale.cfg", "-t", "topology.csv", "-o", "out", "--convention", convention],
                   {"scale.cfg": cfg, "topology.csv": topology})


needs_onnx = pytest.mark.skipif(find_spec("onnx") is None, reason="install the onnx extra: pip install -e '.[onnx]'")
needs_amaranth = pytest.mark.skipif(find_spec("amaranth") is None,
                                    reason="install the hdl extra: pip install -e '.[hdl]'")


def small_onnx_model():
    """Conv → Relu → global pool → Flatten → Gemm, weights as initializers."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
               for name, shape in (("w", (8, 3, 3, 3)), ("fc", (10, 8)))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


onnx_damage = st.lists(st.one_of(
    st.tuples(st.just("dim"), st.integers(0, 7), st.sampled_from([0, -1, 1, 2, 5, 10**6, 2**40])),
    st.tuples(st.just("op"), st.integers(0, 4), st.sampled_from(["Conv", "Gemm", "MatMul", "Foo", "Relu", ""])),
    st.tuples(st.just("attr"), st.integers(0, 4), st.sampled_from([-3, 0, 1, 7, 10**9])),
    st.tuples(st.just("bytes"), st.integers(0, 10_000), st.sampled_from([b"", b"\x00", b"\xff" * 7]))),
    min_size=1, max_size=3)


def damaged_onnx(edits) -> bytes:
    model = small_onnx_model()
    raw = None
    for kind, where, payload in edits:
        g = model.graph
        if kind == "dim":
            dims = [*g.input[0].type.tensor_type.shape.dim]
            targets = [(d, None) for d in dims] + [(t, j) for t in g.initializer for j in range(len(t.dims))]
            target, j = targets[where % len(targets)]
            if j is None:
                target.dim_value = payload
            else:
                target.dims[j] = payload
        elif kind == "op":
            g.node[where % len(g.node)].op_type = payload
        elif kind == "attr":
            node = g.node[0]
            if node.attribute:
                attr = node.attribute[where % len(node.attribute)]
                if attr.ints:
                    attr.ints[0] = payload
        else:
            raw = raw or model.SerializeToString()
            at = where % (len(raw) + 1)
            raw = raw[:at] + payload + raw[at + len(payload):]
    return raw if raw is not None else model.SerializeToString()


@needs_onnx
@settings(max_examples=EXAMPLES)
@given(edits=onnx_damage, command=st.sampled_from(["simulate", "info", "export"]))
def test_broken_onnx(edits, command):
    argv = {"simulate": ["simulate", "net.onnx", "--arch", "tiny"],
            "info": ["workload", "info", "net.onnx", "--json"],
            "export": ["workload", "export", "net.onnx", "-o", "out/net.yaml"]}[command]
    check_promises(argv, {"net.onnx": damaged_onnx(edits)})


@needs_onnx
def test_undamaged_inputs_run():
    """The starting points are valid, so the fuzzing above starts from working inputs."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "net.yaml").write_text(WORKLOAD)
        (folder / "arch.yaml").write_text(arch_yaml())
        (folder / "net.onnx").write_bytes(small_onnx_model().SerializeToString())
        for argv in (["simulate", "net.yaml", "--arch", "arch.yaml"], ["workload", "info", "net.onnx"],
                     ["scalesim", "-c", str(DATA / "scale.cfg"), "-t", str(DATA / "topology.csv"), "-o", "out"]):
            assert run_cli(argv, folder)[0] == 0, argv


@needs_amaranth
@settings(max_examples=max(10, EXAMPLES // 4))
@given(edits=damage, dataflow=st.sampled_from(["ws", "os", "is"]))
def test_broken_arch_yaml_for_the_hardware(edits, dataflow):
    check_promises(["hdl", "generate", "--arch", "arch.yaml", "--dataflow", dataflow, "-o", "out/rtl"],
                   {"arch.yaml": damaged(arch_yaml(), edits)})
