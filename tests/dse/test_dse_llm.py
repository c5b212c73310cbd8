"""`accelsim dse --llm`: LLM design points equal `run_llm` / `simulate_serving`, rates are maximised on the Pareto
front, what cannot run is an infeasible point with its reason, and a resumed run recomputes nothing."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

from accelsim.arch.system import SystemConfig, resolve_system
from accelsim.cli import main
from accelsim.dse.pareto import pareto
from accelsim.dse.plots import axis_label
from accelsim.dse.report import choose_design
from accelsim.llm.cost import CostModel
from accelsim.llm.graph import KV_BLOCK
from accelsim.llm.hf import load_model
from accelsim.llm.quant import Deployment
from accelsim.llm.run import kv_bytes_per_token, run_llm, weight_bytes
from accelsim.serve import ServeConfig, poisson_trace, simulate_serving

from .conftest import one_line_error

SHAPE = ["--prompt", "64", "--generate", "8", "--no-plots", "--json"]
COMPARED = ("ttft_s", "tpot_s", "tpot_p99_s", "tokens_per_s", "tokens_per_s_per_mm2", "tokens_per_s_per_w",
            "energy_per_token_j", "e2e_s")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    """A tiny llama as a Hugging Face config.json: hidden 128, 2 layers, GQA 4/2, context 512."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 256, "vocab_size": 1000, "max_position_embeddings": 512}))
    return str(folder / "config.json")


