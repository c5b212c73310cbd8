"""The scheduler on small traces computed by hand with the toy cost (1 cycle = 1 µs).

HAND prices a step at ``100 + 10·tokens + pairs``: a chunk of n tokens after m cached attends
``n·m + n(n+1)/2`` pairs, a decode at KV length L attends ``L + 1``.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import time

import pytest

from accelsim.errors import SpecError
from accelsim.serve import Request, ServeConfig, StepCost, ToyCosts, poisson_trace, simulate_serving

from .conftest import HAND, Recorder, cycles


def run(requests: list[Request], **config: object) -> tuple:
    rec = Recorder()
    res = simulate_serving(requests, rec, ServeConfig(**config))  # type: ignore[arg-type]
    return res, rec


def test_one_request_exact_ttft_tpot() -> None:
    res, rec = run([Request("a", 0.0, 8, 3)], kv_blocks=4, block_tokens=4)
    assert rec.shapes() == [([(8, 0)], []), ([], [8]), ([], [9])]
    r = res.requests[0]
    assert (r.first_token_cycle, r.finish_cycle) == (216, 455)  # 100+80+36; then 119 and 120
    assert r.ttft_s == 216e-6 and r.tpot_s == pytest.approx(119.5e-6, rel=1e-15) and r.e2e_s == 455e-6
    assert res.itl_cycles.tolist() == [119, 120] and r.generated == 3
    d = res.to_dict()
    assert d["ttft_s"] == {"mean": 216e-6, "p50": 216e-6, "p90": 216e-6, "p99": 216e-6}
    assert d["itl_s"]["mean"] == pytest.approx(119.5e-6) and d["percentile_method"] == "linear"
    assert d["output_tokens_per_s"] == pytest.approx(3 / 455e-6) and d["steps"] == 3


def test_idle_server_jumps_to_the_next_arrival() -> None:
    res, rec = run([Request("a", 0.0, 8, 1), Request("b", 0.5, 8, 2)], kv_blocks=4, block_tokens=4)
    a, b = res.requests
    assert a.finish_cycle == 216 and b.arrival_cycle == 500_000
    assert b.first_token_cycle == 500_216 and b.ttft_cycles == 216 and b.finish_cycle == 500_216 + 119
    assert len(rec.calls) == 3  # no steps while idle


def test_a_request_arriving_mid_step_waits_for_the_next_step() -> None:
    res, rec = run([Request("a", 0.0, 8, 3), Request("b", 100e-6, 4, 1)], kv_blocks=8, block_tokens=4)
    assert rec.shapes() == [([(8, 0)], []), ([(4, 0)], [8]), ([], [9])]
    b = res.requests[1]
    assert b.first_token_cycle == 216 + cycles(HAND, [(4, 0)], [8]) and b.ttft_cycles == b.first_token_cycle - 100


def test_chunked_prefill_splits_a_long_prompt() -> None:
    res, rec = run([Request("a", 0.0, 10, 2)], kv_blocks=10, block_tokens=4, max_num_seqs=1,
                   max_num_batched_tokens=4)
    assert rec.shapes() == [([(4, 0)], []), ([(4, 4)], []), ([(2, 8)], []), ([], [10])]
    assert res.requests[0].ttft_cycles == 150 + 166 + 139  # the sum of its chunks' steps
    assert res.requests[0].finish_cycle == 455 + 121


def test_chunked_prefill_shares_the_budget_with_decodes_and_later_prompts() -> None:
    reqs = [Request("a", 0.0, 6, 3), Request("b", 0.0, 6, 1)]
    _, rec = run(reqs, kv_blocks=8, block_tokens=4, max_num_seqs=2, max_num_batched_tokens=8)
    assert rec.shapes() == [([(6, 0), (2, 0)], []), ([(4, 2)], [6]), ([], [7])]


def test_without_chunked_prefill_a_prompt_waits_for_a_budget_it_fits() -> None:
    reqs = [Request("a", 0.0, 6, 3), Request("b", 0.0, 6, 1)]
    res, rec = run(reqs, kv_blocks=8, block_tokens=4, max_num_seqs=2, max_num_batched_tokens=8,
                   chunked_prefill=False)
    assert rec.shapes() == [([(6, 0)], []), ([(6, 0)], [6]), ([], [7])]
    assert res.requests[1].finish_cycle == res.requests[1].first_token_cycle == sum(c for *_, c in rec.calls[:2])


def test_preemption_by_recompute_when_blocks_run_out() -> None:
    # 5 blocks of 2 tokens; a and b each end with 7 cached tokens (4 blocks): both cannot run to the end
    reqs = [Request("a", 0.0, 4, 4), Request("b", 0.0, 4, 4)]
    res, rec = run(reqs, kv_blocks=5, block_tokens=2, max_num_seqs=2, max_num_batched_tokens=8)
    assert rec.shapes() == [
        ([(4, 0), (4, 0)], []),  # both prefill (4 blocks used), both emit token 1
        ([], [4]),  # a takes the last block; b needs one too: b (the latest) is preempted
        ([], [5]),  # b would need 3 blocks for prompt + 1 generated token: only 2 free
        ([], [6]),  # a finishes
        ([(5, 0)], []),  # b recomputes its prompt and its generated token, emits token 2
        ([], [5]), ([], [6]),
    ]
    a, b = res.requests
    assert (a.preemptions, b.preemptions, a.generated, b.generated) == (0, 1, 4, 4)
    # blocks in use while each step runs (a's new block in step 2 came from b's freed ones)
    assert res.series.kv_blocks_used == (4, 3, 3, 4, 3, 3, 4) and res.peak_kv_blocks == 4
    steps = [c for *_, c in rec.calls]
    assert b.first_token_cycle == steps[0] and b.finish_cycle == sum(steps)
    assert res.itl_cycles.tolist() == [steps[1], steps[2], steps[3], sum(steps[1:5]), steps[5], steps[6]]
    assert res.preemptions == 1 and res.to_dict()["preemptions"] == 1
    assert res.computed_tokens == 8 + 3 + 5 + 2


def test_preemption_recovers_on_a_heavy_trace() -> None:
    trace = poisson_trace(200.0, 60, input_tokens=(16, 96), output_tokens=(8, 64), seed=3)
    res = simulate_serving(trace, ToyCosts(), ServeConfig(kv_blocks=12, block_tokens=16, max_num_seqs=8))
    assert res.preemptions > 0
    assert all(r.finished and r.generated == r.request.output_tokens for r in res.requests)
    assert res.peak_kv_blocks == 12


def test_rejections_are_recorded_with_their_reason() -> None:
    reqs = [Request("fits", 0.0, 10, 7),  # 16 cached tokens: 4 blocks of 4
            Request("kv", 0.0, 10, 8),  # 17 cached tokens: 5 blocks
            Request("ctx", 0.0, 5, 16)]
    res, _ = run(reqs, kv_blocks=4, block_tokens=4, max_context=20)
    fits, kv, ctx = res.requests
    assert fits.finished and fits.rejected is None
    assert kv.rejected == "needs 5 KV blocks for 17 cached tokens, more than the capacity (4)"
    assert ctx.rejected == "prompt + output (21 tokens) exceeds max_context (20)"
    assert not kv.finished and kv.first_token_cycle is None and kv.ttft_s is None
    assert res.to_dict()["requests"] == {"total": 3, "finished": 1, "rejected": 2}
    res, _ = run([Request("long", 0.0, 300, 1)], kv_blocks=100, max_num_batched_tokens=256, chunked_prefill=False)
    assert res.requests[0].rejected == ("prompt (300 tokens) exceeds max_num_batched_tokens (256) "
                                        "without chunked prefill")
    d = res.to_dict()
    assert d["steps"] == 0 and d["makespan_s"] == 0.0 and d["output_tokens_per_s"] is None
    assert d["goodput"]["fraction"] == 0.0


def test_without_chunked_prefill_a_long_recomputation_is_chunked() -> None:
    # b is preempted after 4 tokens (then twice more while it recomputes in 8-token slots next to a's
    # decodes); its last recomputation, prompt 8 + 4 generated = 12 tokens, exceeds the 9-token budget
    reqs = [Request("a", 0.0, 8, 12), Request("b", 0.0, 8, 12)]
    res, rec = run(reqs, kv_blocks=6, block_tokens=4, max_num_seqs=2, max_num_batched_tokens=9,
                   chunked_prefill=False)
    assert [r.preemptions for r in res.requests] == [0, 3] and all(r.finished for r in res.requests)
    prefills = [p for p, _ in rec.shapes() if p]
    assert prefills == [[(8, 0)], [(8, 0)], [(8, 0)], [(8, 0)], [(9, 0)], [(3, 9)]]


def test_prefix_hit_skips_prefill_compute() -> None:
    a = Request("a", 0.0, 12, 1, prefix="sys", prefix_tokens=8)
    b = Request("b", 1.0, 12, 1, prefix="sys", prefix_tokens=8)
    res, rec = run([a, b], kv_blocks=8, block_tokens=4, prefix_caching=True)
    assert rec.shapes() == [([(12, 0)], []), ([(4, 8)], [])]
    assert [r.prefix_hit_tokens for r in res.requests] == [0, 8]
    assert res.requests[1].ttft_cycles == 100 + 40 + 32 + 10 < cycles(HAND, [(12, 0)], [])
    res, rec = run([a, b], kv_blocks=8, block_tokens=4)  # caching off: no hit
    assert rec.shapes() == [([(12, 0)], []), ([(12, 0)], [])]


def test_prefix_blocks_are_shared_while_their_owner_runs() -> None:
    a = Request("a", 0.0, 12, 5, prefix="sys", prefix_tokens=8)
    b = Request("b", 1e-6, 12, 1, prefix="sys", prefix_tokens=8)
    c = Request("c", 0.0, 12, 5, prefix="other", prefix_tokens=8)
    res, rec = run([a, b], kv_blocks=6, block_tokens=4, prefix_caching=True)
    assert rec.shapes()[1] == ([(4, 8)], [12])
    assert res.series.kv_blocks_used[1] == 2 + 2 + 1  # the 2 shared, a's 2 others (one for this decode), b's 1
    # concurrent prefills of the same prefix both compute it; a different prefix never hits
    res, rec = run([a, b.__class__("b", 0.0, 12, 1, prefix="sys", prefix_tokens=8), c], kv_blocks=20,
                   block_tokens=4, prefix_caching=True)
    assert rec.shapes()[0] == ([(12, 0), (12, 0), (12, 0)], []) and res.to_dict()["prefix_hit_tokens"] == 0


def test_prefix_hit_leaves_one_token_to_compute() -> None:
    a = Request("a", 0.0, 8, 1, prefix="sys", prefix_tokens=8)
    b = Request("b", 1.0, 8, 1, prefix="sys", prefix_tokens=8)
    res, rec = run([a, b], kv_blocks=4, block_tokens=4, prefix_caching=True)
    assert rec.shapes()[1] == ([(4, 4)], []) and res.requests[1].prefix_hit_tokens == 4


def test_unreferenced_cached_blocks_are_evicted_least_recently_released_first() -> None:
    a = Request("a", 0.0, 12, 1, prefix="sys", prefix_tokens=8)
    c = Request("c", 1.0, 9, 1)  # 3 blocks: one of a's 2 cached blocks is evicted (the tail, block 1)
    b = Request("b", 2.0, 12, 1, prefix="sys", prefix_tokens=8)
    res, rec = run([a, c, b], kv_blocks=4, block_tokens=4, prefix_caching=True)
    assert rec.shapes() == [([(12, 0)], []), ([(9, 0)], []), ([(8, 4)], [])]
    assert res.requests[2].prefix_hit_tokens == 4
    c = Request("c", 1.0, 13, 1)  # 4 blocks: both evicted
    res, rec = run([a, c, b], kv_blocks=4, block_tokens=4, prefix_caching=True)
    assert rec.shapes()[2] == ([(12, 0)], []) and res.requests[2].prefix_hit_tokens == 0


def test_admission_respects_max_num_seqs() -> None:
    reqs = [Request(str(i), 0.0, 4, 3) for i in range(5)]
    res, rec = run(reqs, kv_blocks=64, block_tokens=4, max_num_seqs=2, max_num_batched_tokens=64)
    assert all(len(p) + len(d) <= 2 for p, d in rec.shapes())
    assert max(res.series.batch_seqs) == 2 and all(r.finished for r in res.requests)


def test_series_keeps_every_kth_step_deterministically() -> None:
    res, rec = run([Request("a", 0.0, 4, 20)], kv_blocks=8, block_tokens=4, series_points=4)
    ends = [sum(c for *_, c in rec.calls[: i + 1]) for i in range(len(rec.calls))]
    assert len(rec.calls) == 20 and res.series.stride == 8
    assert res.series.time_s == tuple(ends[i] / 1e6 for i in (0, 8, 16))
    assert res.to_dict()["series"]["every_kth_step"] == 8


def test_goodput_counts_requests_meeting_both_objectives() -> None:
    reqs = [Request("a", 0.0, 8, 3), Request("b", 0.0, 8, 1), Request("c", 0.0, 100, 1)]
    res, _ = run(reqs, kv_blocks=4, block_tokens=4, ttft_slo_s=400e-6, tpot_slo_s=125e-6)
    a, b, _c = res.requests  # a and b share the first step (16 tokens, 72 pairs: 332 cycles)
    assert a.ttft_cycles == b.ttft_cycles == 332 and res.requests[2].rejected
    g = res.to_dict()["goodput"]
    assert g["requests"] == 2 and g["fraction"] == pytest.approx(2 / 3)
    assert g["requests_per_s"] == pytest.approx(2 / res.makespan_s)
    assert res.goodput(300e-6, None)["requests"] == 0 and res.goodput(None, 1e-6)["requests"] == 1  # b: one token


def test_to_dict_is_json_and_csv_parses() -> None:
    trace = poisson_trace(50.0, 30, input_tokens=(8, 64), output_tokens=(1, 16), seed=5)
    trace.append(Request("huge, \"quoted\"", 1.0, 10**6, 1))
    res = simulate_serving(trace, ToyCosts(pj_per_token=2.5, weight_bytes=1000, kv_bytes_per_token=4),
                           ServeConfig(kv_blocks=64, max_context=4096))
    text = json.dumps(res.to_dict(), allow_nan=False)
    assert list(json.loads(text)) == list(res.to_dict())
    rows = list(csv.DictReader(io.StringIO(res.requests_csv())))
    assert len(rows) == 31 and rows[-1]["id"] == "huge, \"quoted\"" and rows[-1]["ttft_s"] == ""
    assert rows[-1]["rejected"].startswith("prompt + output")
    assert float(rows[0]["ttft_s"]) == res.requests[0].ttft_s
    d = res.to_dict()
    assert d["energy_pj_per_output_token"] == pytest.approx(2.5 * res.computed_tokens / d["output_tokens"])
    assert d["dram_bytes"] >= 1000 * d["steps"]


@pytest.mark.parametrize(("config", "message"), [
    (dict(kv_blocks=0), "`ServeConfig.kv_blocks` must be an integer from 1 to 1,000,000,000, not 0"),
    (dict(kv_blocks=8, block_tokens=True), "`ServeConfig.block_tokens` must be an integer from 1 to"),
    (dict(kv_blocks=8, max_num_seqs=300, max_num_batched_tokens=256),
     "`ServeConfig.max_num_batched_tokens` must be at least max_num_seqs (300), not 256"),
    (dict(kv_blocks=8, chunked_prefill="yes"), "`ServeConfig.chunked_prefill` must be true or false, not 'yes'"),
    (dict(kv_blocks=8, ttft_slo_s=0), "`ServeConfig.ttft_slo_s` must be a finite number of seconds above 0"),
    (dict(kv_blocks=8, tpot_slo_s=float("inf")), "`ServeConfig.tpot_slo_s` must be a finite number of seconds"),
    (dict(kv_blocks=8, max_context=1), "`ServeConfig.max_context` must be an integer from 2"),
])
def test_config_errors(config: dict, message: str) -> None:
    with pytest.raises(SpecError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        ServeConfig(**config)


@pytest.mark.parametrize(("args", "message"), [
    (("", 0.0, 1, 1), "`Request.id` must not be empty"),
    (("a", -1.0, 1, 1), "`Request.arrival_s` must be a finite number of seconds from 0"),
    (("a", float("nan"), 1, 1), "`Request.arrival_s` must be a finite number"),
    (("a", 0.0, 0, 1), "`Request.input_tokens` must be an integer from 1 to 10,000,000, not 0"),
    (("a", 0.0, 1, 2.0), "`Request.output_tokens` must be an integer from 1"),
    (("a", 0.0, 4, 1, "", 2), "`Request.prefix_tokens` needs a prefix id"),
])
def test_request_errors(args: tuple, message: str) -> None:
    with pytest.raises(SpecError) as err:
        Request(*args)
    assert str(err.value).startswith(message)


def test_bad_inputs_to_simulate() -> None:
    config = ServeConfig(kv_blocks=8)
    with pytest.raises(SpecError, match=r"`requests\[1\].id` duplicate id 'a' \(first at requests\[0\]\)"):
        simulate_serving([Request("a", 0.0, 1, 1), Request("a", 1.0, 1, 1)], HAND, config)
    with pytest.raises(SpecError, match="`StepCosts.clock_mhz` must be a positive number of MHz, not 0"):
        simulate_serving([Request("a", 0.0, 1, 1)], ToyCosts(clock_mhz=0), config)

    class Zero:
        clock_mhz = 1.0

        def step(self, prefill: object, decode: object) -> StepCost:
            return StepCost(0)

    with pytest.raises(SpecError, match="`StepCost.cycles` must be a positive integer, not 0"):
        simulate_serving([Request("a", 0.0, 1, 1)], Zero(), config)


def test_requests_in_any_order_are_served_by_arrival() -> None:
    reqs = [Request("late", 1.0, 8, 2), Request("early", 0.0, 8, 2)]
    res, _ = run(reqs, kv_blocks=8, block_tokens=4)
    assert [r.request.id for r in res.requests] == ["late", "early"]  # results keep the given order
    assert res.requests[1].first_token_cycle == 216 and res.requests[0].first_token_cycle == 1_000_216


def test_a_thousand_requests_simulate_quickly() -> None:
    trace = poisson_trace(10.0, 1000, input_tokens=(128, 1024), output_tokens=(64, 512), seed=0)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        res = simulate_serving(trace, ToyCosts(), ServeConfig(kv_blocks=600))
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 5.0
    assert res.preemptions > 0 and len(res.finished) == 1000
