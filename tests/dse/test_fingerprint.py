"""The store's model key is a fingerprint of what the models compute, not a hand-bumped number."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from accelsim.arch import resolve_arch
from accelsim.arch.config import stable_digest
from accelsim.cost import energy
from accelsim.dse import fingerprint
from accelsim.dse.run import run_space
from accelsim.dse.space import Axis
from accelsim.sim import engine

COLD = """
import time
import accelsim.dse.batch, accelsim.dse.fingerprint as f, accelsim.sim
start = time.perf_counter()
print(f.model_fingerprint(), time.perf_counter() - start)
"""


@pytest.fixture
def fresh_fingerprint():
    """Each test computes its own fingerprint; none leaves one computed under a patch behind."""
    fingerprint.model_fingerprint.cache_clear()
    yield
    fingerprint.model_fingerprint.cache_clear()


def _dearer_dram(monkeypatch):
    """One energy price changes: a DRAM byte of input costs 1 pJ more."""
    prices = energy._prices

    def patched(table, arch, precision):
        numerators, denominator = prices(table, arch, precision)
        return numerators | {("dram", "I"): numerators["dram", "I"] + denominator}, denominator

    monkeypatch.setattr(energy, "_prices", patched)


def _slower_dram(monkeypatch):
    """One timing function changes: every array layer stalls one cycle more."""
    stall = engine.stall_cycles
    monkeypatch.setattr(engine, "stall_cycles", lambda plan, compute, arch: stall(plan, compute, arch) + 1)


def test_the_fingerprint_is_computed_once_per_process(fresh_fingerprint, monkeypatch):
    first = fingerprint.model_fingerprint()
    monkeypatch.setattr(fingerprint, "canonical_evaluation", lambda: pytest.fail("computed twice"))
    assert fingerprint.model_fingerprint() == first


def test_the_fingerprint_is_the_same_in_a_fresh_process_and_fast(fresh_fingerprint):
    env = os.environ | {"PYTHONHASHSEED": "12345"}  # nothing may depend on set or dict hashing order
    out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, env=env, check=True)
    digest, seconds = out.stdout.split()
    assert digest == fingerprint.model_fingerprint()
    assert float(seconds) < 0.5  # about 0.1 s on a quiet machine: once per dse run


@pytest.mark.parametrize("change", [_dearer_dram, _slower_dram])
def test_a_model_change_that_moves_a_number_changes_the_fingerprint(change, monkeypatch):
    before = fingerprint.canonical_evaluation()
    change(monkeypatch)
    after = fingerprint.canonical_evaluation()
    assert stable_digest(after) != stable_digest(before)
    ws_before, ws_after = before["simulate"]["ws"], after["simulate"]["ws"]
    if change is _dearer_dram:  # the price moves energy only: 1 pJ per input byte, exactly
        assert ws_after["total_cycles"] == ws_before["total_cycles"]
        inputs = sum(layer["dram_ifmap_bytes"] for layer in ws_before["layers"])
        assert ws_after["energy_pj"] == pytest.approx(ws_before["energy_pj"] + inputs, abs=1e-6)
    else:  # two array layers, one cycle each
        assert ws_after["total_cycles"] == ws_before["total_cycles"] + 2
    monkeypatch.undo()
    assert stable_digest(fingerprint.canonical_evaluation()) == stable_digest(before)


def test_resume_reuses_the_store_until_a_model_number_moves(fresh_fingerprint, tmp_path, monkeypatch):
    axes = [Axis("rows", (8, 16)), Axis("dataflow", ("ws", "os"))]
    base, out = resolve_arch("sa32"), tmp_path / "run"
    first = run_space("alexnet", base, axes, out, plots=False)
    assert first.computed == 4
    again = run_space("alexnet", base, axes, out, resume=True, plots=False)
    assert again.computed == 0 and again.points == first.points
    _slower_dram(monkeypatch)
    fingerprint.model_fingerprint.cache_clear()  # a new process would compute it again
    changed = run_space("alexnet", base, axes, out, resume=True, plots=False)
    assert changed.computed == 4  # nothing stale is served
    assert [p["total_cycles"] - q["total_cycles"] for p, q in zip(changed.points, first.points)] == [8] * 4
