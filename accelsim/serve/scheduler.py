"""`simulate_serving`: a discrete-event, continuous-batching LLM server (vLLM v1-like) over step costs.

The server runs in steps. Each step batches some prefill chunks and some one-token decodes, asks the cost
model what the batch costs (:class:`~accelsim.serve.costs.StepCosts`), and advances time by that many
cycles. Time is an integer cycle count throughout; seconds appear only in the results.

Sequences and tokens
    A request of ``P`` prompt and ``O`` output tokens is prefilled (``P`` tokens, in one or more chunks);
    the step holding its last chunk emits output token 1. Each later step it is in decodes one token: it
    feeds the last emitted token (KV length before the step: ``P + generated − 1``) and emits the next.
    It finishes when it has emitted ``O`` tokens, having cached ``P + O − 1`` tokens at most.

KV blocks (paged)
    The cache holds ``config.kv_blocks`` blocks of ``block_tokens`` tokens. A sequence holds
    ``ceil(cached / block_tokens)`` blocks; a decode allocates one when it crosses a block boundary, a
    chunk allocates what its tokens need. Blocks are freed when the sequence finishes or is preempted.

Each step, in order
    1. Arrivals: requests whose arrival (rounded to the nearest cycle) is at or before now join the
       waiting queue (FCFS by arrival, ties in the order given).
    2. Decodes: each running sequence past its prefill, oldest arrival first, gets one token of the
       step's budget (``max_num_batched_tokens``) and, at a block boundary, a new block.
    3. Chunks: each running sequence still prefilling, oldest first, gets ``min(tokens left, budget left)``
       tokens and their blocks.
    4. Admission, only if nothing was preempted this step: the head of the waiting queue is admitted while
       fewer than ``max_num_seqs`` run, budget is left and free blocks cover its first chunk (its whole
       remaining prompt, or the budget left if it is longer and ``chunked_prefill`` is on; without chunked
       prefill a prompt that does not fit the budget left waits, head of line, for the next step). The
       first waiting request that does not fit stops admission (strict FCFS).
    5. The step's cost is ``costs.step(prefill chunks, decode KV lengths)``; time advances by its cycles;
       finished sequences free their blocks. With nothing running or waiting, time jumps to the next
       arrival.

Preemption (by recompute)
    When step 2 or 3 needs a block and none is free, the running sequence that arrived last is preempted:
    all its blocks are freed, anything it was given this step is taken back, and it returns to the head
    of the waiting queue. Its emitted tokens are kept; when readmitted it prefills ``P + generated``
    tokens (the prompt and its output so far) and that prefill's last chunk emits its next token.
    Preemption repeats until the block fits or the needing sequence is itself the one preempted. The
    oldest running sequence is never preempted by another, so the server always progresses; the running
    sequences are always the earliest-arrived unfinished requests. (Without
    chunked prefill, a recomputation longer than ``max_num_batched_tokens`` is prefilled in chunks: it
    could not run otherwise.)

Rejection (up front, recorded with the reason)
    A request whose ``P + O`` exceeds ``max_context``, whose ``P + O − 1`` cached tokens need more blocks
    than ``kv_blocks``, or (without chunked prefill) whose prompt exceeds ``max_num_batched_tokens`` can
    never run and is rejected rather than queued forever.

Prefix caching (``prefix_caching=True``)
    The first ``prefix_tokens // block_tokens`` full blocks of a request with a non-empty ``prefix`` are
    cacheable: once a sequence has computed such a block it is registered under ``(prefix, index)``.
    Blocks are reference-counted; a cached block no sequence holds stays resident but free, and is evicted
    least recently released first when blocks are needed. On (re)admission a request takes the longest
    run of resident cached blocks from index 0 (always leaving at least one token to compute); its first
    chunk starts with ``tokens_already_in_cache`` = the hit. A block computed twice concurrently stays a
    private copy of the second sequence.

Examples
--------
>>> from accelsim.serve import Request, ServeConfig, ToyCosts
>>> costs = ToyCosts(clock_mhz=1.0, base=100, per_token=10, per_attended=0)
>>> res = simulate_serving([Request("a", 0.0, 8, 3)], costs, ServeConfig(kv_blocks=4, block_tokens=4))
>>> r = res.requests[0]
>>> r.ttft_cycles, r.finish_cycle     # one 8-token prefill step (180), two decode steps (110 each)
(180, 400)
"""

from __future__ import annotations

import math
import operator
from array import array
from collections import OrderedDict, deque
from collections.abc import Iterable

import numpy as np

from ..errors import SpecError
from .costs import StepCost, StepCosts
from .metrics import RequestResult, Series, ServeResult
from .spec import Request, ServeConfig

__all__ = ["simulate_serving"]

