"""The model fingerprint: the digest of a small canonical evaluation, the store's model key.

A stored design point may answer a resumed run only if the models that computed it would compute
it again. A hand-bumped version number relied on whoever changed a model remembering to bump it.
Instead the models are identified by what they compute: :func:`canonical_evaluation` runs a fixed
set of cases through ``simulate`` (with energy) and through the design-space batch (mapping search,
area, power), and :func:`model_fingerprint` is the digest of their JSON. A change that moves any of
those numbers (a cycle formula, the memory model, an energy price, the area table, the search) is
a new fingerprint, so a resumed run recomputes every point instead of serving stale ones.

The cases (``docs/dse.md``): a 3×3 convolution, a ReLU and a linear layer on a 4×4 array with small
buffers and a slow DRAM with latency (so tiling, stalls and the latency term all show), in every
bundled dataflow and with ideal memory; 2:4 weights on 2:4 PEs; zero-skipping and zero-gating on
sparse operands; fusible (2-bit and 1-bit bricks) and bit-serial PEs at 4 bits; bitmap, RLE and CSR
storage; and batch points with the per-layer search (two plain, fusible, bit-serial, zero-skipping
and bitmap ones, area priced for each) and one with the fixed rules. A model change that moves none
of these numbers (a feature no case touches) is not seen: grow the cases with the models. It takes
about 0.15 s, once per process.

Examples
--------
>>> fingerprint = model_fingerprint()
>>> len(fingerprint), fingerprint == model_fingerprint() == stable_digest(canonical_evaluation())
(12, True)
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..arch import ArrayConfig, MemorySpec
from ..arch.config import stable_digest
from ..mapping.dataflow import dataflow_names, load_dataflow
from ..workload.graph import LayerGraph
from ..workload.layer import Layer


def _graph() -> LayerGraph:
    g = LayerGraph("canonical", inputs={"x": (3, 10, 10), "t": (12, 24)})
    g.add(Layer("conv", "conv2d", in_shapes=((3, 10, 10),), out=8, kernel=(3, 3)), ["x"])
    g.add(Layer("relu", "eltwise", op="relu", in_shapes=((8, 8, 8),)), ["conv"])
    g.add(Layer("fc", "linear", in_shapes=((12, 24),), out=20), ["t"])
    return g


def canonical_evaluation() -> dict[str, Any]:
    """The canonical runs' results, as JSON-able data (see the module's docstring)."""
    from ..sim import simulate
    from .batch import Batch

    graph = _graph()
    base = ArrayConfig(name="canonical", rows=4, cols=4, dataflows=tuple(dataflow_names()),
                       memory=MemorySpec(ifmap_kib=0.25, filter_kib=0.25, ofmap_kib=0.25,
                                         dram_bytes_per_cycle=2, dram_latency_cycles=3))
    ws = load_dataflow("ws")
    sparse = graph.with_gemm_changes({"weight_density": 0.25, "input_density": 0.5})
    narrow = graph.with_gemm_changes({"input_type": "int4", "weight_type": "int4"})
    runs = {name: simulate(graph, base, load_dataflow(name)) for name in dataflow_names()}
    runs |= {
        "ideal": simulate(graph, base, ws, memory=False),
        "nm": simulate(graph.with_gemm_changes({"weight_structure": "2:4"}),
                       base.with_changes(weight_nm="2:4", dataflows=("ws",)), ws),
        "skip": simulate(sparse, base.with_changes(sparse="skip"), ws),
        "gate": simulate(sparse, base.with_changes(sparse="gate"), load_dataflow("os")),
        "fusible": simulate(narrow, base.with_changes(pe_style="fusible"), ws),
        "fusible-1bit-bricks": simulate(narrow.with_gemm_changes({"input_type": "int1"}),
                                        base.with_changes(pe_style="fusible", fusion_brick_bits=1), ws),
        "bit-serial": simulate(narrow, base.with_changes(pe_style="bit-serial"), ws),
        "formats": simulate(sparse, base.with_changes(weight_format="bitmap", input_format="rle"), ws),
        "csr-is": simulate(sparse, base.with_changes(weight_format="csr"), load_dataflow("is")),
    }
    points: list[dict[str, Any]] = [{"rows": 4}, {"rows": 8, "memory.dram_latency_cycles": 5, "vector_lanes": 2},
              {"pe_style": "fusible", "workload.weight_bits": 4}, {"pe_style": "bit-serial"},
              {"sparse": "skip", "workload.weight_sparsity": 0.25}, {"weight_format": "bitmap",
                                                                    "workload.weight_sparsity": 0.5}]
    objectives = ("total_cycles", "energy_pj", "area_um2")  # area priced for every PE style
    return {"simulate": {name: result.to_dict() for name, result in runs.items()},
            "dse_search": Batch(graph, base, search=True, objectives=objectives).evaluate(points),
            "dse_fixed": Batch(graph, base).evaluate([{"dataflow": "os", "workload.weight_sparsity": 0.5}])}


@cache
def model_fingerprint() -> str:
    """The digest of :func:`canonical_evaluation`: computed once per process, then remembered."""
    return stable_digest(canonical_evaluation())


def canonical_systems() -> dict[str, Any]:
    """The schedule's canonical runs (:func:`system_fingerprint`): the canonical graph with a residual
    branch on systems of 2 and 4 of the canonical arrays (a ring with a global buffer, a mesh with
    hop latency and energy), sequential and overlapped, and two design-space system points."""
    from ..schedule import run_system
    from .batch import Batch
    from .systems import system_of

    graph = LayerGraph("canonical-system", inputs={"x": (4, 8, 8), "t": (12, 24)})
    graph.add(Layer("a", "conv2d", in_shapes=((4, 8, 8),), out=8, kernel=(3, 3), padding=(1, 1, 1, 1)), ["x"])
    graph.add(Layer("b", "conv2d", in_shapes=((8, 8, 8),), out=8, kernel=(3, 3), padding=(1, 1, 1, 1)), ["a"])
    graph.add(Layer("c", "conv2d", in_shapes=((8, 8, 8),), out=8, kernel=(1, 1)), ["a"])
    graph.add(Layer("sum", "eltwise", op="add", in_shapes=((8, 8, 8), (8, 8, 8))), ["b", "c"])
    graph.add(Layer("fc", "linear", in_shapes=((12, 24),), out=20), ["t"])
    base = ArrayConfig(name="canonical", rows=4, cols=4, dataflows=tuple(dataflow_names()),
                       memory=MemorySpec(ifmap_kib=0.5, filter_kib=0.5, ofmap_kib=0.5,
                                         dram_bytes_per_cycle=2, dram_latency_cycles=3))
    from ..cost import load_energy_table

    table = load_energy_table("horowitz45")
    points: list[dict[str, Any]] = [
        {"system.cores": 2, "system.topology": "ring", "system.global_buffer_kib": 4,
         "system.global_buffer_bytes_per_cycle": 3, "system.pj_per_byte_hop": 0.5},
        {"system.cores": 4, "system.topology": "mesh", "system.hop_latency_cycles": 2,
         "system.link_bytes_per_cycle": 1, "system.dram_bytes_per_cycle": 5}]
    runs = {}
    for i, point in enumerate(points):
        system, _ = system_of(base, point, table)
        assert system is not None
        for schedule in ("sequential", "overlap"):
            runs[f"{i}-{schedule}"] = run_system(graph, system, load_dataflow("ws"), schedule=schedule,
                                                 search=True, energy_table=table).to_dict()
    return {"schedules": runs, "dse": Batch(graph, base, search=True).evaluate(points)}


@cache
def system_fingerprint() -> str:
    """The digest of :func:`canonical_systems`, in the store key of a space with system axes only (a
    space without them keeps its keys): a change to the schedule's model recomputes its points."""
    return stable_digest(canonical_systems())