def _dse(capsys, *args: str) -> dict:
    code = main(["dse", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _with_cores(system: SystemConfig, n: int) -> SystemConfig:
    return dataclasses.replace(system, cores=(system.cores[0],) * n)


def _shape(d: dict) -> dict:
    """``run_llm``'s metrics under the design space's names."""
    return {**{k: d[k] for k in COMPARED if k in d}, "ttft_s": d["ttft_s"]["first"], "tpot_s": d["tpot_s"]["mean"],
            "tpot_p99_s": d["tpot_s"]["p99"]}


def test_each_point_is_run_llm_on_its_device_and_deployment(capsys, tmp_path, model):
    data = _dse(capsys, "--llm", model, "--arch", "npu4-edge", *SHAPE, "--axis", "system.cores=2,4",
                "--axis", "llm.kv=int8,int4", "--axis", "llm.batch=1,3", "--objective", "tpot_s,tokens_per_s_per_mm2",
                "-o", str(tmp_path))
    assert len(data["points"]) == 8 and all(p["feasible"] and p["reason"] == "" for p in data["points"])
    spec, base = load_model(model), resolve_system("npu4-edge")
    for p in data["points"]:
        direct = run_llm(spec, _with_cores(base, p["system.cores"]), Deployment("int8", "int8", p["llm.kv"]),
                         prompt=64, generate=8, batch=p["llm.batch"]).to_dict()
        assert {k: p[k] for k in COMPARED} == _shape(direct)  # the same floats, not approximately
        assert p["area_um2"] == pytest.approx(direct["area_mm2_per_device"] * 1e6)
        assert p["deployment"] == direct["deployment"] and p["kv_bytes_per_token"] == direct["kv_bytes_per_token"]
    # the store's points are what --json said, in the space's order
    assert [json.loads(r)["tpot_s"] for (r,) in sqlite3.connect(tmp_path / "results.sqlite").execute(
        "SELECT result FROM points ORDER BY seq")] == [p["tpot_s"] for p in data["points"]]


def test_a_served_point_is_simulate_serving_of_the_same_trace(capsys, tmp_path, model):
    data = _dse(capsys, "--llm", model, "--arch", "npu4-edge", "--rate", "2000", "--requests", "30",
                "--prompt", "16-96", "--generate", "4-24", "--ttft-slo", "0.0002", "--tpot-slo", "0.00008",
                "--axis", "system.dram_bytes_per_cycle=8,34", "--no-plots", "--json", "-o", str(tmp_path))
    assert data["objectives"] == ["goodput_rps", "energy_per_token_j", "area_um2"]
    spec, base, dep = load_model(model), resolve_system("npu4-edge"), Deployment("int8", "int8", "int8")
    trace = poisson_trace(2000.0, 30, input_tokens=(16, 96), output_tokens=(4, 24), seed=0)
    for p in data["points"]:
        system = dataclasses.replace(base, dram=dataclasses.replace(base.dram, bytes_per_cycle=p[
            "system.dram_bytes_per_cycle"]))
        blocks = int((8 * 2**30 - weight_bytes(spec, dep)) * 0.9) // (KV_BLOCK * kv_bytes_per_token(spec, dep))
        costs = CostModel(spec, dep, system)
        costs.prepare_decode(1, 120)
        served = simulate_serving(trace, costs, ServeConfig(kv_blocks=blocks, max_context=512, ttft_slo_s=0.0002,
                                                            tpot_slo_s=0.00008)).to_dict()
        assert p["feasible"] and p["finished"] == 30 and p["kv_blocks"] == blocks
        assert p["goodput_rps"] == served["goodput"]["requests_per_s"]
        assert (p["ttft_s"], p["tpot_p99_s"], p["tokens_per_s"]) == (
            served["ttft_s"]["mean"], served["tpot_s"]["p99"], served["output_tokens_per_s"])
        assert p["energy_per_token_j"] == served["energy_pj_per_output_token"] * 1e-12
    slow, fast = data["points"]
    assert 0 < slow["goodput_rps"] < fast["goodput_rps"]  # the SLOs bite on the slower DRAM
    # the faster DRAM has the most goodput (maximised); the slower one batches more, so less energy per token
    assert data["pareto"] == [slow, fast] and slow["energy_per_token_j"] < fast["energy_per_token_j"]


def test_a_maximised_objective_prefers_the_larger_value(capsys, tmp_path, model):
    rows = [{"feasible": True, "tpot_s": 2.0, "tokens_per_s": 10.0}, {"feasible": True, "tpot_s": 2.0,
                                                                      "tokens_per_s": 30.0},
            {"feasible": True, "tpot_s": 1.0, "tokens_per_s": 5.0}]
    assert pareto(rows, ("tpot_s", "tokens_per_s")) == [1, 2]  # 0 is dominated by 1: same time, fewer tokens/s
    assert pareto(rows, ("tokens_per_s",)) == [1]
    data = _dse(capsys, "--llm", model, "--arch", "sa32", *SHAPE, "--axis", "rows=8,16,32", "--axis", "cols=8,32",
                "--objective", "tokens_per_s_per_w,tokens_per_s_per_mm2", "-o", str(tmp_path))
    points = data["points"]
    objectives = ("tokens_per_s_per_w", "tokens_per_s_per_mm2")

    def dominates(a, b):
        return all(a[o] >= b[o] for o in objectives) and any(a[o] > b[o] for o in objectives)

    front = [p for p in points if not any(dominates(q, p) for q in points)]
    assert data["pareto"] == front and len(front) < len(points)
    # the design the report details has the largest first objective (a rate), not the smallest
    chosen = points[choose_design(points, [points.index(p) for p in front], objectives)]
    assert chosen["tokens_per_s_per_w"] == max(p["tokens_per_s_per_w"] for p in points)
    single = _dse(capsys, "--llm", model, "--arch", "sa32", *SHAPE, "--axis", "rows=8,16,32", "--axis", "cols=8,32",
                  "--objective", "tokens_per_s", "-o", str(tmp_path / "one"))
    assert single["pareto"] == [max(points, key=lambda p: p["tokens_per_s"])]
    # NSGA-II is told the rates as maximised (a budget below the space's 6 points)
    searched = _dse(capsys, "--llm", model, "--arch", "sa32", *SHAPE, "--axis", "rows=8,16,32", "--axis", "cols=8,32",
                    "--objective", "tokens_per_s", "--budget", "4", "-o", str(tmp_path / "nsga"))
    assert searched["search"] == "nsga2" and len(searched["points"]) == 4


def test_what_cannot_run_is_an_infeasible_point_with_its_reason(capsys, tmp_path, model):
    data = _dse(capsys, "--llm", model, "--arch", "sa32", *SHAPE, "--axis", "system.dram_capacity_gib=0.0001,1",
                "--axis", "llm.tp=1,3", "--max", "ttft_s=1", "-o", str(tmp_path / "a"))
    small_ok, small_tp3, big_ok, big_tp3 = data["points"]
    assert "does not fit" in small_ok["reason"] and "0.0001 GiB" in small_ok["reason"]
    assert "divide" in small_tp3["reason"] and "divide" in big_tp3["reason"]
    assert big_ok["feasible"] and data["pareto"] == [big_ok]
    assert not any(p["feasible"] for p in (small_ok, small_tp3, big_tp3))
    bounded = _dse(capsys, "--llm", model, "--arch", "sa32", *SHAPE, "--axis", "rows=8,32", "--max", "ttft_s=1e-9",
                   "--min", "tokens_per_s=1e12", "-o", str(tmp_path / "b"))
    assert [p["reason"].split(" is ")[1][:5] for p in bounded["points"]] == ["above", "above"]
    assert all(p["ttft_s"] > 0 for p in bounded["points"])  # an infeasible point keeps its numbers
    too_long = _dse(capsys, "--llm", model, "--arch", "sa32", "--prompt", "500", "--generate", "20", "--no-plots",
                    "--json", "--axis", "rows=8,16", "-o", str(tmp_path / "c"))
    assert all("exceeds" in p["reason"] and "context window" in p["reason"] for p in too_long["points"])
    served = _dse(capsys, "--llm", model, "--arch", "sa32", "--rate", "10", "--requests", "5", "--prompt", "32",
                  "--generate", "4", "--axis", "rows=8,16", "--no-plots", "--json", "-o", str(tmp_path / "d"))
    assert all("declares no DRAM capacity" in p["reason"] for p in served["points"])
    for p in [*data["points"], *bounded["points"], *too_long["points"], *served["points"]]:
        assert "\n" not in p["reason"]


def test_resume_recomputes_nothing_and_figures_label_the_llm_objectives(capsys, tmp_path, model):
    args = ["--llm", model, "--arch", "npu4-edge", "--prompt", "64", "--generate", "8", "--axis", "system.cores=1,2,4",
            "--axis", "llm.weights=int8,int4", "--objective", "tpot_s,tokens_per_s_per_mm2", "-o", str(tmp_path)]
    assert main(["dse", *args]) == 0
    first = capsys.readouterr().out
    assert "(6 evaluated now, 0 from the store)" in first and "tokens_per_s_per_mm2 (max)" in first
    csv = (tmp_path / "points.csv").read_text()
    report = (tmp_path / "report.html").read_text()
    assert "tpot_s (minimised), tokens_per_s_per_mm2 (maximised)" in report
    svg = (tmp_path / "pareto_tpot_s_tokens_per_s_per_mm2.svg").read_text()  # its text, in comments beside the paths
    assert "time per output token, mean (s)" in svg and "tokens/s per mm² (higher is better)" in svg
    with sqlite3.connect(tmp_path / "results.sqlite") as db:  # lose the last point, as a kill would
        db.execute("DELETE FROM points WHERE seq = 5")
    assert main(["dse", *args, "--resume"]) == 0
    assert "(1 evaluated now, 5 from the store)" in capsys.readouterr().out
    assert main(["dse", *args, "--resume"]) == 0
    assert "(0 evaluated now, 6 from the store)" in capsys.readouterr().out
    assert (tmp_path / "points.csv").read_text() == csv and (tmp_path / "report.html").read_text() == report
    pool = str(tmp_path / "pool")  # two spawned workers: the same points, byte for byte
    assert main(["dse", *args[:-1], pool, "--jobs", "2", "--no-plots"]) == 0
    assert "(6 evaluated now, 0 from the store)" in capsys.readouterr().out
    assert (tmp_path / "pool" / "points.csv").read_text() == csv
    assert axis_label("tokens_per_s_per_mm2") == "tokens/s per mm² (higher is better)"
    assert axis_label("energy_per_token_j") == "energy per output token (J)"


@pytest.mark.parametrize(("extra", "message"), [
    (["--objective", "total_cycles"], "--objective: choose from ttft_s, ttft_last_s, tpot_s"),
    (["--objective", "goodput_rps"], "--objective: choose from"),
    (["--max", "tokens_per_s=5"], "tokens_per_s is better larger; bound it from below with --min tokens_per_s"),
    (["--min", "ttft_s=5"], "ttft_s is better smaller; bound it from above with --max ttft_s"),
    (["--max", "latency_ms=5"], "is not a metric a space can bound"),
    (["--axis", "schedule=overlap"], "axis 'schedule' does not apply to an LLM space"),
    (["--axis", "workload.weight_bits=4"], "axis 'workload.weight_bits' does not apply to an LLM space"),
    (["--axis", "llm.wieghts=int4"], "is not an LLM axis (did you mean 'llm.weights'?)"),
    (["--axis", "llm.weights=int3"], "axis 'llm.weights' value 'int3': must be one of"),
    (["--axis", "llm.weights=int4,4"], "give the same design"),
    (["--axis", "llm.weights=int4", "--weight-bits", "8"], "both set the weights: give one"),
    (["--axis", "system.dram_capacity_gib=-1"], "axis 'system.dram_capacity_gib' value -1"),
    (["--ttft-slo", "0.1"], "--ttft-slo is an option of a served trace: give --rate"),
    (["--prompt", "8-64"], "--prompt LOW-HIGH draws a served trace's lengths"),
    (["--rate", "1", "--batch", "2"], "--batch is for one request shape"),
    (["--mapping", "fixed"], "--mapping does not apply to --llm"),
    (["--weights", "int4", "--weight-bits", "4"], "give --weights or --weight-bits, not both"),
])
def test_llm_space_mistakes_are_one_line(capsys, tmp_path, model, extra, message):
    err = one_line_error(capsys, ["dse", "--llm", model, "--arch", "npu4-edge", *extra, "-o", str(tmp_path)])
    assert message in err, err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing written


def test_llm_options_need_llm_and_llm_takes_only_a_space_file(capsys, tmp_path, model):
    assert "--prompt is an option of an LLM space: give --llm MODEL" in one_line_error(
        capsys, ["dse", "alexnet", "--prompt", "64", "-o", str(tmp_path)])
    assert "--tp is an option of an LLM space" in one_line_error(
        capsys, ["dse", "alexnet", "--tp", "2", "-o", str(tmp_path)])
    assert "--min bounds a rate of an LLM space" in one_line_error(
        capsys, ["dse", "alexnet", "--min", "tokens_per_s=1", "-o", str(tmp_path)])
    assert "give a workload" in one_line_error(capsys, ["dse", "-o", str(tmp_path)])
    assert "give at most a space file" in one_line_error(
        capsys, ["dse", "alexnet", "space.yaml", "--llm", model, "-o", str(tmp_path)])
    space = tmp_path / "space.yaml"
    space.write_text("version: 1\naxes: {rows: [8, 16]}\nlimits: {ttft_s: 10}\n")
    data = _dse(capsys, str(space), "--llm", model, "--arch", "sa32", *SHAPE, "-o", str(tmp_path / "run"))
    assert [p["rows"] for p in data["points"]] == [8, 16] and all(p["feasible"] for p in data["points"])