_WAITING, _RUNNING, _DONE = 0, 1, 2
MAX_CYCLES = 2**63 - 1  # the simulated clock, kept in int64 arrays (about 290 years at 1 GHz)


class _Seq:
    """A request's mutable state in the server."""

    __slots__ = ("arrival", "computed", "finish", "first", "generated", "hits", "last", "nblocks", "output",
                 "preemptions", "prefix", "private", "prompt", "req", "shareable", "shared", "state", "target")

    def __init__(self, req: Request, arrival: int, block_tokens: int, caching: bool):
        self.req = req
        self.arrival = arrival
        self.prompt, self.output = req.input_tokens, req.output_tokens
        self.prefix = req.prefix
        self.shareable = req.prefix_tokens // block_tokens if caching and req.prefix else 0
        self.state = _WAITING
        self.target = self.prompt  # tokens to prefill since the last (re)admission
        self.computed = 0  # tokens in the KV cache
        self.generated = 0  # output tokens emitted
        self.private = 0  # blocks held only by this sequence
        self.shared: list[tuple[str, int]] = []  # cached blocks it references, in block order
        self.nblocks = 0
        self.first: int | None = None
        self.last = 0
        self.finish: int | None = None
        self.preemptions = 0
        self.hits = 0


def _clock_hz(costs: StepCosts) -> float:
    mhz = getattr(costs, "clock_mhz", None)
    if not isinstance(mhz, (int, float)) or isinstance(mhz, bool) or not math.isfinite(mhz) or mhz <= 0:
        raise SpecError(f"must be a positive number of MHz, not {mhz!r}", path="StepCosts.clock_mhz")
    return float(mhz) * 1e6


def _checked(cost: StepCost) -> tuple[int, float, int]:
    try:
        cycles = operator.index(cost.cycles)
        dram = operator.index(cost.dram_bytes)
        energy = float(cost.energy_pj)
    except (TypeError, ValueError, AttributeError) as err:
        raise SpecError(f"must be a StepCost with integer cycles and bytes ({err})", path="StepCosts.step") from None
    if isinstance(cost.cycles, bool) or cycles < 1:
        raise SpecError(f"must be a positive integer, not {cost.cycles!r}", path="StepCost.cycles")
    if dram < 0 or not math.isfinite(energy) or energy < 0:
        raise SpecError(f"must be finite and non-negative, not energy {energy!r} pJ, {dram!r} bytes",
                        path="StepCost")
    return cycles, energy, dram


