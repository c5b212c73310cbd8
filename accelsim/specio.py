"""Strict YAML loading and typed field reading shared by every spec format.

YAML is parsed with duplicate keys rejected; mappings remember the line of each key so that
:class:`Fields` can name ``file:line: `path` reason`` in every :class:`~accelsim.errors.SpecError`.
"""

from __future__ import annotations

import builtins
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import SpecError, did_you_mean

if TYPE_CHECKING:  # the C loader (when libyaml is there) has the pure-Python one's interface
    _BaseLoader = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# An alias repeats its anchor's whole subtree, so a few lines of nested anchors can stand for billions
# of values (an "alias bomb") that only blow up later, when a report walks them. The largest real spec
# (a workload of thousands of layers) expands to well under a million values; refuse anything larger.
MAX_YAML_VALUES = 1_000_000


class LineDict(dict):
    """A dict that remembers the 1-based source line of itself and of each key."""

    line: int | None = None
    key_lines: dict


# Characters that change what a terminal shows rather than showing themselves: C0/C1 controls (tab,
# newline, escape sequences) and the bidirectional overrides that can make text read backwards.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _bound(x: float) -> str:
    """A range end as people write it: ``1,073,741,824`` rather than ``1.07374e+09``; ``0.001`` as is."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def is_unprintable(ch: str) -> bool:
    r"""True for a control character or a bidirectional override.

    Examples
    --------
    >>> [is_unprintable(c) for c in "a\t名\u202e"]
    [False, True, False, True]
    """
    return ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc"


def printable(text: str) -> str:
    r"""``text`` with each unprintable character written as its escape, for tables and messages.

    Examples
    --------
    >>> printable("tab\there")
    'tab\\there'
    """
    return "".join(ch.encode("unicode_escape").decode() if is_unprintable(ch) else ch for ch in text)


def plain(value: Any) -> Any:
    """``value`` with every :class:`LineDict` inside it turned into a plain dict (so it can be dumped).

    Examples
    --------
    >>> type(plain(LineDict(a=[LineDict()]))["a"][0])
    <class 'dict'>
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class _StrictLoader(_BaseLoader):
    pass


# YAML 1.1 (PyYAML) reads 1e3 and 1.5e3 as text, because its floats need a dot and a signed exponent;
# read them as numbers, as YAML 1.2 and every user do.
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                                    list("-+0123456789."))


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise SpecError(f"mapping keys must be plain scalars, not {type(key).__name__}",
                            file=loader.name, line=line)
        if key in out:
            raise SpecError(f"duplicate key '{key}' (first on line {out.key_lines[key]})",
                            file=loader.name, line=line)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str | bytes, file: str | None = None) -> Any:
    """Parse YAML strictly: duplicate keys and syntax errors raise :class:`SpecError`.

    Examples
    --------
    >>> load_yaml("a: 1\\nb: [2, 3]")
    {'a': 1, 'b': [2, 3]}
    >>> load_yaml("a: 1\\na: 2", "x.yaml")
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: x.yaml:2: duplicate key 'a' (first on line 1)
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SpecError(f"is not UTF-8 text ({err.reason} at byte {err.start})", file=file) from None
    loader = _StrictLoader(text)
    loader.name = file
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set(), file)
        return loader.construct_document(node)
    except SpecError:
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        reason = err.problem or err.context or "invalid YAML"
        raise SpecError(f"invalid YAML: {reason}", file=file,
                        line=mark.line + 1 if mark else None) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as err:
        raise SpecError(f"invalid YAML: {type(err).__name__}: {err}".splitlines()[0], file=file) from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict, active: set, file: str | None) -> int:
    """Values ``node`` stands for with every alias expanded; over :data:`MAX_YAML_VALUES` is an error."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in active:  # a recursive alias: the constructor reports it
        return 1
    active.add(id(node))
    size = 1
    if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
        for child in node.value:
            for sub in (child if isinstance(child, tuple) else (child,)):
                size += _expanded_size(sub, sizes, active, file)
    if size > MAX_YAML_VALUES:
        raise SpecError(f"invalid YAML: its aliases expand to more than {MAX_YAML_VALUES:,} values "
                        "(limit: accelsim.specio.MAX_YAML_VALUES)", file=file, line=node.start_mark.line + 1)
    active.discard(id(node))
    sizes[id(node)] = size
    return size


MAX_SPEC_BYTES = 64 * 2**20  # far above any real spec; stops a device like /dev/zero from filling memory


