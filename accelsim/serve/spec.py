"""`Request` and `ServeConfig`: what arrives at the server and how the server batches it.

Both validate on construction and refuse bad values with a one-line :class:`~accelsim.errors.SpecError`
naming the field.

Examples
--------
>>> Request("a", 0.0, input_tokens=100, output_tokens=20)
Request(id='a', arrival_s=0.0, input_tokens=100, output_tokens=20, prefix='', prefix_tokens=0)
>>> ServeConfig(kv_blocks=0)
Traceback (most recent call last):
...
accelsim.errors.SpecError: `ServeConfig.kv_blocks` must be an integer from 1 to 1,000,000,000, not 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from ..specio import is_unprintable

MAX_TOKENS = 10**7  # per request, per prompt or output: far above any model's context
MAX_REQUESTS = 10**6  # per trace
MAX_ARRIVAL_S = 1e9  # about 32 years: a later arrival is a unit mistake
MAX_ID_CHARS = 256
_MAX_CONFIG_INT = 10**9


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_int(value: Any, path: str, low: int, high: int) -> int:
    """``value`` if it is an integer in ``[low, high]`` (not a bool), else a :class:`SpecError` on ``path``.

    Examples
    --------
    >>> check_int(3, "x", 1, 10)
    3
    >>> check_int(True, "x", 1, 10)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `x` must be an integer from 1 to 10, not True
    """
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SpecError(f"must be an integer from {low:,} to {high:,}, not {_describe(value)}", path=path)
    return value


def check_seconds(value: Any, path: str, *, high: float = MAX_ARRIVAL_S, positive: bool = False) -> float:
    """``value`` as a float if it is a finite number of seconds in range (not a bool), else a :class:`SpecError`.

    Examples
    --------
    >>> check_seconds(2, "t")
    2.0
    >>> check_seconds(float("nan"), "t")
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `t` must be a finite number of seconds from 0 to 1e+09, not nan
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and not (0 < value <= high if positive else 0 <= value <= high):
        ok = False
    if not ok:
        low = "above 0" if positive else "from 0"
        raise SpecError(f"must be a finite number of seconds {low} to {high:g}, not {_describe(value)}", path=path)
    return float(value)


def check_text(value: Any, path: str, *, empty: bool) -> str:
    """``value`` if it is a string of printable characters (at most 256), else a :class:`SpecError`.

    Examples
    --------
    >>> check_text("sys-prompt", "prefix", empty=True)
    'sys-prompt'
    >>> check_text("a\\nb", "id", empty=False)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `id` must be printable text, not 'a\\nb'
    """
    if not isinstance(value, str):
        raise SpecError(f"must be a string, not {_describe(value)}", path=path)
    if not value and not empty:
        raise SpecError("must not be empty", path=path)
    if len(value) > MAX_ID_CHARS:
        raise SpecError(f"must be at most {MAX_ID_CHARS} characters, not {len(value):,}", path=path)
    if any(is_unprintable(ch) for ch in value):
        raise SpecError(f"must be printable text, not {_describe(value)}", path=path)
    return value


