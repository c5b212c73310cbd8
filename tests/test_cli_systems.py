"""`accelsim simulate` on systems of cores, schedules and timelines (issue 18, docs/multicore.md)."""

from __future__ import annotations

import itertools
import json

import pytest

from accelsim.arch import resolve_arch, resolve_system
from accelsim.cli import main
from accelsim.schedule import run_system
from accelsim.workload import resolve_workload


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_one_array_prints_what_it_printed_before(capsys):
    code, out, _ = run(capsys, "simulate", "alexnet", "--arch", "sa32")
    assert code == 0 and "4,356,878 cycles" in out and "schedule" not in out


def test_overlap_on_one_array_adds_the_schedule_line(capsys):
    code, out, _ = run(capsys, "simulate", "alexnet", "--arch", "sa32", "--schedule", "overlap")
    expected = run_system(resolve_workload("alexnet"), resolve_system("sa32"), schedule="overlap")
    assert code == 0 and "4,356,878 cycles" in out  # the per-layer engine's table is unchanged
    assert f"schedule (overlap, docs/multicore.md): {expected.cycles:,} cycles" in out
    assert expected.cycles < 4_356_878


def test_json_of_one_array_carries_the_schedule(capsys):
    _code, out, _ = run(capsys, "simulate", "alexnet", "--arch", "sa32", "--schedule", "overlap", "--json")
    data = json.loads(out)
    assert data["total_cycles"] == 4_356_878
    assert data["schedule"]["sequential_cycles"] == 4_356_878
    assert data["schedule"]["total_cycles"] + data["schedule"]["saved_cycles"] == 4_356_878
    assert sum(v["critical_cycles"] for v in data["schedule"]["layers"].values()) == data["schedule"]["total_cycles"]


def test_a_system_prints_its_schedule(capsys):
    code, out, _ = run(capsys, "simulate", "resnet18", "--arch", "tpuv4-tc")
    result = run_system(resolve_workload("resnet18"), resolve_system("tpuv4-tc"))
    assert code == 0 and result.mode == "overlap"
    assert out.startswith("resnet18 on tpuv4-tc: 4 × tpuv4-mxu (128x128)")
    assert f"in {result.cycles:,} cycles" in out and f"sequential {result.sequential_cycles:,}" in out


def test_system_json_round_numbers(capsys):
    _code, out, _ = run(capsys, "simulate", "resnet18", "--arch", "tpuv4-tc", "--schedule", "sequential", "--json")
    data = json.loads(out)
    assert data["schedule"] == "sequential" and data["saved_cycles"] == 0
    assert data["total_cycles"] == sum(layer["sequential_cycles"] for layer in data["layers"])
    assert data["total_macs"] == resolve_workload("resnet18").macs


def test_timeline_is_trace_events_and_never_overwritten(capsys, tmp_path):
    path = tmp_path / "t.json"
    code, out, _ = run(capsys, "simulate", "resnet18", "--arch", "tpuv4-tc", "--timeline", path)
    assert code == 0 and f"timeline written to {path}" in out
    trace = json.loads(path.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"core 0", "core 3", "core 0 channel", "network"} <= names
    # a core's compute never overlaps itself: the array is one resource
    for tid in range(4):
        spans = sorted((e["args"]["start_cycle"], e["args"]["start_cycle"] + e["args"]["cycles"])
                       for e in slices if e["pid"] == 1 and e["tid"] == tid and e["args"]["phase"] == "compute")
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert max(e["args"]["start_cycle"] + e["args"]["cycles"] for e in slices) == trace["otherData"]["cycles"]
    before = path.read_bytes()
    err = one_line_error(capsys, "simulate", "resnet18", "--arch", "tpuv4-tc", "--timeline", path)
    assert err == f"accelsim: error: {path} exists; pass --force to overwrite" and path.read_bytes() == before
    assert run(capsys, "simulate", "resnet18", "--arch", "tpuv4-tc", "--timeline", path, "--force")[0] == 0
    assert path.read_bytes() == before  # deterministic: the same schedule, byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


