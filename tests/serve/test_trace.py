"""Traces: JSON Lines read strictly (hostile input refused with file, line, key and reason), Poisson traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.serve import Request, ServeConfig, ToyCosts, dump_trace, poisson_trace, read_trace, simulate_serving
from accelsim.serve import trace as trace_module

GOOD = '{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2}'


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "t.jsonl"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_a_trace(tmp_path: Path) -> None:
    path = write(tmp_path, '\ufeff{"id": "x", "arrival": 0.5, "input_tokens": 8, "output_tokens": 2}\r\n'
                           '\n   \n'
                           '{"arrival_s": 0.5, "input_tokens": 9, "output_tokens": 1, "prefix": "s", '
                           '"prefix_tokens": 4}\n')
    assert read_trace(path) == [Request("x", 0.5, 8, 2), Request("1", 0.5, 9, 1, "s", 4)]


@pytest.mark.parametrize(("text", "where", "message"), [
    ("{", 1, "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
    ('[1, 2]', 1, "must be a JSON object, not an array"),
    ('"x"', 1, "must be a JSON object, not a string"),
    ('null', 1, "must be a JSON object, not null"),
    ('3', 1, "must be a JSON object, not a number"),
    (GOOD + '\n{"arrival_s": NaN, "input_tokens": 8, "output_tokens": 2}', 2,
     "invalid JSON: NaN is not a JSON number"),
    ('{"arrival_s": 1e999, "input_tokens": 8, "output_tokens": 2}', 1,
     "`arrival_s` must be a finite number of seconds from 0 to 1e+09, not inf"),
    ('{"arrival_s": -1, "input_tokens": 8, "output_tokens": 2}', 1, "`arrival_s` must be a finite number"),
    ('{"arrival_s": true, "input_tokens": 8, "output_tokens": 2}', 1, "`arrival_s` must be a finite number"),
    ('{"arrival_s": "0", "input_tokens": 8, "output_tokens": 2}', 1, "`arrival_s` must be a finite number"),
    ('{"arrival_s": 1e10, "input_tokens": 8, "output_tokens": 2}', 1, "`arrival_s` must be a finite number"),
    ('{"input_tokens": 8, "output_tokens": 2}', 1, "`arrival_s` is missing"),
    ('{"arrival_s": 0, "output_tokens": 2}', 1, "`input_tokens` is missing"),
    ('{"arrival_s": 0, "arrival": 0, "input_tokens": 8, "output_tokens": 2}', 1,
     "`arrival` and `arrival_s` both given: use one"),
    ('{"arrival_s": 0, "input_tokens": 0, "output_tokens": 2}', 1,
     "`input_tokens` must be an integer from 1 to 10,000,000, not 0"),
    ('{"arrival_s": 0, "input_tokens": -3, "output_tokens": 2}', 1, "`input_tokens` must be an integer"),
    ('{"arrival_s": 0, "input_tokens": 8.0, "output_tokens": 2}', 1, "`input_tokens` must be an integer"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": false}', 1, "`output_tokens` must be an integer"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 10000001}', 1,
     "`output_tokens` must be an integer from 1 to 10,000,000, not 10000001"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2, "prefix": "p", "prefix_tokens": 9}', 1,
     "`prefix_tokens` must be at most input_tokens (8), not 9"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2, "prefix_tokens": 4}', 1,
     "`prefix_tokens` needs a prefix id"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2, "prefix": 7}', 1, "`prefix` must be a string, not 7"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2, "id": ""}', 1, "`id` must not be empty"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2, "id": "a\\u001b[2J"}', 1,
     "`id` must be printable text"),
    ('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2, "inputs": 3}', 1,
     ("`inputs` is not a trace key (expected id, arrival_s, arrival, input_tokens, output_tokens, prefix, "
      "prefix_tokens) (did you mean 'input_tokens'?)")),
    ('{"arrival_s": 0, "arrival_s": 1, "input_tokens": 8, "output_tokens": 2}', 1,
     "invalid JSON: duplicate key 'arrival_s'"),
    (GOOD[:-1] + ', "id": "a"}\n' + GOOD[:-1] + ', "id": "a"}', 2, "`id` duplicate id 'a' (first on line 1)"),
    (GOOD + '\n{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2, "id": "0"}', 2,
     "`id` duplicate id '0' (first on line 1)"),
    (GOOD.replace("0", "2", 1) + "\n\n" + GOOD.replace("0", "1.5", 1), 3,
     "`arrival_s` 1.5 goes back in time (line 1 arrives at 2.0)"),
    ('[' * 100_000 + ']' * 100_000, 1, "invalid JSON: nested too deeply"),
    (GOOD.replace("8", "1" + "0" * 5000), 1, "invalid JSON: a number with too many digits"),
])
def test_hostile_lines_are_refused(tmp_path: Path, text: str, where: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        read_trace(path)
    assert str(err.value).startswith(f"{path}:{where}: {message}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    ("", "has no requests (expected one JSON object per line)"),
    ("\n \n", "has no requests"),
    (b"\xff\xfe{}", "is not UTF-8 text (invalid start byte at byte 0)"),
])
def test_empty_or_binary_files_are_refused(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError, match="^" + str(path) + ": " + message.replace("(", r"\(").replace(")", r"\)")):
        read_trace(path)


def test_size_and_count_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "\n".join([GOOD.replace("0,", f"{i},", 1) for i in range(3)]))
    monkeypatch.setattr(trace_module, "MAX_TRACE_BYTES", 100)
    with pytest.raises(SpecError, match="is larger than 100 bytes, the limit for a trace"):
        read_trace(path)
    monkeypatch.setattr(trace_module, "MAX_TRACE_BYTES", 10**6)
    monkeypatch.setattr(trace_module, "MAX_REQUESTS", 2)
    with pytest.raises(SpecError, match=r":3: has more than 2 requests, the limit for a trace"):
        read_trace(path)
    with pytest.raises(SpecError, match="cannot read file"):
        read_trace(tmp_path / "missing.jsonl")


def test_dump_and_read_round_trip(tmp_path: Path) -> None:
    trace = poisson_trace(3.0, 50, input_tokens=(1, 4000), output_tokens=(1, 900), seed=11)
    trace.append(Request("é, \"q\"", 1e6, 5, 5, prefix="sys prompt", prefix_tokens=5))
    path = write(tmp_path, dump_trace(trace) + "\n")
    assert read_trace(path) == trace


def test_poisson_trace_is_reproducible_and_in_range() -> None:
    a = poisson_trace(4.0, 2000, input_tokens=(10, 20), output_tokens=(1, 3), seed=42)
    b = poisson_trace(4.0, 2000, input_tokens=(10, 20), output_tokens=(1, 3), seed=42)
    assert dump_trace(a).encode() == dump_trace(b).encode()
    assert dump_trace(a) != dump_trace(poisson_trace(4.0, 2000, input_tokens=(10, 20), output_tokens=(1, 3), seed=43))
    assert {r.input_tokens for r in a} == set(range(10, 21)) and {r.output_tokens for r in a} == {1, 2, 3}
    arrivals = [r.arrival_s for r in a]
    assert arrivals == sorted(arrivals) and arrivals[0] > 0
    assert 2000 / arrivals[-1] == pytest.approx(4.0, rel=0.1)  # the mean rate
    fixed = poisson_trace(1.0, 5, input_tokens=7, output_tokens=3, seed=0)
    assert {(r.input_tokens, r.output_tokens) for r in fixed} == {(7, 3)}
    cfg = ServeConfig(kv_blocks=8)
    assert simulate_serving(a[:100], ToyCosts(), cfg).to_dict() == simulate_serving(b[:100], ToyCosts(), cfg).to_dict()


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(rate_per_s=-1.0), "`rate_per_s` must be a positive finite number, not -1.0"),
    (dict(rate_per_s=float("nan")), "`rate_per_s` must be a positive finite number, not nan"),
    (dict(count=0), "`count` must be an integer from 1 to 1,000,000, not 0"),
    (dict(input_tokens=(5, 2)), "`input_tokens[1]` must be an integer from 5 to 10,000,000, not 2"),
    (dict(output_tokens=(1, 2, 3)), "`output_tokens` must be an integer or a (low, high) pair, not 3 values"),
    (dict(output_tokens=0), "`output_tokens` must be an integer from 1"),
    (dict(seed=-1), "`seed` must be an integer from 0"),
    (dict(rate_per_s=1e-12), "`rate_per_s` is too low for 10 requests: the last would arrive after 1e+09 s"),
])
def test_poisson_trace_errors(kwargs: dict, message: str) -> None:
    args: dict = dict(rate_per_s=1.0, count=10, input_tokens=8, output_tokens=8, seed=0) | kwargs
    with pytest.raises(SpecError) as err:
        poisson_trace(args.pop("rate_per_s"), args.pop("count"), **args)
    assert str(err.value).startswith(message)