def _rejection(req: Request, config: ServeConfig) -> str | None:
    total = req.input_tokens + req.output_tokens
    if config.max_context is not None and total > config.max_context:
        return f"prompt + output ({total:,} tokens) exceeds max_context ({config.max_context:,})"
    blocks = -(-(total - 1) // config.block_tokens)
    if blocks > config.kv_blocks:
        return (f"needs {blocks:,} KV blocks for {total - 1:,} cached tokens, more than the capacity "
                f"({config.kv_blocks:,})")
    if not config.chunked_prefill and req.input_tokens > config.max_num_batched_tokens:
        return (f"prompt ({req.input_tokens:,} tokens) exceeds max_num_batched_tokens "
                f"({config.max_num_batched_tokens:,}) without chunked prefill")
    return None


class _Server:
    """The scheduler's state; :meth:`run` is the event loop (see the module docstring for the policy)."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.bt = config.block_tokens
        self.free = config.kv_blocks  # blocks no sequence holds (resident cached blocks nobody references count)
        self.refs: dict[tuple[str, int], int] = {}  # resident cached blocks -> sequences referencing them
        self.lru: OrderedDict[tuple[str, int], None] = OrderedDict()  # resident cached blocks nobody references
        self.private_total = 0
        self.running: list[_Seq] = []
        self.waiting: deque[_Seq] = deque()
        self.sched: dict[_Seq, int] = {}  # this step: sequence -> tokens

    # -- blocks ---------------------------------------------------------------------------------------
    def allocate(self, seq: _Seq, count: int) -> None:
        """Give ``seq`` ``count`` private blocks (the caller checked ``free``), evicting cached ones."""
        spare = self.config.kv_blocks - self.private_total - len(self.refs)
        while spare < count:
            key, _ = self.lru.popitem(last=False)
            del self.refs[key]
            spare += 1
        self.private_total += count
        self.free -= count
        seq.private += count
        seq.nblocks += count

    def release(self, seq: _Seq) -> None:
        """Free every block ``seq`` holds; cached ones it was the last to hold become evictable."""
        refs, lru = self.refs, self.lru
        for key in reversed(seq.shared):  # the tail first: evicted before the head the next request may share
            refs[key] -= 1
            if refs[key] == 0:
                lru[key] = None
                self.free += 1
        self.private_total -= seq.private
        self.free += seq.private
        seq.private, seq.shared, seq.nblocks = 0, [], 0

    def register(self, seq: _Seq, old: int) -> None:
        """Cache the shareable full blocks ``seq`` completed since it had ``old`` tokens."""
        refs = self.refs
        for j in range(old // self.bt, min(seq.computed // self.bt, seq.shareable)):
            key = (seq.prefix, j)
            if key not in refs:  # a private block becomes the cached copy
                refs[key] = 1
                seq.shared.append(key)
                seq.private -= 1
                self.private_total -= 1

    def preempt(self) -> tuple[_Seq, int]:
        """Preempt the running sequence that arrived last; return it and the budget it gave back."""
        victim = self.running.pop()
        self.release(victim)
        victim.state = _WAITING
        victim.computed = 0
        victim.target = victim.prompt + victim.generated
        victim.preemptions += 1
        self.waiting.appendleft(victim)
        return victim, self.sched.pop(victim, 0)

    def make_room(self, seq: _Seq, need: int) -> int:
        """Preempt the latest arrivals until ``need`` blocks are free or ``seq`` itself was preempted; return
        the step's token budget the preempted sequences gave back."""
        back = 0
        while self.free < need:
            victim, tokens = self.preempt()
            back += tokens
            if victim is seq:
                break
        return back

    def admit_head(self, budget: int) -> int:
        """Admit the head of the waiting queue if it fits; return the tokens it takes (0: it does not fit)."""
        seq = self.waiting[0]
        bt, refs = self.bt, self.refs
        hit = 0
        if seq.shareable:
            limit = min(seq.shareable, (seq.target - 1) // bt)
            while hit < limit and (seq.prefix, hit) in refs:
                hit += 1
        cached = hit * bt
        n = seq.target - cached
        if n > budget:
            if not self.config.chunked_prefill and n <= self.config.max_num_batched_tokens:
                return 0
            n = budget
        revived = sum(1 for j in range(hit) if refs[(seq.prefix, j)] == 0)
        new_blocks = -(-(cached + n) // bt) - hit
        if self.free - revived < new_blocks:
            return 0
        self.waiting.popleft()
        for j in range(hit):
            key = (seq.prefix, j)
            if refs[key] == 0:
                del self.lru[key]
                self.free -= 1
            refs[key] += 1
            seq.shared.append(key)
        seq.nblocks = hit
        seq.computed = cached
        seq.hits += cached
        self.allocate(seq, new_blocks)
        seq.state = _RUNNING
        self.running.append(seq)
        self.sched[seq] = n
        return n


def simulate_serving(requests: Iterable[Request], costs: StepCosts, config: ServeConfig) -> ServeResult:
    """Serve ``requests`` with continuous batching; see the module docstring for the exact policy.

    Parameters
    ----------
    requests
        The trace, in any order (served FCFS by arrival, ties in the order given); ids must be unique.
    costs
        The step-cost model (:class:`~accelsim.serve.costs.StepCosts`); called once per step.
    config
        Batching limits, KV capacity and policy switches.

    Returns
    -------
    ServeResult
        Per-request results (in the order given) and aggregates.

    Examples
    --------
    >>> from accelsim.serve import Request, ServeConfig, ToyCosts
    >>> reqs = [Request("a", 0.0, 64, 4), Request("b", 0.0, 64, 4)]
    >>> config = ServeConfig(kv_blocks=16, max_num_seqs=8, max_num_batched_tokens=80)
    >>> [r.ttft_s for r in simulate_serving(reqs, ToyCosts(), config).requests]  # b: 16 tokens, then 48
    [0.00362216, 0.00662225]
    """
    reqs = list(requests)
    seen: dict[str, int] = {}
    for i, req in enumerate(reqs):
        if not isinstance(req, Request):
            raise SpecError(f"must be a Request, not a {type(req).__name__}", path=f"requests[{i}]")
        if req.id in seen:
            raise SpecError(f"duplicate id '{req.id}' (first at requests[{seen[req.id]}])", path=f"requests[{i}].id")
        seen[req.id] = i
    if not isinstance(config, ServeConfig):
        raise SpecError(f"must be a ServeConfig, not a {type(config).__name__}", path="config")
    hz = _clock_hz(costs)
    clock_mhz = hz / 1e6
    bt = config.block_tokens
    caching = config.prefix_caching
    max_seqs, max_tokens = config.max_num_seqs, config.max_num_batched_tokens

    seqs = [_Seq(req, round(req.arrival_s * hz), bt, caching) for req in reqs]
    rejected = [_rejection(req, config) for req in reqs]
    pending = sorted((s for s, why in zip(seqs, rejected, strict=True) if why is None), key=lambda s: s.arrival)
    server = _Server(config)
    running, waiting, sched = server.running, server.waiting, server.sched

    now, steps, energy, dram, computed_tokens, peak = 0, 0, 0.0, 0, 0, 0
    gaps = array("q")  # 8 bytes a gap: a long run emits many tokens
    stride, cap = 1, config.series_points
    s_time: list[int] = []
    s_used: list[int] = []
    s_seqs: list[int] = []
    s_tokens: list[int] = []
    s_wait: list[int] = []
    p = 0
    while True:
        while p < len(pending) and pending[p].arrival <= now:
            waiting.append(pending[p])
            p += 1
        if not running and not waiting:
            if p == len(pending):
                break
            now = pending[p].arrival
            continue

        sched.clear()
        budget = max_tokens
        preempted = False
        # 2. decodes, oldest first (a preemption pops the youngest: the list only shrinks behind us)
        i = 0
        while i < len(running):
            seq = running[i]
            i += 1
            if seq.computed < seq.target:
                continue
            if seq.computed % bt == 0:
                if server.free < 1:
                    preempted = True
                    budget += server.make_room(seq, 1)
                    if seq.state != _RUNNING:
                        break
                server.allocate(seq, 1)
            sched[seq] = 1
            budget -= 1
        # 3. chunks of sequences still prefilling, oldest first
        i = 0
        while i < len(running) and budget > 0:
            seq = running[i]
            i += 1
            if seq.computed >= seq.target:
                continue
            n = min(seq.target - seq.computed, budget)
            need = -(-(seq.computed + n) // bt) - seq.nblocks
            if server.free < need:
                preempted = True
                budget += server.make_room(seq, need)
                if seq.state != _RUNNING:
                    break
            server.allocate(seq, need)
            sched[seq] = n
            budget -= n
        # 4. admission, FCFS, only when nobody was preempted this step
        if not preempted:
            while waiting and len(running) < max_seqs and budget > 0:
                taken = server.admit_head(budget)
                if not taken:
                    break
                budget -= taken
        if not sched:
            if preempted:
                continue
            raise RuntimeError("serve: a step scheduled nothing with requests waiting (a scheduler bug)")

        # 5. the step's cost, then its tokens
        used = config.kv_blocks - server.free
        peak = max(peak, used)
        prefill: list[tuple[int, int]] = []
        decode: list[int] = []
        for seq, n in sched.items():
            if seq.computed < seq.target:
                prefill.append((n, seq.computed))
            else:
                decode.append(seq.computed)
        cycles, step_energy, step_dram = _checked(costs.step(prefill, decode))
        now += cycles
        if now > MAX_CYCLES:  # times are int64 in the results (inter-token gaps): refuse, never wrap
            raise SpecError(f"the simulated time passed 2**63 cycles ({now / hz:.3g} s) at step {steps + 1:,}: "
                            "step costs this large are a unit mistake", path="StepCosts.step")
        energy += step_energy
        dram += step_dram
        tokens = max_tokens - budget
        computed_tokens += tokens
        if steps % stride == 0:
            s_time.append(now)
            s_used.append(used)
            s_seqs.append(len(sched))
            s_tokens.append(tokens)
            s_wait.append(len(waiting))
            if len(s_time) > cap:
                s_time, s_used, s_seqs, s_tokens, s_wait = (s[::2] for s in (s_time, s_used, s_seqs, s_tokens,
                                                                                s_wait))
                stride *= 2
        steps += 1

        done = False
        for seq, n in sched.items():
            if seq.computed < seq.target:
                old = seq.computed
                seq.computed = old + n
                if seq.shareable:
                    server.register(seq, old)
                if seq.computed < seq.target:
                    continue
            else:
                seq.computed += 1
            seq.generated += 1
            if seq.first is None:
                seq.first = now
            else:
                gaps.append(now - seq.last)
            seq.last = now
            if seq.generated == seq.output:
                seq.finish = now
                seq.state = _DONE
                server.release(seq)
                done = True
        if done:
            running[:] = [s for s in running if s.state == _RUNNING]

    results = tuple(RequestResult(s.req, s.arrival, s.first, s.finish, s.preemptions, s.hits, why,
                                  generated=s.generated, clock_mhz=clock_mhz)
                    for s, why in zip(seqs, rejected, strict=True))
    series = Series(stride, tuple(t / hz for t in s_time), tuple(s_used), tuple(s_seqs), tuple(s_tokens),
                    tuple(s_wait))
    return ServeResult(config, clock_mhz, results, steps, now, energy, dram, computed_tokens, peak,
                       np.frombuffer(gaps, dtype=np.int64).copy(), series)