@pytest.mark.parametrize("yaml_text, message", [
    ("cores: {count: 0, array: sa32}\ndram: {bytes_per_cycle: 16}\n",
     "`SystemConfig.cores.count` must be an integer in [1, 4096], not 0"),
    (("cores: {count: 3, array: sa32}\ndram: {bytes_per_cycle: 16}\nnetwork: {topology: mesh, mesh_rows: 2, "
     "mesh_cols: 2}\n"), "`SystemConfig.network` mesh 2×2 has 4 routers, not one per core (3 cores)"),
    ("cores: {count: 2, array: sa32}\ndram: {bytes_per_cycle: 16}\nglobal_buffer: {kib: 1, bytes_per_cycle: 64}\n",
     "`SystemConfig.global_buffer` kib = 1 is smaller than one tile of core 0's half buffers (128 KiB)"),
    ("cores: [sa32, {rows: 8, cols: 8, dataflows: [os]}]\ndram: {bytes_per_cycle: 16}\n",
     "core 1 (custom) of 'system' does not support dataflow 'ws' (it supports os)"),
    ("cores: {count: 2, array: sa32}\n", "`SystemConfig` is missing the required key 'dram'"),
])
def test_hostile_systems_are_one_line(capsys, tmp_path, yaml_text, message):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml_text)
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", spec, "--dataflow", "ws")
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_options_a_system_does_not_model_are_refused(capsys, tmp_path):
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", "tpuv4-tc", "--tensors", tmp_path / "w.npz")
    assert "--tensors with a schedule or a system of several cores is not modelled" in err
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", "tpuv4-tc", "--dataflow", "os")
    assert "core 0 (tpuv4-mxu) of 'tpuv4-tc' does not support dataflow 'os'" in err
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", "tpuv4-tc", "--timeline", tmp_path / "no" / "t.json")
    assert "the folder" in err and "does not exist" in err


def test_arch_list_and_show_name_the_systems(capsys):
    code, out, _ = run(capsys, "arch", "list")
    line = next(row for row in out.splitlines() if row.startswith("tpuv4-tc "))
    assert code == 0 and line.split()[1:6] == ["4", "×", "tpuv4-mxu", "(128x128)", "571"]
    code, out, _ = run(capsys, "arch", "show", "tpuv4-tc", "--json")
    assert code == 0 and json.loads(out)["cores"]["count"] == 4
    code, out, _ = run(capsys, "arch", "show", "sa32", "--json")
    assert json.loads(out) == resolve_arch("sa32").to_dict() | {"datapath": "int"}  # shown even when the default
    code, out, _ = run(capsys, "arch", "show", "tpuv4-tc", "--json")
    assert json.loads(out)["cores"]["array"]["datapath"] == "bf16"


