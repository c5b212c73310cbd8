"""Serving traces: read from JSON Lines, written back, or drawn from a seeded Poisson process.

A trace file holds one JSON object per line::

    {"id": "r0", "arrival_s": 0.0, "input_tokens": 512, "output_tokens": 128}
    {"arrival": 0.25, "input_tokens": 900, "output_tokens": 64, "prefix": "sys", "prefix_tokens": 256}

``arrival_s`` (or ``arrival``) is in seconds and never goes back in time; ``id`` defaults to the request's
0-based position; blank lines are skipped. Anything else is refused with a
:class:`~accelsim.errors.SpecError` naming the file, the line, the key and the reason.

Examples
--------
>>> trace = poisson_trace(2.0, 3, input_tokens=100, output_tokens=(10, 20), seed=0)
>>> [(r.id, r.input_tokens) for r in trace]
[('0', 100), ('1', 100), ('2', 100)]
>>> print(dump_trace(trace[:1]))
{"id": "0", "arrival_s": 0.3399659519844548, "input_tokens": 100, "output_tokens": 10}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ..errors import SpecError, did_you_mean
from ..specio import JsonRefusal, read_input, strict_json
from .spec import MAX_ARRIVAL_S, MAX_REQUESTS, MAX_TOKENS, Request, check_int, check_seconds, check_text

MAX_TRACE_BYTES = 256 * 2**20  # a million requests of ~100 bytes each, with room to spare
KEYS = ("id", "arrival_s", "arrival", "input_tokens", "output_tokens", "prefix", "prefix_tokens")


def _parse_line(text: str, file: str, line: int) -> Any:
    try:
        return strict_json(text)
    except JsonRefusal as err:
        raise SpecError(f"invalid JSON: {err}", file=file, line=line) from None
    except json.JSONDecodeError as err:
        raise SpecError(f"invalid JSON: {err.msg} (column {err.colno})", file=file, line=line) from None
    except RecursionError:
        raise SpecError("invalid JSON: nested too deeply", file=file, line=line) from None
    except ValueError as err:  # an integer of more digits than Python converts (4,300 by default)
        reason = "a number with too many digits" if "digits" in str(err) else str(err).splitlines()[0]
        raise SpecError(f"invalid JSON: {reason}", file=file, line=line) from None


def read_trace(path: str | Path) -> list[Request]:
    """Read a JSON Lines trace (see the module docstring) into requests, refusing anything malformed.

    Parameters
    ----------
    path
        The file (at most 256 MiB, at most 10**6 requests).

    Returns
    -------
    list of Request
        In file order (which is arrival order).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write('{"arrival_s": 1, "input_tokens": 8, "output_tokens": 2}\\n'
    ...                 '{"arrival_s": 0.5, "input_tokens": 8, "output_tokens": 2}\\n')
    >>> read_trace(f.name)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: ...:2: `arrival_s` 0.5 goes back in time (line 1 arrives at 1.0)
    >>> os.unlink(f.name)
    """
    file = str(path)
    data = read_input(path, limit=MAX_TRACE_BYTES, what="trace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"is not UTF-8 text ({err.reason} at byte {err.start})", file=file) from None
    text = text.removeprefix("\ufeff")
    requests: list[Request] = []
    id_lines: dict[str, int] = {}
    last_arrival, last_line = 0.0, 0
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        obj = _parse_line(raw, file, number)
        if not isinstance(obj, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")
            raise SpecError(f"must be a JSON object, not {kind}", file=file, line=number)
        if len(requests) >= MAX_REQUESTS:
            raise SpecError(f"has more than {MAX_REQUESTS:,} requests, the limit for a trace", file=file,
                            line=number)

        def fail(key: str, message: str, line: int = number) -> NoReturn:
            raise SpecError(message, file=file, line=line, path=key)

        for key in obj:
            if key not in KEYS:
                fail(key, f"is not a trace key (expected {', '.join(KEYS)}){did_you_mean(key, KEYS)}")
        if "arrival_s" in obj and "arrival" in obj:
            fail("arrival", "and `arrival_s` both given: use one")
        arrival_key = "arrival" if "arrival" in obj else "arrival_s"
        for key in (arrival_key, "input_tokens", "output_tokens"):
            if key not in obj:
                fail(key, "is missing")
        try:
            arrival = check_seconds(obj[arrival_key], arrival_key)
            input_tokens = check_int(obj["input_tokens"], "input_tokens", 1, MAX_TOKENS)
            output_tokens = check_int(obj["output_tokens"], "output_tokens", 1, MAX_TOKENS)
            prefix = check_text(obj.get("prefix", ""), "prefix", empty=True)
            prefix_tokens = check_int(obj.get("prefix_tokens", 0), "prefix_tokens", 0, MAX_TOKENS)
            rid = check_text(obj["id"], "id", empty=False) if "id" in obj else str(len(requests))
        except SpecError as err:
            fail(err.path or "", err.message)
        if arrival < last_arrival:
            fail(arrival_key, f"{obj[arrival_key]!r} goes back in time (line {last_line} arrives at {last_arrival!r})")
        if prefix_tokens > input_tokens:
            fail("prefix_tokens", f"must be at most input_tokens ({input_tokens:,}), not {prefix_tokens:,}")
        if prefix_tokens and not prefix:
            fail("prefix_tokens", "needs a prefix id (`prefix`) naming what the tokens are")
        if rid in id_lines:
            fail("id", f"duplicate id '{rid}' (first on line {id_lines[rid]})")
        id_lines[rid] = number
        last_arrival, last_line = arrival, number
        requests.append(Request(rid, arrival, input_tokens, output_tokens, prefix, prefix_tokens))
    if not requests:
        raise SpecError("has no requests (expected one JSON object per line)", file=file)
    return requests


def dump_trace(requests: Iterable[Request]) -> str:
    """The requests as JSON Lines that :func:`read_trace` reads back identically.

    Examples
    --------
    >>> print(dump_trace([Request("a", 0.5, 10, 2, prefix="sys", prefix_tokens=4)]))
    {"id": "a", "arrival_s": 0.5, "input_tokens": 10, "output_tokens": 2, "prefix": "sys", "prefix_tokens": 4}
    """
    lines = []
    for r in requests:
        obj: dict[str, Any] = {"id": r.id, "arrival_s": r.arrival_s, "input_tokens": r.input_tokens,
                               "output_tokens": r.output_tokens}
        if r.prefix:
            obj["prefix"] = r.prefix
        if r.prefix_tokens:
            obj["prefix_tokens"] = r.prefix_tokens
        lines.append(json.dumps(obj, ensure_ascii=False))
    return "\n".join(lines)


def _tokens(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        low = check_int(value[0], f"{name}[0]", 1, MAX_TOKENS)
        high = check_int(value[1], f"{name}[1]", low, MAX_TOKENS)
        return low, high
    if isinstance(value, (tuple, list)):
        raise SpecError(f"must be an integer or a (low, high) pair, not {len(value)} values", path=name)
    fixed = check_int(value, name, 1, MAX_TOKENS)
    return fixed, fixed


def poisson_trace(rate_per_s: float, count: int, *, input_tokens: int | tuple[int, int],
                  output_tokens: int | tuple[int, int], seed: int) -> list[Request]:
    """``count`` requests arriving as a Poisson process of ``rate_per_s`` (seeded, reproducible).

    Inter-arrival gaps are exponential with mean ``1 / rate_per_s`` (the first request arrives after one
    gap); token counts are fixed integers or drawn uniformly from ``(low, high)`` inclusive. Draws come
    from ``numpy.random.default_rng(seed)`` in a fixed order (gaps, then inputs, then outputs), so the same
    arguments give an identical trace. Ids are ``"0"``, ``"1"``, ...

    Examples
    --------
    >>> a = poisson_trace(10.0, 100, input_tokens=(1, 512), output_tokens=64, seed=7)
    >>> a == poisson_trace(10.0, 100, input_tokens=(1, 512), output_tokens=64, seed=7)
    True
    >>> poisson_trace(0, 10, input_tokens=1, output_tokens=1, seed=0)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `rate_per_s` must be a positive finite number, not 0
    """
    if (not isinstance(rate_per_s, (int, float)) or isinstance(rate_per_s, bool) or not math.isfinite(rate_per_s)
            or rate_per_s <= 0):
        raise SpecError(f"must be a positive finite number, not {rate_per_s!r}", path="rate_per_s")
    check_int(count, "count", 1, MAX_REQUESTS)
    check_int(seed, "seed", 0, 2**63 - 1)
    inputs, outputs = _tokens(input_tokens, "input_tokens"), _tokens(output_tokens, "output_tokens")
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate_per_s, count))
    if not arrivals[-1] <= MAX_ARRIVAL_S:
        raise SpecError(f"is too low for {count:,} requests: the last would arrive after {MAX_ARRIVAL_S:g} s",
                        path="rate_per_s")

    def draw(bounds: tuple[int, int]) -> list[int]:
        low, high = bounds
        return [low] * count if low == high else rng.integers(low, high, size=count, endpoint=True).tolist()

    ins, outs = draw(inputs), draw(outputs)
    return [Request(str(i), float(t), ins[i], outs[i]) for i, t in enumerate(arrivals.tolist())]
