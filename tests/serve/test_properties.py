"""Hypothesis properties of the scheduler over random traces, configurations and KV capacities."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.serve import Request, ServeConfig, ToyCosts, dump_trace, poisson_trace, simulate_serving

from .conftest import Recorder


@st.composite
def toy_costs(draw: st.DrawFn) -> ToyCosts:
    return ToyCosts(clock_mhz=1.0, base=draw(st.integers(1, 500)), per_token=draw(st.integers(0, 20)),
                    per_attended=draw(st.integers(0, 3)), pj_per_token=1.0, weight_bytes=draw(st.integers(0, 9)))


@st.composite
def configs(draw: st.DrawFn, kv_blocks: int | None = None) -> ServeConfig:
    max_seqs = draw(st.integers(1, 6))
    return ServeConfig(kv_blocks=kv_blocks or draw(st.integers(1, 40)), max_num_seqs=max_seqs,
                       max_num_batched_tokens=draw(st.integers(max_seqs, 64)), block_tokens=draw(st.integers(1, 8)),
                       chunked_prefill=draw(st.booleans()), prefix_caching=draw(st.booleans()),
                       max_context=draw(st.none() | st.integers(2, 120)), series_points=10**6)


@st.composite
def traces(draw: st.DrawFn, max_requests: int = 10) -> list[Request]:
    reqs, t = [], 0
    for i in range(draw(st.integers(1, max_requests))):
        t += draw(st.integers(0, 3000))  # microseconds: the toy clock is 1 MHz
        prompt, output = draw(st.integers(1, 60)), draw(st.integers(1, 30))
        prefix = draw(st.sampled_from(["", "p", "q"]))
        reqs.append(Request(str(i), t / 1e6, prompt, output, prefix, draw(st.integers(0, prompt)) if prefix else 0))
    return reqs


def must_reject(r: Request, c: ServeConfig) -> bool:
    return ((c.max_context is not None and r.input_tokens + r.output_tokens > c.max_context)
            or math.ceil((r.input_tokens + r.output_tokens - 1) / c.block_tokens) > c.kv_blocks
            or (not c.chunked_prefill and r.input_tokens > c.max_num_batched_tokens))


def alone_prefill_cycles(r: Request, costs: ToyCosts, c: ServeConfig) -> int:
    """The least a prompt can cost on an idle device: the fewest chunks, the largest possible prefix hit."""
    hit = 0
    if c.prefix_caching and r.prefix:
        hit = min(r.prefix_tokens // c.block_tokens, (r.input_tokens - 1) // c.block_tokens) * c.block_tokens
    todo = r.input_tokens - hit
    pairs = sum(range(hit + 1, r.input_tokens + 1))
    return (math.ceil(todo / c.max_num_batched_tokens) * costs.base + costs.per_token * todo
            + costs.per_attended * pairs)


@settings(max_examples=400)
@given(traces(), configs(), toy_costs())
def test_invariants(reqs: list[Request], config: ServeConfig, costs: ToyCosts) -> None:
    rec = Recorder(costs)
    res = simulate_serving(reqs, rec, config)
    bt = config.block_tokens

    # every request is accounted for exactly once: finished with all its tokens, or rejected (and why)
    assert [r.request for r in res.requests] == reqs
    for r in res.requests:
        assert r.finished != (r.rejected is not None)
        assert (r.rejected is not None) == must_reject(r.request, config)
        if r.finished:
            assert r.generated == r.request.output_tokens
            assert r.first_token_cycle is not None and r.finish_cycle is not None
            assert r.arrival_cycle < r.first_token_cycle <= r.finish_cycle
            assert r.ttft_cycles is not None and r.ttft_cycles >= alone_prefill_cycles(r.request, costs, config)
            assert r.prefix_hit_tokens <= (1 + r.preemptions) * r.request.prefix_tokens
        else:
            assert r.first_token_cycle is None and r.finish_cycle is None and r.generated == 0
    finished = res.finished
    assert len(res.itl_cycles) == sum(r.request.output_tokens - 1 for r in finished)
    assert int(res.itl_cycles.sum()) == sum(r.finish_cycle - r.first_token_cycle for r in finished)  # type: ignore[operator]
    assert (res.itl_cycles > 0).all()

    # time only moves forward, by exactly the priced steps (plus idle jumps)
    steps = [c for *_, c in rec.calls]
    assert res.steps == len(steps) == len(res.series.time_s) and res.series.stride == 1
    ends = [round(t * 1e6) for t in res.series.time_s]  # each step's end, in cycles
    assert all(b - a >= step for a, b, step in zip([0, *ends], ends, steps, strict=False))  # idle jumps aside
    assert res.end_cycle == (ends[-1] if ends else 0) >= sum(steps)
    assert res.energy_pj == res.computed_tokens == sum(sum(n for n, _ in p) + len(d) for p, d, _ in rec.calls)

    # batches stay within their limits, KV blocks within capacity
    for (prefill, decode, _), used in zip(rec.calls, res.series.kv_blocks_used, strict=True):
        assert 1 <= len(prefill) + len(decode) <= config.max_num_seqs
        assert sum(n for n, _ in prefill) + len(decode) <= config.max_num_batched_tokens
        assert used <= config.kv_blocks
        if not config.prefix_caching:  # the blocks the step's sequences need, counted independently
            need = sum(-(-(n + m) // bt) for n, m in prefill) + sum(-(-(kv + 1) // bt) for kv in decode)
            assert need <= used
    assert res.peak_kv_blocks == max(res.series.kv_blocks_used, default=0) <= config.kv_blocks

    # the same inputs give the same results
    again = simulate_serving(reqs, costs, config)
    assert again.to_dict() == res.to_dict() and again.requests_csv() == res.requests_csv()


@settings(max_examples=200)
@given(st.integers(1, 60), st.integers(1, 30), st.integers(0, 10**6), configs(kv_blocks=10**4), toy_costs())
def test_one_request_alone(prompt: int, output: int, arrival_us: int, config: ServeConfig, costs: ToyCosts) -> None:
    req = Request("solo", arrival_us / 1e6, prompt, output)
    rec = Recorder(costs)
    res = simulate_serving([req], rec, config)
    r = res.requests[0]
    if must_reject(req, config):
        assert r.rejected and not rec.calls
        return
    budget = config.max_num_batched_tokens
    chunks = [(min(budget, prompt - done), done) for done in range(0, prompt, budget)]
    assert rec.shapes() == [([c], []) for c in chunks] + [([], [prompt + i]) for i in range(output - 1)]
    prefill_steps = [c for p, _, c in rec.calls if p]
    decode_steps = [c for p, _, c in rec.calls if not p]
    assert r.ttft_cycles == sum(prefill_steps) == alone_prefill_cycles(req, costs, config)
    assert r.arrival_cycle == arrival_us and r.preemptions == 0
    if output > 1:
        assert r.tpot_s == (sum(decode_steps) / (output - 1)) / 1e6
        assert res.itl_cycles.tolist() == decode_steps
    else:
        assert r.tpot_s is None


@settings(max_examples=100)
@given(traces(max_requests=6), configs(), toy_costs(), st.integers(2, 8))
def test_series_keeps_every_kth_step(reqs: list[Request], config: ServeConfig, costs: ToyCosts, points: int) -> None:
    full = simulate_serving(reqs, costs, config).series
    small = simulate_serving(reqs, costs, ServeConfig(**(config.to_dict() | {"series_points": points}))).series
    k = small.stride
    assert k & (k - 1) == 0 and len(small.time_s) <= points
    assert small.time_s == full.time_s[::k] and small.kv_blocks_used == full.kv_blocks_used[::k]
    assert small.batch_seqs == full.batch_seqs[::k] and small.waiting == full.waiting[::k]


@settings(max_examples=20)
@given(st.integers(0, 2**32), st.floats(1.0, 500.0), configs(kv_blocks=200))
def test_same_seed_same_results(seed: int, rate: float, config: ServeConfig) -> None:
    def once() -> tuple[str, dict]:
        trace = poisson_trace(rate, 40, input_tokens=(1, 60), output_tokens=(1, 30), seed=seed)
        return dump_trace(trace), simulate_serving(trace, ToyCosts(), config).to_dict()

    assert once() == once()


@settings(max_examples=100)
@given(traces(), configs(), toy_costs())
def test_prefix_caching_changes_speed_not_outcomes(reqs: list[Request], config: ServeConfig,
                                                   costs: ToyCosts) -> None:
    on = simulate_serving(reqs, costs, ServeConfig(**(config.to_dict() | {"prefix_caching": True})))
    off = simulate_serving(reqs, costs, ServeConfig(**(config.to_dict() | {"prefix_caching": False})))
    assert [(r.finished, r.generated, r.rejected) for r in on.requests] == \
        [(r.finished, r.generated, r.rejected) for r in off.requests]
    assert all(r.prefix_hit_tokens == 0 for r in off.requests)
