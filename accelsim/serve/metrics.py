"""Results of a serving simulation: per request, aggregated, over time.

Times are kept in integer cycles and turned into seconds (``cycles / (clock_mhz · 10**6)``) only here, so
results are exact and deterministic. Percentiles are ``numpy.percentile(..., method="linear")`` (linear
interpolation between the closest ranks).

Examples
--------
>>> distribution(range(101))
{'mean': 50.0, 'p50': 50.0, 'p90': 90.0, 'p99': 99.0}
>>> distribution([1, 2])["p50"]
1.5
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from .spec import Request, ServeConfig

PERCENTILE_METHOD: Final = "linear"
_PERCENTILES = (50, 90, 99)


def distribution(values: Iterable[float] | np.ndarray) -> dict[str, float | None]:
    """Mean, p50, p90 and p99 of ``values`` (``numpy.percentile``, method "linear"); all None when empty.

    Examples
    --------
    >>> distribution([])
    {'mean': None, 'p50': None, 'p90': None, 'p99': None}
    """
    data = values.astype(np.float64) if isinstance(values, np.ndarray) else np.fromiter(values, dtype=np.float64)
    if data.size == 0:
        return {"mean": None, **{f"p{q}": None for q in _PERCENTILES}}
    points = np.percentile(data, list(_PERCENTILES), method=PERCENTILE_METHOD)
    return {"mean": float(data.mean()), **{f"p{q}": float(v) for q, v in zip(_PERCENTILES, points, strict=True)}}


@dataclass(frozen=True)
class RequestResult:
    """What happened to one request.

    Cycle fields are exact; second fields derive from them. ``arrival_cycle`` is the arrival rounded to the
    nearest cycle; TTFT, TPOT and end-to-end latency are measured from it. A rejected request has only its
    ``rejected`` reason (the time fields are None).

    Parameters
    ----------
    request
        The request as given.
    arrival_cycle, first_token_cycle, finish_cycle
        Arrival, the end of the step that produced the first output token, the end of the step that
        produced the last one.
    preemptions
        How many times the request was preempted (its KV blocks freed, to be recomputed).
    prefix_hit_tokens
        Prompt tokens whose KV blocks were found in the prefix cache, summed over (re)admissions.
    rejected
        Why the request was refused before it ran, or None.
    generated
        Output tokens emitted (``output_tokens`` once finished).
    clock_mhz
        Converts cycles to seconds.

    Examples
    --------
    >>> r = RequestResult(Request("a", 0.0, 8, 3), 0, 1000, 3000, generated=3, clock_mhz=1.0)
    >>> r.ttft_s, r.tpot_s, r.e2e_s
    (0.001, 0.001, 0.003)
    """

    request: Request
    arrival_cycle: int
    first_token_cycle: int | None
    finish_cycle: int | None
    preemptions: int = 0
    prefix_hit_tokens: int = 0
    rejected: str | None = None
    generated: int = 0
    clock_mhz: float = field(default=1000.0, repr=False)

    def _s(self, cycles: int | None) -> float | None:
        return None if cycles is None else cycles / (self.clock_mhz * 1e6)

    @property
    def finished(self) -> bool:
        """The request produced all its output tokens."""
        return self.finish_cycle is not None

    @property
    def first_token_s(self) -> float | None:
        """When the first output token came out, in seconds."""
        return self._s(self.first_token_cycle)

    @property
    def finish_s(self) -> float | None:
        """When the last output token came out, in seconds."""
        return self._s(self.finish_cycle)

    @property
    def ttft_cycles(self) -> int | None:
        """Time to first token in cycles."""
        return None if self.first_token_cycle is None else self.first_token_cycle - self.arrival_cycle

    @property
    def ttft_s(self) -> float | None:
        """Time to first token, in seconds."""
        return self._s(self.ttft_cycles)

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first: ``(finish − first) / (output − 1)``; None for one token."""
        if self.finish_cycle is None or self.first_token_cycle is None or self.request.output_tokens < 2:
            return None
        return (self.finish_cycle - self.first_token_cycle) / (self.request.output_tokens - 1) / (self.clock_mhz * 1e6)

    @property
    def e2e_s(self) -> float | None:
        """End-to-end latency, arrival to last token, in seconds."""
        return None if self.finish_cycle is None else self._s(self.finish_cycle - self.arrival_cycle)

    def meets(self, ttft_slo_s: float | None, tpot_slo_s: float | None) -> bool:
        """Finished within both objectives (None: no objective; a one-token request has no TPOT to miss).

        Examples
        --------
        >>> r = RequestResult(Request("a", 0.0, 8, 3), 0, 1000, 3000, clock_mhz=1.0)
        >>> r.meets(0.001, None), r.meets(0.0005, None)
        (True, False)
        """
        if not self.finished:
            return False
        ttft, tpot = self.ttft_s, self.tpot_s
        return ((ttft_slo_s is None or (ttft is not None and ttft <= ttft_slo_s))
                and (tpot_slo_s is None or tpot is None or tpot <= tpot_slo_s))


