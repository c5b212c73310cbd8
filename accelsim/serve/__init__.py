"""LLM serving: a discrete-event, continuous-batching request scheduler over per-step costs.

:func:`simulate_serving` batches a trace of :class:`Request` s step by step (vLLM v1-like: chunked
prefill, paged KV blocks, preemption by recompute, optional prefix caching) and prices each step through
a :class:`StepCosts` model. Traces come from JSONL files (:func:`read_trace`) or a seeded Poisson
process (:func:`poisson_trace`).

Examples
--------
>>> trace = poisson_trace(5.0, 20, input_tokens=(32, 256), output_tokens=(8, 64), seed=1)
>>> res = simulate_serving(trace, ToyCosts(), ServeConfig(kv_blocks=256))
>>> res.to_dict()["requests"]
{'total': 20, 'finished': 20, 'rejected': 0}
"""

from .costs import StepCost, StepCosts, ToyCosts
from .metrics import RequestResult, Series, ServeResult, distribution
from .scheduler import simulate_serving
from .spec import Request, ServeConfig
from .trace import dump_trace, poisson_trace, read_trace

__all__ = ["Request", "RequestResult", "Series", "ServeConfig", "ServeResult", "StepCost", "StepCosts", "ToyCosts",
           "distribution", "dump_trace", "poisson_trace", "read_trace", "simulate_serving"]