@dataclass(frozen=True)
class Request:
    """One request of a serving trace.

    Parameters
    ----------
    id
        A unique, non-empty, printable name (at most 256 characters).
    arrival_s
        When the request arrives, in seconds from the trace's start (finite, ≥ 0).
    input_tokens, output_tokens
        Prompt length and the number of tokens to generate (1 to 10**7 each).
    prefix, prefix_tokens
        Requests with the same non-empty ``prefix`` share their first ``prefix_tokens`` prompt tokens
        (a system prompt, a shared document); prefix caching can reuse them. ``prefix_tokens`` is at most
        ``input_tokens`` and needs a ``prefix``.

    Examples
    --------
    >>> Request("r1", 0.5, 64, 8, prefix="sys", prefix_tokens=32).prefix_tokens
    32
    >>> Request("r1", 0.5, 64, 8, prefix_tokens=65)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `Request.prefix_tokens` must be at most input_tokens (64), not 65
    """

    id: str
    arrival_s: float
    input_tokens: int
    output_tokens: int
    prefix: str = ""
    prefix_tokens: int = 0

    def __post_init__(self) -> None:
        check_text(self.id, "Request.id", empty=False)
        object.__setattr__(self, "arrival_s", check_seconds(self.arrival_s, "Request.arrival_s"))
        check_int(self.input_tokens, "Request.input_tokens", 1, MAX_TOKENS)
        check_int(self.output_tokens, "Request.output_tokens", 1, MAX_TOKENS)
        check_text(self.prefix, "Request.prefix", empty=True)
        check_int(self.prefix_tokens, "Request.prefix_tokens", 0, MAX_TOKENS)
        if self.prefix_tokens > self.input_tokens:
            raise SpecError(f"must be at most input_tokens ({self.input_tokens:,}), not {self.prefix_tokens:,}",
                            path="Request.prefix_tokens")
        if self.prefix_tokens and not self.prefix:
            raise SpecError("needs a prefix id (`prefix`) naming what the tokens are", path="Request.prefix_tokens")


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """How the server batches requests (vLLM's names where vLLM has one).

    Parameters
    ----------
    kv_blocks
        KV-cache capacity in blocks of ``block_tokens`` tokens. The caller derives it, e.g.
        ``(DRAM bytes − weight bytes) × utilisation // bytes per block``.
    max_num_seqs
        Most sequences in one step's batch (running, including partially prefilled ones).
    max_num_batched_tokens
        Most tokens processed in one step (prefill chunks plus one per decoding sequence); at least
        ``max_num_seqs``, so every running sequence can always decode.
    block_tokens
        Tokens per KV block (paged attention's page).
    chunked_prefill
        Split a prompt longer than the step's remaining token budget into chunks across steps. Without it a
        prompt must fit the remaining budget whole (a longer one waits; one longer than the whole budget is
        rejected).
    prefix_caching
        Reuse resident KV blocks of a shared prompt prefix (:class:`Request.prefix`).
    max_context
        The model's longest sequence (prompt + output); None: no limit.
    ttft_slo_s, tpot_slo_s
        Service-level objectives for goodput (time to first token, time per output token); None: no limit.
    series_points
        Most points kept of the per-step time series (every k-th step, k a power of two).

    Examples
    --------
    >>> ServeConfig(kv_blocks=1000).max_num_batched_tokens
    2048
    >>> ServeConfig(kv_blocks=10, max_num_seqs=4096)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `ServeConfig.max_num_batched_tokens` must be at least max_num_seqs (4,096), not 2,048: \
every running sequence decodes one token per step
    """

    kv_blocks: int
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 2048
    block_tokens: int = 16
    chunked_prefill: bool = True
    prefix_caching: bool = False
    max_context: int | None = None
    ttft_slo_s: float | None = None
    tpot_slo_s: float | None = None
    series_points: int = 4096

    def __post_init__(self) -> None:
        for name in ("kv_blocks", "max_num_seqs", "max_num_batched_tokens", "block_tokens"):
            check_int(getattr(self, name), f"ServeConfig.{name}", 1, _MAX_CONFIG_INT)
        check_int(self.series_points, "ServeConfig.series_points", 2, 10**7)
        if self.max_context is not None:
            check_int(self.max_context, "ServeConfig.max_context", 2, _MAX_CONFIG_INT)
        for name in ("chunked_prefill", "prefix_caching"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"must be true or false, not {_describe(getattr(self, name))}",
                                path=f"ServeConfig.{name}")
        for name in ("ttft_slo_s", "tpot_slo_s"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_seconds(getattr(self, name), f"ServeConfig.{name}",
                                                             positive=True))
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise SpecError(f"must be at least max_num_seqs ({self.max_num_seqs:,}), not "
                            f"{self.max_num_batched_tokens:,}: every running sequence decodes one token per step",
                            path="ServeConfig.max_num_batched_tokens")

    def to_dict(self) -> dict[str, Any]:
        """The fields in declaration order, JSON-ready.

        Examples
        --------
        >>> list(ServeConfig(kv_blocks=8).to_dict())[:3]
        ['kv_blocks', 'max_num_seqs', 'max_num_batched_tokens']
        """
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