CSV_COLUMNS = ("id", "arrival_s", "input_tokens", "output_tokens", "prefix", "prefix_tokens", "first_token_s",
               "finish_s", "ttft_s", "tpot_s", "e2e_s", "preemptions", "prefix_hit_tokens", "rejected")


@dataclass(frozen=True)
class Series:
    """Per-step samples over time, every ``stride``-th step (``stride`` a power of two, deterministic).

    ``time_s`` is each sampled step's end; ``kv_blocks_used`` the blocks referenced during the step (cached
    blocks no sequence holds are free and not counted); ``batch_seqs`` and ``batch_tokens`` the step's
    sequences and tokens; ``waiting`` the requests arrived but not running.

    Examples
    --------
    >>> Series(1, (0.5,), (3,), (2,), (40,), (0,)).to_dict()["kv_blocks_used"]
    [3]
    """

    stride: int
    time_s: tuple[float, ...]
    kv_blocks_used: tuple[int, ...]
    batch_seqs: tuple[int, ...]
    batch_tokens: tuple[int, ...]
    waiting: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready columns.

        Examples
        --------
        >>> list(Series(2, (), (), (), (), ()).to_dict())
        ['every_kth_step', 'time_s', 'kv_blocks_used', 'batch_seqs', 'batch_tokens', 'waiting']
        """
        return {"every_kth_step": self.stride, "time_s": list(self.time_s),
                "kv_blocks_used": list(self.kv_blocks_used), "batch_seqs": list(self.batch_seqs),
                "batch_tokens": list(self.batch_tokens), "waiting": list(self.waiting)}


@dataclass(frozen=True, eq=False)
class ServeResult:
    """The outcome of :func:`accelsim.serve.simulate_serving`.

    Parameters
    ----------
    config, clock_mhz
        What was simulated, and the clock that turns cycles into seconds.
    requests
        One :class:`RequestResult` per request, in the order given.
    steps, end_cycle
        Steps run and the end of the last one.
    energy_pj, dram_bytes
        Totals over all steps (recomputation after preemption included).
    computed_tokens
        Tokens computed over all steps (prefill chunks, recomputation and decodes).
    peak_kv_blocks
        Most KV blocks referenced in any step (never above ``config.kv_blocks``).
    itl_cycles
        Every inter-token gap of every request, in cycles (int64, in the order the tokens came out).
    series
        The per-step time series.

    Examples
    --------
    >>> from accelsim.serve import ToyCosts, simulate_serving
    >>> res = simulate_serving([Request("a", 0.0, 16, 4)], ToyCosts(), ServeConfig(kv_blocks=4))
    >>> res.requests[0].finished, res.output_tokens, res.steps
    (True, 4, 4)
    """

    config: ServeConfig
    clock_mhz: float
    requests: tuple[RequestResult, ...]
    steps: int
    end_cycle: int
    energy_pj: float
    dram_bytes: int
    computed_tokens: int
    peak_kv_blocks: int
    itl_cycles: np.ndarray
    series: Series

    @property
    def finished(self) -> list[RequestResult]:
        """The requests that produced all their tokens."""
        return [r for r in self.requests if r.finished]

    @property
    def rejected(self) -> list[RequestResult]:
        """The requests refused before running."""
        return [r for r in self.requests if r.rejected is not None]

    @property
    def output_tokens(self) -> int:
        """Output tokens of the finished requests."""
        return sum(r.request.output_tokens for r in self.finished)

    @property
    def preemptions(self) -> int:
        """Preemptions over all requests."""
        return sum(r.preemptions for r in self.requests)

    @property
    def makespan_s(self) -> float:
        """From the first admitted request's arrival to the end of the last step, in seconds (0 if none ran)."""
        arrivals = [r.arrival_cycle for r in self.requests if r.rejected is None]
        return (self.end_cycle - min(arrivals)) / (self.clock_mhz * 1e6) if arrivals else 0.0

    def _per_s(self, amount: float) -> float | None:
        span = self.makespan_s
        return amount / span if span > 0 else None

    def goodput(self, ttft_slo_s: float | None, tpot_slo_s: float | None) -> dict[str, Any]:
        """Requests meeting both objectives: their count, their rate over the makespan, their fraction of all.

        Rejected requests count against the fraction.

        Examples
        --------
        >>> from accelsim.serve import ToyCosts, simulate_serving
        >>> res = simulate_serving([Request("a", 0.0, 16, 4)], ToyCosts(), ServeConfig(kv_blocks=4))
        >>> res.goodput(None, 0.003)["fraction"], res.goodput(0.001, None)["fraction"]
        (1.0, 0.0)
        """
        good = sum(r.meets(ttft_slo_s, tpot_slo_s) for r in self.requests)
        return {"ttft_slo_s": ttft_slo_s, "tpot_slo_s": tpot_slo_s, "requests": good,
                "requests_per_s": self._per_s(good),
                "fraction": good / len(self.requests) if self.requests else None}

    def to_dict(self) -> dict[str, Any]:
        """The aggregates, JSON-ready, with a fixed key order (per-request rows are in :meth:`requests_csv`).

        Examples
        --------
        >>> from accelsim.serve import ToyCosts, simulate_serving
        >>> res = simulate_serving([Request("a", 0.0, 16, 4)], ToyCosts(), ServeConfig(kv_blocks=4))
        >>> d = res.to_dict()
        >>> d["requests"], d["ttft_s"]["p50"]
        ({'total': 1, 'finished': 1, 'rejected': 0}, 0.00232136)
        """
        hz = self.clock_mhz * 1e6
        finished = self.finished
        out_tokens = self.output_tokens
        in_tokens = sum(r.request.input_tokens for r in finished)
        ttft = [r.ttft_s for r in finished]
        tpot = [r.tpot_s for r in finished if r.tpot_s is not None]
        return {
            "config": self.config.to_dict(),
            "clock_mhz": self.clock_mhz,
            "requests": {"total": len(self.requests), "finished": len(finished), "rejected": len(self.rejected)},
            "steps": self.steps,
            "makespan_s": self.makespan_s,
            "percentile_method": PERCENTILE_METHOD,
            "ttft_s": distribution(t for t in ttft if t is not None),
            "tpot_s": distribution(tpot),
            "itl_s": distribution(self.itl_cycles / hz),
            "e2e_s": distribution(r.e2e_s for r in finished if r.e2e_s is not None),
            "output_tokens": out_tokens,
            "output_tokens_per_s": self._per_s(out_tokens),
            "total_tokens_per_s": self._per_s(out_tokens + in_tokens),
            "requests_per_s": self._per_s(len(finished)),
            "computed_tokens": self.computed_tokens,
            "energy_pj": self.energy_pj,
            "energy_pj_per_output_token": self.energy_pj / out_tokens if out_tokens else None,
            "dram_bytes": self.dram_bytes,
            "dram_bytes_per_output_token": self.dram_bytes / out_tokens if out_tokens else None,
            "preemptions": self.preemptions,
            "prefix_hit_tokens": sum(r.prefix_hit_tokens for r in self.requests),
            "kv_blocks": {"capacity": self.config.kv_blocks, "peak": self.peak_kv_blocks},
            "goodput": self.goodput(self.config.ttft_slo_s, self.config.tpot_slo_s),
            "series": self.series.to_dict(),
        }

    def requests_csv(self) -> str:
        """One CSV row per request (header first; empty cells where a value does not apply).

        Examples
        --------
        >>> from accelsim.serve import ToyCosts, simulate_serving
        >>> res = simulate_serving([Request("a", 0.0, 16, 4)], ToyCosts(), ServeConfig(kv_blocks=4))
        >>> print(res.requests_csv().splitlines()[1])
        a,0.0,16,4,,0,0.00232136,0.0083819,0.00232136,0.00202018,0.0083819,0,0,
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in self.requests:
            q = r.request
            row = (q.id, q.arrival_s, q.input_tokens, q.output_tokens, q.prefix, q.prefix_tokens, r.first_token_s,
                   r.finish_s, r.ttft_s, r.tpot_s, r.e2e_s, r.preemptions, r.prefix_hit_tokens, r.rejected)
            writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
        return buffer.getvalue()
