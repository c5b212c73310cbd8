"""How often ``accelsim scalesim --convention scalesim`` reproduces the real SCALE-Sim, field by field.

    python benchmarks/scalesim_agreement.py [--cases 120] [--seed 0] [--work DIR] [--mode calc|user|both]

Generates random SCALE-Sim runs (arrays 8–256 incl. non-square, all three dataflows, SRAMs from
1 KiB to 1 MiB so some operands overflow them, CALC and USER bandwidth modes with stall-heavy
bandwidths, conv and GEMM topologies, N:M sparse layers), runs each through SCALE-Sim (its own
venv, see ``scalesim_peer.py``; results are cached in the work folder) and through accelsim, and
prints the match table: exact agreement for cycles, SRAM counts, utilisation and mapping efficiency,
agreement within 5% for stall cycles and DRAM counts. Mismatching layers are listed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scalesim_peer import run_scalesim, scalesim_python  # noqa: E402

from accelsim.scalesim.compat import simulate  # noqa: E402
from accelsim.scalesim.inputs import load_config, load_topology  # noqa: E402

EXACT = {"Total Cycles": "total_cycles", "Overall Util %": "overall_util",
         "Mapping Efficiency %": "mapping_efficiency", "Compute Util %": "compute_util",
         "SRAM IFMAP Reads": "sram_ifmap_reads", "SRAM Filter Reads": "sram_filter_reads",
         "SRAM OFMAP Writes": "sram_ofmap_writes", "Total Cycles (incl. prefetch)": "total_cycles_with_prefetch"}
WITHIN_5 = {"Stall Cycles": "stall_cycles", "DRAM IFMAP Reads": "dram_ifmap_reads",
            "DRAM Filter Reads": "dram_filter_reads", "DRAM OFMAP Writes": "dram_ofmap_writes"}
REPORT_OF = {"Stall Cycles": "COMPUTE_REPORT.csv", "Total Cycles": "COMPUTE_REPORT.csv",
             "Overall Util %": "COMPUTE_REPORT.csv", "Mapping Efficiency %": "COMPUTE_REPORT.csv",
             "Compute Util %": "COMPUTE_REPORT.csv", "Total Cycles (incl. prefetch)": "COMPUTE_REPORT.csv"}

CFG = """[general]
run_name = case{index}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap}
FilterSramSzkB: {filter}
OfmapSramSzkB: {ofmap}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bank_bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bank_bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : {sparse}
SparseRep : {rep}
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def make_case(index: int, rng: random.Random, mode: str) -> dict:
    sizes = [1, 2, 4, 8, 16, 64, 256, 1024]
    case = {
        "index": index,
        "rows": rng.choice([8, 16, 32, 64, 128, 256]), "cols": rng.choice([8, 16, 32, 64, 128, 256]),
        "dataflow": rng.choice(["os", "ws", "is"]),
        "ifmap": rng.choice(sizes), "filter": rng.choice(sizes), "ofmap": rng.choice(sizes),
        "mode": mode, "bandwidth": rng.choice([1, 2, 4, 10, 32]), "bank_bw": rng.choice([1, 2, 10, 50]),
        "sparse": "true" if rng.random() < 0.25 else "false", "rep": rng.choice(["csr", "csc", "ellpack_block"]),
        "gemm": rng.random() < 0.35,
    }
    layers = []
    for j in range(2):
        ratio = rng.choice(["1:1", "1:2", "2:4", "1:4", "3:4"]) if case["sparse"] == "true" else "1:1"
        if case["gemm"]:
            layers.append(f"G{j}, {rng.randint(1, 200)}, {rng.randint(1, 300)}, {rng.randint(1, 300)}, {ratio},")
        else:
            h = rng.randint(3, 24)
            f = rng.choice([1, 3, 5, 7])
            f = min(f, h)
            layers.append(f"C{j}, {h}, {h}, {f}, {f}, {rng.randint(1, 48)}, {rng.randint(1, 96)}, "
                          f"{rng.choice([1, 1, 2, 3])}, {ratio},")
    case["topology"] = layers
    return case