def test_cores_on_different_clocks_are_refused(capsys, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("cores: [sa32, {rows: 8, cols: 8, clock_mhz: 500}]\ndram: {bytes_per_cycle: 16}\n")
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", spec)
    assert err == (f"accelsim: error: {spec}:1: `SystemConfig.cores` run at 500.0, 1000.0 MHz: cores on different "
                   "clocks are not modelled (a schedule counts one clock's cycles); give every core one clock_mhz")


def test_search_on_one_array_schedules_what_the_table_ran(capsys):
    code, out, _ = run(capsys, "simulate", "resnet50", "--arch", "sa128", "--mapping", "search", "--schedule",
                       "overlap", "--json")
    data = json.loads(out)
    assert code == 0 and data["schedule"]["sequential_cycles"] == data["total_cycles"]


def test_overlap_hides_the_dram_latency_of_layers_whose_operands_arrived_early():
    """Found by the benchmark: every layer waited its DRAM latency after its on-chip input, so a 100-cycle
    latency cost the overlapped schedule all 54 × 100 cycles it cost the sequential one."""
    from dataclasses import replace

    sa = resolve_arch("sa128")
    graph = resolve_workload("resnet50")
    totals = {}
    for latency in (0, 100):
        system = resolve_system("sa128") if not latency else \
            resolve_system("sa128").single(sa.with_changes(memory=replace(sa.memory, dram_latency_cycles=latency)))
        totals[latency] = (run_system(graph, system, schedule="sequential").cycles, run_system(graph, system).cycles)
    assert totals[100][0] - totals[0][0] == 54 * 100  # sequential: one wait per array layer, as the engine
    assert totals[100][1] - totals[0][1] < 54 * 100


def test_a_phase_with_nothing_to_move_does_not_delay_the_next_prefetch():
    """Found by the benchmark: vector layers' zero-cycle loads took a turn on the channel, so the weights of the
    layer after them waited for them (wk, wv of a LLaMA decode block saved nothing)."""
    result = run_system(resolve_workload("llama7b_block_decode"), resolve_system("tpuv4-tc"))
    saved = {t.name: t.saved_cycles for t in result.layers}
    assert saved["wk"] > 0 and saved["wv"] > 0
    assert all(task.holds and all(cycles for _, cycles in task.holds) or not task.holds for task in result.tasks)


# -- found by the hostile sweep (each failed before its fix) ---------------------------------------------------
def test_a_timeline_never_replaces_a_link_or_a_device_node(capsys, tmp_path):
    import os

    target, link, fifo = tmp_path / "target.json", tmp_path / "link.json", tmp_path / "fifo"
    os.symlink(target, link)
    os.mkfifo(fifo)
    for path, why in ((link, "is a symbolic link"), (fifo, "is not a regular file")):
        err = one_line_error(capsys, "simulate", "alexnet", "--arch", "tpuv4-tc", "--timeline", path, "--force")
        assert f"{path} {why}" in err
    assert link.is_symlink() and not target.exists() and fifo.is_fifo()


def test_a_prime_batch_is_not_unrolled_sample_by_sample(tmp_path):
    from accelsim._paths import data_dir

    spec = tmp_path / "r18.yaml"
    spec.write_text((data_dir("workloads") / "resnet18.yaml").read_text().replace("batch: 1", "batch: 100003", 1))
    result = run_system(resolve_workload(str(spec)), resolve_system("tpuv4-tc"), energy_table=None)
    assert any("was not tried" in note for note in result.assumptions)


def test_the_search_on_a_system_skips_mappings_a_core_cannot_run(capsys, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("cores: {count: 2, array: sa8}\ndram: {bytes_per_cycle: 16}\n")
    code, out, err = run(capsys, "simulate", "alexnet", "--arch", spec, "--mapping", "search")
    assert code == 0 and err == "" and "total: 714,188,480 MACs" in out
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", "tpuv4-tc", "--mapping", "search", "--ideal-memory")
    assert "--mapping search with --ideal-memory is not modelled" in err


def test_dram_capacity_is_honoured_and_picojoules_are_not_added_to_mac_units(capsys, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("cores: {count: 4, array: sa32}\ndram: {bytes_per_cycle: 64, capacity_gib: 0.01}\n")
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", spec)
    assert "alexnet's weights take 61,100,840 bytes" in err and "capacity_gib 0.01" in err
    err = one_line_error(capsys, "simulate", "alexnet", "--arch", "npu4-edge", "--energy-table", "normalised")
    assert "energy table 'normalised' counts mac" in err
    code, out, _ = run(capsys, "simulate", "alexnet", "--arch", "tpuv4-tc", "--energy-table", "normalised")
    assert code == 0 and "million MACs' worth" in out


def test_utilisation_counts_fused_pes_as_one_array_does(capsys, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("cores: {count: 4, array: sa32}\ndram: {bytes_per_cycle: 64}\n")
    code, out, _ = run(capsys, "simulate", "resnet18", "--arch", spec, "--pe", "fusible", "--weight-bits", "2",
                       "--input-bits", "2", "--ideal-memory")
    line = next(row for row in out.splitlines() if row.startswith("total:"))
    assert code == 0 and float(line.split("utilisation ")[1].split("%")[0]) <= 100


def test_one_core_is_the_array_whatever_the_system_is_named(capsys, tmp_path):
    for name in ("sa32", "other"):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"name: {name}\ncores: {{count: 1, array: sa32}}\nnetwork: {{topology: ring}}\n")
        code, out, _ = run(capsys, "simulate", "alexnet", "--arch", spec)
        assert code == 0 and "4,356,878 cycles" in out


def test_commands_that_take_one_array_refuse_a_system_by_name(capsys, tmp_path):
    err = one_line_error(capsys, "dse", "alexnet", "--arch", "tpuv4-tc", "-o", tmp_path / "d")
    assert "'tpuv4-tc' is a system of cores; this command takes one array" in err
    assert not (tmp_path / "d").exists()


# -- found by the code review (each failed before its fix) -----------------------------------------------------
def test_activations_kept_in_the_global_buffer_still_cross_the_cores_channels():
    """Kept activations skip DRAM, not the global buffer: four sa32 cores behind an 8 MiB, 16 B/cycle global
    buffer ran ResNet-50 in 2,807,842 cycles overlapped, below the 2,955,146 the buffer needs to pass every
    layer's inputs, weights and outputs once, and half its energy vanished."""
    from accelsim.arch import Dram, GlobalBuffer, SystemConfig

    system = SystemConfig(name="gb", cores=(resolve_arch("sa32"),) * 4, dram=Dram(64),
                          global_buffer=GlobalBuffer(kib=8192, bytes_per_cycle=16))
    graph = resolve_workload("resnet50")
    seq, ovl = (run_system(graph, system, schedule=s) for s in ("sequential", "overlap"))
    assert ovl.cycles >= 47_282_344 // 16  # every array layer's I + W + O once through the 16 B/cycle buffer
    assert ovl.energy_pj["global_buffer"] == seq.energy_pj["global_buffer"]
    assert ovl.dram_bytes < seq.dram_bytes  # what keeping them saves is DRAM


def test_a_layer_placed_on_a_core_computes_there():
    """Plans shared by cores that plan alike kept the cores they were first made for: BERT on [sa32, sa128,
    sa128] put 57 layers' compute on core 1 while they held core 2's channel (7% slower)."""
    from accelsim.arch import Dram, SystemConfig

    system = SystemConfig(name="h", cores=(resolve_arch("sa32"), resolve_arch("sa128"), resolve_arch("sa128")),
                          dram=Dram(96))
    result = run_system(resolve_workload("bert_base_s128"), system)
    for t in result.layers:
        assert set(t.cores) <= set(t.reserved), t.name
        if t.unit != "array":
            continue
        task = next(k for k in result.tasks if k.layer == t.name and k.phase == "compute")
        assert {int(r[5:]) for r, _ in task.holds if r.startswith("array")} == set(t.cores), t.name


def test_a_reduction_through_memory_is_drawn_on_the_channels():
    from accelsim.schedule.timeline import trace_events

    result = run_system(resolve_workload("llama7b_block_decode"), resolve_system("tpuv4-tc"), schedule="sequential")
    events = [e for e in trace_events(result)["traceEvents"] if e["ph"] == "X" and e["args"]["phase"] == "reduce"]
    assert events and all(e["pid"] == 2 and e["tid"] < 4 for e in events)


def test_a_slower_core_beside_a_fast_one_never_slows_the_system():
    """Found by the hostile sweep: [sa32, sa8] ran ResNet-18 slower than sa32 alone (layers were split equally,
    fewer cores meant the first ones in the list, vector layers waited for the narrow core, and a plan shared by
    alike cores was re-bound by position)."""
    from accelsim.arch import Dram, SystemConfig

    sa32, sa8 = resolve_arch("sa32"), resolve_arch("sa8")
    graph = resolve_workload("resnet18")
    for memory in (False, True):
        alone = run_system(graph, SystemConfig(name="one", cores=(sa32,), dram=Dram(16)), memory=memory,
                           schedule="sequential").cycles
        both = [run_system(graph, SystemConfig(name="two", cores=cores, dram=Dram(16)), memory=memory).cycles
                for cores in ((sa32, sa8), (sa8, sa32))]
        assert both[0] == both[1] <= alone, (memory, both, alone)
