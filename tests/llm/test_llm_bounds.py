"""Properties of LLM step costs (issue 19, docs/llm.md): closed forms equal simulation, physics bounds every number."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.arch import resolve_arch
from accelsim.arch.system import Dram, SystemConfig, resolve_system
from accelsim.errors import SpecError
from accelsim.llm.cost import CostModel, Link, simulate_step
from accelsim.llm.curve import Curve
from accelsim.llm.graph import KV_BLOCK, Step, bucket, padded, step_ops
from accelsim.llm.model import Mla, ModelSpec, Moe
from accelsim.llm.quant import Deployment
from accelsim.llm.run import kv_bytes_per_token, run_llm, weight_bytes
from accelsim.serve import Request, ServeConfig, simulate_serving

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

INT = Deployment("int8", "int8", "int8")


def tiny(**changes) -> ModelSpec:
    base = dict(name="tiny", family="llama", hidden=128, layers=2, heads=4, kv_heads=2, ffn=256, vocab=500,
                max_context=8192)
    return ModelSpec(**(base | changes))


MODELS = {
    "gqa": tiny(),
    "mqa": tiny(kv_heads=1),
    "sliding": tiny(sliding_window=64, sliding_every=2, family="gemma2", tied_embeddings=True),
    "moe": tiny(family="mixtral", moe=Moe(experts=4, top_k=2, ffn=96)),
    "mla": tiny(family="deepseek_v2", heads=4, kv_heads=4, moe=Moe(experts=4, top_k=2, ffn=64, shared=1,
                shared_ffn=64, first_dense=1), mla=Mla(kv_lora_rank=32, q_lora_rank=0, nope_dim=16, rope_dim=8,
                                                       v_dim=16)),
}


def quad(dram: float = 24.0) -> SystemConfig:
    return SystemConfig(name="quad", cores=(resolve_arch("sa8"),) * 4, dram=Dram(bytes_per_cycle=dram))


SYSTEMS = {"sa8": lambda: SystemConfig.single(resolve_arch("sa8")), "quad": quad}


@PROPERTY
@given(model=st.sampled_from(sorted(MODELS)), system=st.sampled_from(sorted(SYSTEMS)),
       decode=st.lists(st.integers(0, 3000), max_size=3),
       prefill=st.lists(st.tuples(st.integers(1, 200), st.integers(0, 400)), max_size=2),
       kv=st.sampled_from(["int8", "int4"]))
def test_a_step_costs_what_simulating_it_costs(model, system, decode, prefill, kv):
    """The memoised, closed-form step cost equals the step scheduled as one workload (every operator
    instance a layer), for any mix of decoding and prefilling sequences."""
    step = Step(decode=tuple(decode) or (7,), prefill=tuple(prefill))
    dep = replace(INT, kv=kv)
    costs = CostModel(MODELS[model], dep, SYSTEMS[system]())
    assert costs.step_cost(step) == simulate_step(MODELS[model], dep, SYSTEMS[system](), step)


@PROPERTY
@given(model=st.sampled_from(sorted(MODELS)), system=st.sampled_from(sorted(SYSTEMS)),
       lengths=st.lists(st.integers(1, 6000), min_size=3, max_size=8))
def test_the_decode_curve_is_exact_at_every_length(model, system, lengths):
    """After the curve is prepared over a range, its closed form equals direct evaluation everywhere."""
    costs = CostModel(MODELS[model], INT, SYSTEMS[system]())
    costs.prepare_decode(0, 6000)
    fresh = CostModel(MODELS[model], INT, SYSTEMS[system]())
    for t in lengths:
        blocks = -(-(t + 1) // KV_BLOCK)
        assert costs.decode_curve(blocks) == fresh.decode_curve.evaluate(blocks)
        assert costs.decode(t) == simulate_step(MODELS[model], INT, SYSTEMS[system](), Step(decode=(t,)))


def test_the_curve_saves_evaluations_where_the_cost_is_periodic():
    costs = CostModel(MODELS["gqa"], INT, SystemConfig.single(resolve_arch("sa8")))
    costs.prepare_decode(0, 2047 * KV_BLOCK)
    assert costs.decode_curve.segments and costs.decode_curve.evaluations < 400  # of 2,048 lengths


def test_curve_finds_the_period_and_cuts_where_the_form_stops():
    def f(n: int) -> tuple[int]:
        return (5 * n + (-(-n // 8)) if n < 700 else 9 * n,)

    c = Curve(f)
    c.prepare(1, 3000)
    assert all(c(n) == f(n) for n in range(1, 3001))
    assert c.evaluations < 300


@PROPERTY
@given(model=st.sampled_from(sorted(MODELS)), tokens=st.integers(1, 100_000),
       bits=st.sampled_from(["int8", "int4", "fp16"]))
def test_kv_bytes_follow_the_formula(model, tokens, bits):
    m = MODELS[model]
    dep = replace(INT, kv=bits, activations="fp16" if bits == "fp16" else "int8")
    per_token = kv_bytes_per_token(m, dep)
    width = 8 if bits == "int8" else 4 if bits == "int4" else 16
    if m.mla is None:
        values = 2 * m.layers * m.kv_heads * m.head_dim * width // 8
        scales = 2 * m.layers * m.kv_heads * 2 if bits.startswith("int") else 0
    else:
        values = m.layers * (m.mla.kv_lora_rank + m.mla.rope_dim) * width // 8
        scales = m.layers * 2 if bits.startswith("int") else 0
    assert per_token == values + scales
    assert per_token * tokens == kv_bytes_per_token(m, dep) * tokens


@PROPERTY
@given(model=st.sampled_from(sorted(MODELS)), system=st.sampled_from(sorted(SYSTEMS)),
       cached=st.integers(0, 4000), batch=st.integers(1, 6))
def test_a_decode_step_obeys_the_roofline(model, system, cached, batch):
    """Never faster than its DRAM bytes at the DRAM bandwidth, nor its MACs at every PE every cycle; its
    bytes are at least the weights it multiplies once (compulsory traffic)."""
    sys_ = SYSTEMS[system]()
    m = MODELS[model]
    cost = CostModel(m, INT, sys_).decode(cached, batch)
    assert cost.cycles >= cost.dram_bytes / sys_.dram.bytes_per_cycle
    assert cost.cycles >= cost.macs / sum(c.pes for c in sys_.cores)
    assert cost.dram_bytes >= m.active_params - m.vocab * m.hidden


@PROPERTY
@given(cached=st.integers(0, 512), batch=st.integers(1, 4))
def test_fewer_weight_bits_speed_decode_up_by_at_most_the_byte_ratio(cached, batch):
    """int4 weights move fewer bytes; the step can speed up by no more than its DRAM bytes shrink."""
    system = SystemConfig.single(resolve_arch("sa8"))
    m = MODELS["gqa"]
    full = CostModel(m, INT, system).decode(cached, batch)
    half = CostModel(m, replace(INT, weights="int4"), system).decode(cached, batch)
    assert half.dram_bytes < full.dram_bytes
    assert Fraction(full.cycles, half.cycles) <= Fraction(full.dram_bytes, half.dram_bytes) * Fraction(101, 100)


def test_2_4_weights_speed_decode_up_by_at_most_the_byte_ratio():
    """Memory-bound (1 B/cycle), 2:4 decode gains at most what its DRAM bytes shrink (values + 2-bit indices),
    not the 2x its PEs could; compute-bound, at most the 2x of skipping half the reduction."""
    m = tiny(hidden=256, ffn=512)
    for dram, bound in ((1.0, None), (64.0, Fraction(2))):
        nm = resolve_arch("sa8").with_changes(weight_nm="2:4", dataflows=("ws",))
        nm = nm.with_changes(memory=replace(nm.memory, dram_bytes_per_cycle=dram))
        dense = CostModel(m, INT, SystemConfig.single(nm)).decode(64)
        sparse = CostModel(m, replace(INT, weight_nm="2:4"), SystemConfig.single(nm)).decode(64)
        ratio = Fraction(dense.dram_bytes, sparse.dram_bytes)
        assert 1 < ratio < 2
        assert 1 < Fraction(dense.cycles, sparse.cycles) <= (bound or ratio)


def test_more_cache_never_speeds_a_single_array_decode_up():
    costs = CostModel(MODELS["gqa"], INT, SystemConfig.single(resolve_arch("sa8")))
    cycles = [costs.decode(t).cycles for t in range(0, 3000, 37)]
    assert cycles == sorted(cycles)


def test_gqa_and_mla_shrink_kv_reads():
    system = SystemConfig.single(resolve_arch("sa8"))
    mha = CostModel(tiny(kv_heads=4), INT, system).decode(2000)
    gqa = CostModel(tiny(kv_heads=2), INT, system).decode(2000)
    mqa = CostModel(tiny(kv_heads=1), INT, system).decode(2000)
    assert mha.dram_bytes > gqa.dram_bytes > mqa.dram_bytes


def test_sliding_windows_stop_kv_reads_growing():
    system = SystemConfig.single(resolve_arch("sa8"))
    costs = CostModel(tiny(sliding_window=64, family="mistral"), INT, system)
    assert costs.decode(1000) == costs.decode(3000)  # every layer reads its last 64 tokens only


def test_moe_decode_reads_only_the_routed_experts():
    system = SystemConfig.single(resolve_arch("sa8"))
    m = MODELS["moe"]
    one = CostModel(m, INT, system).decode(10)  # one token, top 2 of 4 experts
    dense_like = CostModel(replace(m, moe=Moe(experts=4, top_k=4, ffn=96)), INT, system).decode(10)
    assert one.dram_bytes < dense_like.dram_bytes
    # a batch that touches every expert reads every expert once
    assert CostModel(m, INT, system).decode(10, batch=2).dram_bytes > one.dram_bytes


def test_prefill_counts_match_accelforge_exactly():
    """AccelForge's GPT-3-175B layer (d = 12288): MACs plus one op per softmax element."""
    d = 12288
    m = ModelSpec(name="gpt3-layer", family="gpt2", hidden=d, layers=1, heads=96, kv_heads=96, ffn=4 * d,
                  vocab=50257, gated_ffn=False, norm="layernorm", tied_embeddings=True, max_context=4096)

    def ops(step: Step) -> int:
        out = step_ops(m, Deployment(), step, pad=False)
        return sum(o.layer.macs * o.count + (o.layer.vector_ops // 5 * o.count if o.layer.name == "softmax" else 0)
                   for o in out if not o.layer.name.startswith("lm_head"))

    assert ops(Step(prefill=((2048, 0),))) == 2048 * 12 * d**2 + 2 * 2048**2 * d + 96 * 2048**2 == 3_814_333_612_032
    assert ops(Step(decode=(2046,))) == 1_862_442_912  # attends 2,047 tokens: the 2,046 cached and itself


def test_buckets_and_blocks_only_round_up():
    for t in range(1, 5000):
        assert t <= bucket(t) < 2 * t + 128 and t <= padded(t) < t + KV_BLOCK


def test_run_llm_adds_up_its_steps():
    m = MODELS["gqa"]
    system = SystemConfig.single(resolve_arch("sa8"))
    r = run_llm(m, system, INT, prompt=300, generate=20, token_budget=128)
    costs = CostModel(m, INT, system)
    prefill = [costs.step_cost(Step(prefill=((c, p),))) for c, p in ((128, 0), (128, 128), (44, 256))]
    assert r.prefill_steps == 3 and r.ttft_cycles == (sum(c.cycles for c in prefill),)
    assert list(r.decode_cycles) == [costs.decode(300 + i).cycles for i in range(19)]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_one_request_served_alone_reproduces_llm(model):
    m = MODELS[model]
    system = quad()
    r = run_llm(m, system, INT, prompt=200, generate=12, token_budget=64)
    costs = CostModel(m, INT, system)
    served = simulate_serving([Request("a", 0.0, 200, 12)], costs,
                              ServeConfig(kv_blocks=64, max_num_seqs=8, max_num_batched_tokens=64))
    req = served.requests[0]
    assert req.ttft_cycles == r.ttft_cycles[0]
    assert served.end_cycle == r.e2e_cycles


def test_hostile_requests_are_one_line_errors():
    m = MODELS["gqa"]
    system = SystemConfig.single(resolve_arch("sa8"))
    with pytest.raises(SpecError, match="context window"):
        run_llm(m, system, INT, prompt=8000, generate=500)
    with pytest.raises(SpecError, match="prompt must be"):
        run_llm(m, system, INT, prompt=0, generate=5)
    with pytest.raises(SpecError, match="does not divide over 3 devices"):
        CostModel(m, INT, system, tp=3, link=Link(300e9, 2e-6))
    with pytest.raises(SpecError, match="need the link"):
        CostModel(m, INT, system, tp=2)
    small = replace(system, dram=Dram(bytes_per_cycle=16, capacity_gib=0.0001))
    with pytest.raises(SpecError, match="does not fit"):
        run_llm(tiny(hidden=1024, ffn=4096, vocab=32000), small, INT, prompt=10, generate=10)


def test_weights_bytes_count_scales_and_nm_indices():
    m = MODELS["gqa"]
    assert weight_bytes(m, Deployment("fp16")) == 2 * m.params
    assert weight_bytes(m, Deployment("int4", "fp16", group=128)) == m.params // 2 + -(-m.params // 128) * 2
    nm = weight_bytes(m, Deployment("int8", "int8", weight_nm="2:4"))
    assert nm == m.params // 2 + m.params // 2 * 2 // 8  # half the values, 2-bit indices


def test_tpuv4_preset_serves_llama_8b():
    system = resolve_system("tpuv4-tc")
    assert system.dram.capacity_gib


def test_pipeline_stages_add_capacity_and_point_to_point_sends_not_speed():
    m = MODELS["gqa"]
    system = quad()
    link = Link(bytes_per_s=100e9, latency_s=1e-6)
    one = CostModel(m, INT, system)
    two = CostModel(m, INT, system, pp=2, link=link)
    step = Step(decode=(100,))
    hop = two._cycles(1e-6 + 1 * m.hidden / 100e9)  # one token's activations from stage 1 to stage 2
    assert two.step_cost(step).cycles == one.step_cost(step).cycles + hop
    assert weight_bytes(m, INT, pp=2) == -(-m.params // 2)
    assert kv_bytes_per_token(m, INT, pp=2) * 2 == kv_bytes_per_token(m, INT)
    with pytest.raises(SpecError, match="cannot fill 3 pipeline stages"):
        CostModel(m, INT, system, pp=3, link=link)


def test_prefill_attention_is_memoised_by_what_it_reads():
    """Chunks of 65 and 66 tokens after 3,000 share a bucket (80) and their context's blocks, but a 64-token
    window reaches 128 keys for one and 129 (two K/V tiles) for the other: a memo keyed on (bucket, context
    blocks) returned the first's cost for both."""
    m = MODELS["sliding"]
    costs = CostModel(m, INT, quad())
    first = costs.prefill_attention(65, 3000)
    second = costs.prefill_attention(66, 3000)
    assert second == CostModel(m, INT, quad()).prefill_attention(66, 3000) != first


def test_a_fifo_is_not_read_as_a_config(tmp_path):
    import os

    from accelsim.llm.hf import load_model

    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a regular file"):
        load_model(str(fifo))  # blocked until something wrote to it


def test_roofline_figures_stay_physical():
    """Ideal memory's only roof is the compute peak (it reported 117% of a DRAM roof it did not have); a phase
    without steps has no intensity or bound (it printed inf); what fits never exceeds the context window."""
    system = replace(quad(), dram=Dram(bytes_per_cycle=24.0, capacity_gib=64))
    m = MODELS["gqa"]
    ideal = run_llm(m, system, INT, prompt=64, generate=8, memory=False).to_dict()
    for phase in ("prefill", "decode"):
        assert ideal[phase]["bound"] == "compute" and 0 < ideal[phase]["fraction_of_roofline"] <= 1
    one = run_llm(m, system, INT, prompt=64, generate=1).to_dict()
    assert one["decode"]["bound"] is None and one["decode"]["intensity_macs_per_byte"] is None
    assert one["max_context_at_batch"] <= m.max_context


def test_2_4_weights_need_n_m_pes():
    with pytest.raises(SpecError, match="multiply them dense"):
        CostModel(MODELS["gqa"], replace(INT, weight_nm="2:4"), quad())
