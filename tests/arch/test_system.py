"""`SystemConfig` (accelsim/arch/system.py): the system presets, the one-core system that *is* its array, a
core's view of the shared memory system (bandwidth share and hop latency), and hostile YAML refused with a
one-line message naming the file, the line and the field."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from accelsim.arch import (
    PRESETS,
    SYSTEM_PRESETS,
    Dram,
    GlobalBuffer,
    Network,
    SystemConfig,
    load_system,
    resolve_arch,
    resolve_system,
    save_arch,
)
from accelsim.arch.system import MAX_CORES
from accelsim.cli import main
from accelsim.errors import SpecError, UnsupportedError
from accelsim.mapping import load_dataflow
from accelsim.schedule import run_system
from accelsim.workload import resolve_workload


def one_line_error(capsys, argv: list[str]) -> str:
    """Run the CLI expecting exit 1 with nothing on stdout and one ``accelsim: error:`` line; return it
    (the pattern of ``tests/dse/conftest.py``)."""
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1 and err.startswith("accelsim: error: "), err
    return err


def _with_memory(name: str, **changes):
    arch = resolve_arch(name)
    return arch.with_changes(memory=replace(arch.memory, **changes))


# -- presets ---------------------------------------------------------------------------------------------
def test_the_system_presets_are_the_yaml_files():
    assert {"tpuv4-tc", "npu4-edge", "a100-like"} <= set(SYSTEM_PRESETS)
    for name, load in SYSTEM_PRESETS.items():
        assert load().name == name and resolve_system(name) is load()


@pytest.mark.parametrize("name", sorted(SYSTEM_PRESETS))
def test_presets_round_trip_through_to_dict_and_yaml(tmp_path, name):
    system = resolve_system(name)
    data = system.to_dict()
    again = SystemConfig.from_dict(data)
    assert again == system and again.digest == system.digest
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_system(path) == system and resolve_system(str(path)).digest == system.digest
    assert not system.is_single_array and system.identical


def test_a100_like_is_sized_from_the_whitepaper():
    s = resolve_system("a100-like")
    core = s.cores[0]
    assert len(s.cores) == 108 * 4 and (core.rows, core.cols, core.dataflows) == (16, 16, ("os",))
    assert (core.input_bits, core.weight_bits, core.acc_bits, core.clock_mhz) == (16, 16, 32, 1410)
    dense_fp16_tflops = s.pes * 2 * s.clock_mhz * 1e6 / 1e12
    assert dense_fp16_tflops == pytest.approx(312, rel=2e-3)  # 311.9: the whitepaper's 312
    assert (core.memory.ifmap_kib + core.memory.filter_kib + core.memory.ofmap_kib) * 4 == 192  # the SM's L1
    assert (s.global_buffer.kib, s.global_buffer.bytes_per_cycle) == (40 * 1024, 5120)
    assert (s.dram.bytes_per_cycle, s.dram.capacity_gib) == (1446, 80)  # 2,039 GB/s ÷ 1.41 GHz
    assert s.network.topology == "crossbar"
    view = s.core_view(431)
    assert view.memory.dram_bytes_per_cycle == 5120 / 432  # the L2 share binds (port 32, link unlimited)
    assert view.memory.dram_latency_cycles == 200 + 200  # HBM beyond L2, plus one crossbar hop (an L2 hit)


def test_npu4_edge_is_four_32x32_int8_cores():
    s = resolve_system("npu4-edge")
    core = s.cores[0]
    assert len(s.cores) == 4 and (core.rows, core.cols, core.input_bits, core.clock_mhz) == (32, 32, 8, 1000)
    assert s.pes * 2 * s.clock_mhz * 1e6 == 4 * 1024 * 2 * 1e9  # 8.2 TOPS
    assert (s.global_buffer.kib, s.dram.bytes_per_cycle) == (2048, 34)
    assert [s.core_view(i).memory.dram_bytes_per_cycle for i in range(4)] == [32] * 4  # port = link = 128 / 4
    assert [s.core_view(i).memory.dram_latency_cycles for i in range(4)] == [110] * 4


def test_npu4_edge_schedules_resnet50():
    result = run_system(resolve_workload("resnet50"), resolve_system("npu4-edge"), schedule="sequential")
    assert result.cycles > 0 and result.system.name == "npu4-edge"


# -- one core is its array -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_one_core_system_is_its_array(name):
    arch = PRESETS[name]
    one = SystemConfig.single(arch)
    assert one.is_single_array and one.core_view(0) is arch
    assert resolve_system(name) == one
    assert SystemConfig.from_dict(one.to_dict()) == one


@pytest.mark.parametrize("cores", ["[sa32]", "{count: 1, array: sa32}"])
def test_a_one_core_yaml_without_dram_is_the_single_array(tmp_path, cores):
    path = tmp_path / "one.yaml"
    path.write_text(f"name: sa32\ncores: {cores}\n")
    system = load_system(path)
    assert system == SystemConfig.single(PRESETS["sa32"]) and system.is_single_array
    assert system.core_view(0) == PRESETS["sa32"]


def test_an_array_yaml_is_its_one_core_system(tmp_path):
    path = tmp_path / "arch.yaml"
    save_arch(PRESETS["edge"], path)
    assert load_system(path) == SystemConfig.single(PRESETS["edge"])


def test_a_one_core_system_with_dram_latency_round_trips():
    """``single`` copies the core's latency into ``dram``; reading it back must not refuse the core's latency
    as if it were one core of many."""
    arch = _with_memory("sa32", dram_latency_cycles=50)
    one = SystemConfig.single(arch)
    again = SystemConfig.from_dict(one.to_dict())
    assert again == one and again.is_single_array and again.core_view(0) == arch


def test_core_views_are_memoised_outside_equality_and_hash():
    system = resolve_system("npu4-edge")
    fresh = SystemConfig.from_dict(system.to_dict())
    assert system.core_view(2) is system.core_view(2)
    assert system == fresh and hash(system) == hash(fresh) and "_views" not in repr(system)


# -- a core's view of the shared memory ------------------------------------------------------------------
@pytest.mark.parametrize("port, link, dram, gb, expected", [
    (4, 1e9, 64, None, 4),       # the core's own port binds
    (32, 6, 64, None, 6),        # its network link binds
    (32, 1e9, 64, None, 16),     # its quarter of DRAM binds: 64 / 4
    (32, 1e9, 1000, 40, 10),     # a global buffer is the shared level the cores read: 40 / 4
])
def test_core_view_takes_the_least_of_port_link_and_share(port, link, dram, gb, expected):
    core = _with_memory("sa32", dram_bytes_per_cycle=port)
    buffer = GlobalBuffer(kib=1024, bytes_per_cycle=gb) if gb else None
    system = SystemConfig(name="q", cores=(core,) * 4, dram=Dram(bytes_per_cycle=dram), global_buffer=buffer,
                          network=Network(link_bytes_per_cycle=link))
    shares = [system.core_view(i).memory.dram_bytes_per_cycle for i in range(4)]
    assert shares == [expected] * 4 and sum(shares) <= system.shared_bytes_per_cycle
    view = system.core_view(0)
    assert view.with_changes(memory=core.memory) == core  # nothing but the memory system changes


@pytest.mark.parametrize("network, cores, hops", [
    (Network("crossbar", hop_latency_cycles=7), 4, [1, 1, 1, 1]),
    (Network("ring", hop_latency_cycles=7), 8, [1, 2, 3, 4, 5, 4, 3, 2]),
    (Network("mesh", hop_latency_cycles=7, mesh_rows=2, mesh_cols=3), 6, [1, 2, 3, 1, 2, 3]),
])
def test_core_view_adds_the_hops_latency(network, cores, hops):
    system = SystemConfig(name="n", cores=(PRESETS["sa8"],) * cores, dram=Dram(bytes_per_cycle=64, latency_cycles=100),
                          network=network)
    assert [network.hops(i, cores) for i in range(cores)] == hops
    assert [system.core_view(i).memory.dram_latency_cycles for i in range(cores)] == [100 + 7 * h for h in hops]


# -- hostile YAML ----------------------------------------------------------------------------------------
_CORE = "  array: {rows: 4, cols: 4, memory: {ifmap_kib: 8, filter_kib: 8, ofmap_kib: 8}}\n"
_FOUR = "cores:\n  count: 4\n" + _CORE + "dram: {bytes_per_cycle: 8}\n"  # network or global_buffer goes on line 5
_DRAM = "dram: {bytes_per_cycle: 8}\n"
_PRESETS = "is not an array preset (tiny, sa8, edge, sa32, sa128, tpuv1, tpuv4) (did you mean 'sa32'?)"
_BANDWIDTH = "must be a number in [0.001, 1,000,000,000]"
_MESH = "must be given for a mesh (mesh_rows × mesh_cols routers, one per core)"
_UNKNOWN = "is not a known key (did you mean"


def _two(array: str) -> str:
    """Two cores of ``array`` (a YAML flow mapping) sharing 8 B/cycle of DRAM (the array is on line 3)."""
    return f"cores:\n  count: 2\n  array: {array}\n" + _DRAM


HOSTILE = {
    "zero count": ("cores:\n  count: 0\n" + _CORE + _DRAM, 2,
                   "`SystemConfig.cores.count` must be an integer in [1, 4096], not 0"),
    "empty list": ("cores: []\n" + _DRAM, 1, "`SystemConfig.cores` must list at least one core, not none"),
    "count over MAX_CORES": (f"cores:\n  count: {MAX_CORES + 1}\n" + _CORE + _DRAM, 2,
                             f"`SystemConfig.cores.count` must be an integer in [1, 4096], not {MAX_CORES + 1}"),
    "list over MAX_CORES": ("cores: [" + ", ".join(["tiny"] * (MAX_CORES + 1)) + "]\n" + _DRAM, 1,
                            f"`SystemConfig.cores` must be at most 4,096 cores, not {MAX_CORES + 1:,}"),
    "mesh not one router per core": (_FOUR + "network: {topology: mesh, mesh_rows: 2, mesh_cols: 3}\n", 5,
                                     "`SystemConfig.network` mesh 2×3 has 6 routers, not one per core (4 cores)"),
    "mesh_rows without mesh_cols": (_FOUR + "network: {topology: mesh, mesh_rows: 2}\n", 5,
                                    f"`SystemConfig.network.mesh_cols` {_MESH}"),
    "mesh_cols without mesh_rows": (_FOUR + "network: {topology: mesh, mesh_cols: 2}\n", 5,
                                    f"`SystemConfig.network.mesh_rows` {_MESH}"),
    "mesh fields on a ring": (_FOUR + "network: {topology: ring, mesh_rows: 2, mesh_cols: 2}\n", 5,
                              "`SystemConfig.network.mesh_rows` describes a mesh, not a ring"),
    "mesh_cols on a ring": (_FOUR + "network: {topology: ring, mesh_cols: 4}\n", 5,
                            "`SystemConfig.network.mesh_cols` describes a mesh, not a ring"),
    "global buffer under a tile": (_FOUR + "global_buffer: {kib: 2, bytes_per_cycle: 16}\n", 5,
                                   ("`SystemConfig.global_buffer` kib = 2 is smaller than one tile of core 0's half "
                                    "buffers (4 KiB): it could not stage a tile")),
    "core DRAM latency": (_two("{rows: 4, cols: 4, memory: {dram_latency_cycles: 5}}"), 1,
                          ("`SystemConfig.cores` core 0's memory.dram_latency_cycles = 5: in a system the latency "
                           "is dram.latency_cycles (plus network hops); leave the core's at 0")),
    "unknown top-level key": (_FOUR + "netwrok: {topology: ring}\n", 5,
                              f"`SystemConfig.netwrok` {_UNKNOWN} 'network'?)"),
    "unknown top-level key, one core": ("cores: [sa32]\ndarm: {bytes_per_cycle: 8}\n", 2,
                                        f"`SystemConfig.darm` {_UNKNOWN} 'dram'?)"),
    "unknown cores key": ("cores:\n  count: 4\n  cuont: 3\n" + _CORE + _DRAM, 3,
                          f"`SystemConfig.cores.cuont` {_UNKNOWN} 'count'?)"),
    "unknown array key": (_two("{rows: 4, cols: 4, colz: 3}"), 3,
                          f"`SystemConfig.cores.array.colz` {_UNKNOWN} 'cols'?)"),
    "unknown memory key": (_two("{rows: 4, cols: 4, memory: {bankz: 2}}"), 3,
                           f"`SystemConfig.cores.array.memory.bankz` {_UNKNOWN} 'banks'?)"),
    "unknown key in a listed core": ("cores:\n  - tiny\n  - {rows: 4, cols: 4, colz: 3}\n" + _DRAM, 3,
                                     f"`SystemConfig.cores[1].colz` {_UNKNOWN} 'cols'?)"),
    "unknown dram key": ("cores:\n  count: 2\n" + _CORE + "dram: {bytes_per_cycle: 8, latency_cycle: 3}\n", 4,
                         f"`SystemConfig.dram.latency_cycle` {_UNKNOWN} 'latency_cycles'?)"),
    "unknown global buffer key": (_FOUR + "global_buffer: {kib: 64, bytes_per_cycle: 8, pj_per_bytes: 1}\n", 5,
                                  f"`SystemConfig.global_buffer.pj_per_bytes` {_UNKNOWN} 'pj_per_byte'?)"),
    "unknown network key": (_FOUR + "network: {topology: ring, hop_latency: 3}\n", 5,
                            f"`SystemConfig.network.hop_latency` {_UNKNOWN} 'hop_latency_cycles'?)"),
    "negative DRAM bandwidth": ("cores:\n  count: 2\n" + _CORE + "dram: {bytes_per_cycle: -8}\n", 4,
                                f"`SystemConfig.dram.bytes_per_cycle` {_BANDWIDTH}, not -8"),
    "negative global buffer bandwidth": (_FOUR + "global_buffer: {kib: 64, bytes_per_cycle: -1}\n", 5,
                                         f"`SystemConfig.global_buffer.bytes_per_cycle` {_BANDWIDTH}, not -1"),
    "negative link bandwidth": (_FOUR + "network: {link_bytes_per_cycle: -4}\n", 5,
                                "`SystemConfig.network.link_bytes_per_cycle` must be 0 (no dedicated links) or "
                                "a number in [0.001, 1,000,000,000], not -4"),
    "negative core port": (_two("{rows: 4, cols: 4, memory: {dram_bytes_per_cycle: -2}}"), 3,
                           f"`SystemConfig.cores.array.memory.dram_bytes_per_cycle` {_BANDWIDTH}, not -2"),
    "unknown core preset in a list": ("cores: [sa32, sa33]\n" + _DRAM, 1, f"`SystemConfig.cores[1]` {_PRESETS}"),
    "unknown core preset as the array": (_two("sa33"), 3, f"`SystemConfig.cores.array` {_PRESETS}"),
}


@pytest.mark.parametrize("text, line, message", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_yaml_is_one_line_naming_file_line_and_field(tmp_path, capsys, text, line, message):
    path = tmp_path / "system.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_system(path)
    assert str(err.value) == f"{path}:{line}: {message}"
    assert one_line_error(capsys, ["arch", "show", str(path)]) == f"accelsim: error: {path}:{line}: {message}"


@pytest.mark.parametrize("build, message", [
    (lambda: SystemConfig(name="x", cores=(), dram=Dram(8)),
     "`SystemConfig.cores` must list at least one core, not none"),
    (lambda: SystemConfig(name="x", cores=(PRESETS["tiny"],) * (MAX_CORES + 1), dram=Dram(8)),
     "`SystemConfig.cores` must be at most 4,096 cores, not 4,097"),
    (lambda: SystemConfig(name="x", cores=(PRESETS["tiny"],) * 4, dram=Dram(8),
                          network=Network("mesh", mesh_rows=1, mesh_cols=3)),
     "`SystemConfig.network` mesh 1×3 has 3 routers, not one per core (4 cores)"),
    (lambda: Network("ring", mesh_cols=2), "`SystemConfig.network.mesh_cols` describes a mesh, not a ring"),
    (lambda: Dram(bytes_per_cycle=-1), f"`SystemConfig.dram.bytes_per_cycle` {_BANDWIDTH}, not -1"),
    (lambda: GlobalBuffer(kib=64, bytes_per_cycle=0),
     f"`SystemConfig.global_buffer.bytes_per_cycle` {_BANDWIDTH}, not 0"),
])
def test_hostile_objects_are_refused_by_field(build, message):
    with pytest.raises(SpecError) as err:
        build()
    assert str(err.value) == message


def test_a_heterogeneous_list_refuses_a_dataflow_one_core_lacks(tmp_path, capsys):
    path = tmp_path / "hetero.yaml"
    path.write_text("cores: [sa32, {rows: 8, cols: 8, dataflows: [os]}]\ndram: {bytes_per_cycle: 16}\n")
    system = load_system(path)
    assert not system.identical and [c.name for c in system.cores] == ["sa32", "custom"]
    graph = resolve_workload("alexnet")
    message = "core 1 (custom) of 'system' does not support dataflow 'ws' (it supports os)"
    with pytest.raises(UnsupportedError) as err:
        run_system(graph, system, load_dataflow("ws"))
    assert str(err.value) == message
    assert one_line_error(capsys, ["simulate", "alexnet", "--arch", str(path), "--dataflow", "ws"]) == \
        f"accelsim: error: {message}"
    assert run_system(graph, system, load_dataflow("os"), schedule="sequential").cycles > 0  # both support os