def canonical_llm() -> dict[str, Any]:
    """The LLM models' canonical runs (:func:`llm_fingerprint`): a small GQA model on two cores with a
    global buffer and a slow DRAM, one request shape with W8A8 (a batch of two over two prefill steps), one
    split over two devices, weight-only int4 with an int8 cache on a bf16 datapath, a served Poisson trace
    with preemption, and an LLM design point of each kind."""
    from ..arch.system import Dram, GlobalBuffer, SystemConfig
    from ..llm.cost import CostModel, Link
    from ..llm.model import ModelSpec
    from ..llm.quant import Deployment
    from ..llm.run import run_llm
    from ..serve import ServeConfig, poisson_trace, simulate_serving
    from .llm import LlmPoints, LlmStudy, Serving

    model = ModelSpec(name="canonical", family="llama", hidden=64, layers=2, heads=4, kv_heads=2, ffn=128,
                      vocab=100, max_context=256)
    core = ArrayConfig(name="canonical", rows=8, cols=8, memory=MemorySpec(ifmap_kib=2, filter_kib=2, ofmap_kib=1,
                                                                          dram_bytes_per_cycle=4))
    system = SystemConfig(name="canonical", cores=(core, core), dram=Dram(6, 20, 0.001),
                          global_buffer=GlobalBuffer(kib=16, bytes_per_cycle=8))
    bf16 = core.with_changes(input_bits=16, weight_bits=16, acc_bits=32, datapath="bf16")
    w8a8 = Deployment("int8", "int8", "int8")
    runs = {"w8a8": run_llm(model, system, w8a8, prompt=16, generate=3, batch=2, token_budget=16),
            "tp2": run_llm(model, system, w8a8, prompt=8, generate=2, tp=2, link=Link(1e9, 1e-6)),
            "int4": run_llm(model, SystemConfig.single(bf16), Deployment("int4", "bf16", "int8", group=32),
                            prompt=8, generate=2)}
    costs = CostModel(model, w8a8, system)
    costs.prepare_decode(1, 40)
    trace = poisson_trace(1e5, 5, input_tokens=(8, 24), output_tokens=(2, 12), seed=0)
    served = simulate_serving(trace, costs, ServeConfig(kv_blocks=3, max_num_seqs=4, max_num_batched_tokens=16,
                                                        ttft_slo_s=1e-3, tpot_slo_s=5e-5))
    study = LlmStudy(model, prompt=8, generate=2)
    serving = LlmStudy(model, prompt=8, generate=(2, 3), serving=Serving(rate=100.0, requests=2))
    return {"runs": {name: r.to_dict() for name, r in runs.items()},
            "served": {k: v for k, v in served.to_dict().items() if k != "series"},
            "dse": LlmPoints(system, study).evaluate([{"system.cores": 1, "llm.batch": 2}]),
            "dse_serving": LlmPoints(system, serving).evaluate([{"llm.kv": "int4"}])}


@cache
def llm_fingerprint() -> str:
    """The digest of :func:`canonical_llm`, in the store key of an LLM space: a change to the LLM step
    costs, the serving scheduler or an LLM point's metrics recomputes its points."""
    return stable_digest(canonical_llm())