def write_case(case: dict, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "scale.cfg"
    cfg.write_text(CFG.format(**case))
    topo = folder / "topology.csv"
    header = ("Layer, M, N, K, Sparsity," if case["gemm"] else
              "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
              "Strides, Sparsity,")
    topo.write_text(header + "\n" + "\n".join(case["topology"]) + "\n")
    return cfg, topo


def scalesim_result(python: str, case: dict, folder: Path) -> dict:
    cache = folder / "scalesim.json"
    if cache.exists():
        return json.loads(cache.read_text())
    cfg, topo = write_case(case, folder)
    try:
        reports, seconds = run_scalesim(python, cfg, topo, folder / "ss", gemm=case["gemm"])
        result = {"reports": reports, "seconds": seconds}
    except RuntimeError as err:
        result = {"error": str(err).splitlines()[-1][:300]}
    cache.write_text(json.dumps(result))
    return result


def close(ours: float, theirs: float, rel: float) -> bool:
    if rel == 0:
        return float(ours) == float(theirs)
    return abs(ours - theirs) <= rel * max(abs(theirs), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["calc", "user", "both"], default="both")
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "accelsim" / "scalesim-agreement"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    python = scalesim_python()
    if python is None:
        sys.exit("SCALE-Sim is not installed; see benchmarks/scalesim_peer.py for the one-line install")
    rng = random.Random(args.seed)
    modes = {"calc": ["CALC"], "user": ["USER"], "both": ["CALC", "USER"]}[args.mode]
    cases = [make_case(i, rng, modes[i % len(modes)]) for i in range(args.cases)]
    work = Path(args.work)
    with ThreadPoolExecutor(args.jobs) as pool:
        theirs = list(pool.map(lambda c: scalesim_result(python, c, work / f"case{c['index']}"), cases))

    tallies: dict[str, list[int]] = {k: [0, 0, 0] for k in [*EXACT, *WITHIN_5]}
    runs_exact = runs_close = runs = 0
    failures, crashed, skipped = [], 0, 0
    for case, result in zip(cases, theirs):
        if "error" in result:
            crashed += 1
            continue
        cfg, topo = write_case(case, work / f"case{case['index']}")
        try:
            ours = simulate(load_topology(topo, gemm=case["gemm"]), load_config(cfg))
        except Exception as err:  # an unsupported feature: counted, listed
            skipped += 1
            failures.append(f"case{case['index']}: accelsim: {err}")
            continue
        compute = result["reports"]["COMPUTE_REPORT.csv"]
        detail = result["reports"]["DETAILED_ACCESS_REPORT.csv"]
        run_exact = run_close = True
        for lid, rep in enumerate(ours):
            row = {**detail[lid], **compute[lid]}
            for table, rel in ((EXACT, 0), (WITHIN_5, 0.05)):
                for column, attr in table.items():
                    ok = close(getattr(rep, attr), row[column], rel)
                    tallies[column][0] += ok
                    tallies[column][1] += 1
                    tallies[column][2] += close(getattr(rep, attr), row[column], 0)
                    if not ok:
                        if rel == 0:
                            run_exact = False
                        else:
                            run_close = False
                        failures.append(f"case{case['index']} ({case['mode']} {case['dataflow']} "
                                        f"{case['rows']}x{case['cols']}) layer {lid} {column}: accelsim "
                                        f"{getattr(rep, attr)} vs SCALE-Sim {row[column]}")
        runs += 1
        runs_exact += run_exact
        runs_close += run_close
    print(f"{len(cases)} generated runs ({', '.join(modes)}), {runs} compared, {crashed} crashed in SCALE-Sim, "
          f"{skipped} not supported by accelsim")
    print(f"runs with every exact field equal: {runs_exact}/{runs} ({runs_exact / max(runs, 1):.1%}); "
          f"with stalls and DRAM counts within 5%: {runs_close}/{runs} ({runs_close / max(runs, 1):.1%})")
    print(f"{'field':32s} {'rule':>6s} {'layers agreeing':>18s} {'exactly equal':>14s}")
    for column, (good, total, exact) in tallies.items():
        rule = "exact" if column in EXACT else "±5%"
        share, exact_share = good / max(total, 1), exact / max(total, 1)
        print(f"{column:32s} {rule:>6s} {good:>8d}/{total:<6d} {share:7.1%} {exact_share:9.1%}")
    if failures:
        print("\ndifferences:")
        for line in failures[:60]:
            print("  " + line)


if __name__ == "__main__":
    main()