class JsonRefusal(ValueError):
    """Strict JSON that :mod:`json` accepts: a repeated key, or NaN/Infinity (not JSON numbers)."""


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses duplicate keys and NaN/Infinity with a :class:`JsonRefusal` (a ValueError;
    malformed text is ``json``'s own JSONDecodeError): the one strict JSON reader of model configs and traces.

    Examples
    --------
    >>> strict_json('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    accelsim.specio.JsonRefusal: duplicate key 'a'
    """
    import json

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise JsonRefusal(f"duplicate key '{printable(key[:40])}'")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise JsonRefusal(f"{name} is not a JSON number")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def read_input(path: str | Path, *, limit: int = MAX_SPEC_BYTES, what: str = "file") -> bytes:
    """The bytes of an input file, refused with a :class:`SpecError` if unreadable or over ``limit`` bytes.

    Examples
    --------
    >>> read_input("/dev/zero", limit=10)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: /dev/zero: is larger than 10 bytes, the limit for a file
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        raise SpecError(f"cannot read file: {err.strerror}", file=str(path)) from None
    if len(data) > limit:
        raise SpecError(f"is larger than {limit:,} bytes, the limit for a {what}", file=str(path))
    return data


def read_yaml_file(path: str | Path) -> Any:
    """Read and strictly parse a YAML file; a missing, unreadable or huge file is a :class:`SpecError`."""
    data = read_input(path, what="YAML spec")
    return load_yaml(data, str(path))


class Fields:
    """Typed, strict access to one mapping of a spec.

    Every getter records the key as used; :meth:`done` rejects any key never asked for.

    Examples
    --------
    >>> f = Fields({"rows": 4, "cols": 0}, where="ArrayConfig")
    >>> f.int("rows")
    4
    >>> f.int("cols")
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: `ArrayConfig.cols` must be a positive integer, not 0
    """

    def __init__(self, data: Any, *, where: str, file: str | None = None, line: int | None = None):
        self.where, self.file = where, file
        if not isinstance(data, Mapping):
            raise SpecError(f"must be a mapping, not {_describe(data)}", file=file, path=where,
                            line=line)
        self.data = data
        self.line = getattr(data, "line", None) or line
        self._used: set = set()

    # -- plumbing ---------------------------------------------------------------------------
    def path(self, key: str) -> str:
        key = printable(str(key))  # a key is user text: a newline in it must not break the one-line error
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str | None, message: str) -> SpecError:
        lines = getattr(self.data, "key_lines", {})
        line = lines.get(key, self.line) if key is not None else self.line
        return SpecError(message, file=self.file, path=self.path(key) if key else self.where,
                         line=line)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = ...) -> Any:
        self._used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(None, f"is missing the required key '{key}'")
            return default
        return self.data[key]

    def done(self) -> None:
        """Raise on the first key that no getter asked for."""
        for key in self.data:
            if key not in self._used:
                raise self.error(key, "is not a known key" + did_you_mean(str(key), self._used))

    def sub(self, key: str, default: Any = ...) -> Fields:
        value = self.raw(key, default)
        lines = getattr(self.data, "key_lines", {})
        return Fields(value, where=self.path(key), file=self.file, line=lines.get(key, self.line))

    # -- typed getters ----------------------------------------------------------------------
    def int(self, key: str, default: Any = ..., *, minimum: int = 1, maximum: int | None = None) -> int:
        value = self.raw(key, default)
        if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
                or (maximum is not None and value > maximum)):
            kind = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
            if maximum is not None:
                kind = f"an integer in [{minimum}, {maximum}]"
            raise self.error(key, f"must be {kind}, not {_describe(value)}")
        return value

    def number(self, key: str, default: Any = ..., *, low: float = 0.0, high: float = math.inf,
               low_open: bool = True) -> float:
        value = self.raw(key, default)
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) and (value > low if low_open else value >= low)
              and value <= high)
        if not ok:  # inf and nan are never accepted, so an unbounded range is said without "inf"
            kind = (f"a finite number {'>' if low_open else '≥'} {_bound(low)}" if high == math.inf
                    else f"a number in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}]")
            raise self.error(key, f"must be {kind}, not {_describe(value)}")
        return float(value)

    def bool(self, key: str, default: Any = ...) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_describe(value)}")
        return value

    def str(self, key: str, default: Any = ..., *, choices: Iterable[str] | None = None) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a non-empty string, not {_describe(value)}")
        if any(map(is_unprintable, value)):
            raise self.error(key, f"must not contain control characters, not '{printable(value)}'")
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                raise self.error(key, f"must be one of {', '.join(choices)}, not '{value}'"
                                 + did_you_mean(value, choices))
        return value

    # (in this class body ``int`` and ``str`` name the methods above: annotations spell the builtins)
    def int_tuple(self, key: builtins.str, length: builtins.int | tuple[builtins.int, ...], default: Any = ..., *,
                  minimum: builtins.int = 1) -> tuple[builtins.int, ...]:
        """An int broadcast to ``length``, or a list of one of the allowed lengths."""
        value = self.raw(key, default)
        lengths = (length,) if isinstance(length, int) else length
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value] * lengths[0]
        ok = (isinstance(value, (list, tuple)) and len(value) in lengths
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value))
        if not ok:
            kind = "positive integers" if minimum == 1 else f"integers ≥ {minimum}"
            sizes = " or ".join(str(n) for n in lengths)
            raise self.error(key, f"must be an integer or a list of {sizes} {kind}, not {_describe(value)}")
        return tuple(value)


def _describe(value: Any, depth: int = 0) -> str:
    if depth > 2:
        return "..."
    if isinstance(value, str):
        return repr(value) if len(value) < 40 else repr(value[:37] + "...")
    if isinstance(value, (bool, int, float)) or value is None:
        return "null" if value is None else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v, depth + 1) for v in value[:4]) + (", ...]" if len(value) > 4 else "]")
    return f"a {type(value).__name__}"
