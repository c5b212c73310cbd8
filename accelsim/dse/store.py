"""The results store: SQLite in ``DIR/results.sqlite``, one row per evaluated point.

A row is keyed by a digest of (point, workload, base architecture, energy table, model fingerprint)
and written as soon as its result arrives, in its own transaction: a run killed at any moment
keeps every finished point, and ``--resume`` recomputes none of them. Only the coordinating
process writes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ..arch.config import stable_digest
from ..errors import OutputError

SCHEMA = "CREATE TABLE IF NOT EXISTS points (key TEXT PRIMARY KEY, seq INTEGER, point TEXT, result TEXT)"
# what the run was asked (axes, objectives, what its numbers depend on): a resume must ask the same
SETTINGS_SCHEMA = "CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT)"
# each distinct per-layer mapping choice once; a point's mapping is the list of its layers' choice numbers
CHOICES_SCHEMA = "CREATE TABLE IF NOT EXISTS choices (id INTEGER PRIMARY KEY, choice TEXT UNIQUE)"
# each distinct whole mapping once, as its layers' choice numbers in the store's layer order ("3,3,7,...")
MAPPINGS_SCHEMA = "CREATE TABLE IF NOT EXISTS mappings (id INTEGER PRIMARY KEY, ids TEXT UNIQUE)"
MAPPED = "#"  # a point's mapping as the number of its row in `mappings` ("#12")
PACKED = "@"  # a mapping packed in the point's own row ("@3,3,7,..."), as stores before `mappings` kept it


def point_key(point: dict[str, Any], context: dict[str, Any]) -> str:
    """The store key of a point in a run's context (workload, base arch, table, model fingerprint)."""
    return stable_digest({"point": point, "context": context})


class Store:
    """Append-only results keyed by :func:`point_key`."""

    def __init__(self, path: Path):
        self.path = path
        db = None
        try:
            db = sqlite3.connect(path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
            db.execute(SETTINGS_SCHEMA)
            db.execute(CHOICES_SCHEMA)
            db.execute(MAPPINGS_SCHEMA)
            db.commit()
            db.execute("SELECT key, seq, point, result FROM points LIMIT 1").fetchall()
        except sqlite3.Error as err:
            if db is not None:
                db.close()
            reason = "cannot write there" if "unable to open" in str(err) or "readonly" in str(err) else \
                "not an accelsim dse store"
            raise OutputError(f"{path}: {reason} ({err})") from None
        self.db = db
        self.choice_ids = {c: i for i, c in db.execute("SELECT id, choice FROM choices")}
        self.choices = {i: json.loads(c) for c, i in self.choice_ids.items()}
        self.mapping_ids = {t: i for i, t in db.execute("SELECT id, ids FROM mappings")}
        self.mappings = {i: t for t, i in self.mapping_ids.items()}
        self._whole: dict[int, dict[str, Any]] = {}  # unpacked mappings, one dict per distinct mapping
        self._texts: dict[tuple, str] = {}  # a choice's JSON by its items (json.dumps per layer per point was slow)
        row = db.execute("SELECT value FROM settings WHERE name = 'mapping_layers'").fetchone()
        self.layers: list[str] | None = json.loads(row[0]) if row else None

    def pack(self, result: dict[str, Any], memo: dict[int, str] | None = None) -> dict[str, Any]:
        """``result`` with its per-layer mapping as the number of a distinct mapping (each stored once, as its
        layers' choice numbers; each distinct choice stored once): a point's row holds what identifies and
        ranks it. ``memo`` remembers mappings already packed by their identity (the rows of one chunk share
        their mapping objects), for as long as the caller holds them."""
        mapping = result.get("mapping")
        if not isinstance(mapping, dict) or not mapping:
            return result
        if memo is not None and id(mapping) in memo:
            return result | {"mapping": memo[id(mapping)]}
        if self.layers is None:
            self.layers = list(mapping)
            self.db.execute("INSERT OR REPLACE INTO settings VALUES ('mapping_layers', ?)", (json.dumps(self.layers),))
        if list(mapping) != self.layers:  # another layer set (not expected in one run): kept whole
            return result
        ids = []
        for choice in mapping.values():
            try:
                text = self._texts[tuple(choice.items())]
            except (KeyError, TypeError):  # new, or a value that does not hash (then never cached)
                text = json.dumps(choice, sort_keys=True)
                try:
                    self._texts[tuple(choice.items())] = text
                except TypeError:
                    pass
            if text not in self.choice_ids:
                self.choice_ids[text] = self.db.execute("INSERT INTO choices (choice) VALUES (?)", (text,)).lastrowid
                self.choices[self.choice_ids[text]] = choice
            ids.append(str(self.choice_ids[text]))
        packed = ",".join(ids)
        if packed not in self.mapping_ids:
            number = self.db.execute("INSERT INTO mappings (ids) VALUES (?)", (packed,)).lastrowid
            self.mapping_ids[packed], self.mappings[number] = number, packed
        reference = f"{MAPPED}{self.mapping_ids[packed]}"
        if memo is not None:
            memo[id(mapping)] = reference
        return result | {"mapping": reference}

    def unpack(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result as it was stored by :meth:`pack`, its mapping whole again (points with the same mapping
        share one dict: read it, do not change it)."""
        mapping = result.get("mapping")
        if not isinstance(mapping, str) or self.layers is None:
            return result
        if mapping.startswith(MAPPED):
            number = int(mapping[len(MAPPED):])
            if number not in self._whole:
                self._whole[number] = self._expand(self.mappings[number])
            return result | {"mapping": self._whole[number]}
        if mapping.startswith(PACKED):
            return result | {"mapping": self._expand(mapping[len(PACKED):])}
        return result

    def _expand(self, packed: str) -> dict[str, Any]:
        assert self.layers is not None
        return {layer: self.choices[int(i)] for layer, i in zip(self.layers, packed.split(","))}

    def put_many(self, rows: list[tuple[str, int, dict[str, Any], dict[str, Any]]]) -> None:
        """Store ``(key, seq, point, result)`` rows in one transaction: a kill loses at most the chunk in flight."""
        try:
            memo: dict[int, str] = {}  # valid while `rows` holds the results
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?)",
                                    [(key, seq, json.dumps(point, sort_keys=True, separators=(",", ":")),
                                      json.dumps(self.pack(result, memo), sort_keys=True, separators=(",", ":")))
                                     for key, seq, point, result in rows])
        except sqlite3.Error as err:  # a full disk, a file removed under us
            raise OutputError(f"{self.path}: cannot write the store ({err}); finished points are kept") from None

    def results(self) -> dict[str, dict[str, Any]]:
        """Every stored result by key."""
        try:
            return {key: self.unpack(json.loads(r)) for key, r in self.db.execute("SELECT key, result FROM points")}
        except (ValueError, TypeError, KeyError, sqlite3.Error) as err:
            raise OutputError(f"{self.path}: not an accelsim dse store (a result is not JSON: {err})") from None

    def rows(self) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        """Every stored ``(seq, point, result)``, in the space's order."""
        return [(seq, json.loads(p), self.unpack(json.loads(r)))
                for seq, p, r in self.db.execute("SELECT seq, point, result FROM points ORDER BY seq")]

    def settings(self) -> dict[str, Any] | None:
        """The settings the run that made this store was given (None: a store from before they were kept)."""
        row = self.db.execute("SELECT value FROM settings WHERE name = 'run'").fetchone()
        return json.loads(row[0]) if row else None

    def keep_settings(self, settings: dict[str, Any]) -> None:
        """Record the run's settings, or refuse (one line) a resume whose settings differ from the stored ones:
        the store would hold two runs' rows under one name."""
        stored = self.settings()
        plain = json.loads(json.dumps(settings, sort_keys=True, default=str))
        if stored is not None and stored != plain:
            what, then, now = _first_difference(stored, plain)
            raise OutputError(f"{self.path.parent}: --resume with other settings than the stored run's ({what}: "
                              f"{_shown(then)} then, {_shown(now)} now): run them in another folder, or pass --force "
                              "to replace the stored run")
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO settings VALUES ('run', ?)", (json.dumps(plain, sort_keys=True),))

    def canonical(self) -> None:
        """Number the choices in the order of their text, then the mappings in the order of theirs, whatever
        order the points arrived in (serial or from a cluster): the same run gives the same store, byte for byte."""
        choice_order = {text: i for i, text in enumerate(sorted(self.choice_ids), start=1)}
        new_choice = {self.choice_ids[text]: i for text, i in choice_order.items()}

        def renumbered(packed: str) -> str:
            return ",".join(str(new_choice[int(i)]) for i in packed.split(","))

        texts = {number: renumbered(packed) for packed, number in self.mapping_ids.items()}
        mapping_order = {text: i for i, text in enumerate(sorted(texts.values()), start=1)}
        new_mapping = {number: mapping_order[text] for number, text in texts.items()}
        if all(old == new for old, new in (*new_choice.items(), *new_mapping.items())):
            return
        updates = []
        for key, text in self.db.execute("SELECT key, result FROM points"):
            result = json.loads(text)
            mapping = result.get("mapping")
            if isinstance(mapping, str) and mapping.startswith(MAPPED):
                mapping = f"{MAPPED}{new_mapping[int(mapping[len(MAPPED):])]}"
            elif isinstance(mapping, str) and mapping.startswith(PACKED):
                mapping = PACKED + renumbered(mapping[len(PACKED):])
            else:
                continue
            updates.append((json.dumps(result | {"mapping": mapping}, sort_keys=True, separators=(",", ":")), key))
        with self.db:
            self.db.executemany("UPDATE points SET result = ? WHERE key = ?", updates)
            self.db.execute("DELETE FROM choices")
            self.db.executemany("INSERT INTO choices VALUES (?, ?)", [(i, text) for text, i in choice_order.items()])
            self.db.execute("DELETE FROM mappings")
            self.db.executemany("INSERT INTO mappings VALUES (?, ?)", [(i, text) for text, i in mapping_order.items()])
        self.choice_ids = dict(choice_order)
        self.choices = {i: json.loads(text) for text, i in choice_order.items()}
        self.mapping_ids = dict(mapping_order)
        self.mappings = {i: text for text, i in mapping_order.items()}
        self._whole.clear()

    def close(self) -> None:
        try:
            self.canonical()
        except sqlite3.Error:  # a full disk or a removed file: the store stays as it was written, still readable
            pass
        self.db.close()


def _first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any]:
    """The dotted path of the first place two JSON values differ, and the two values there.

    >>> _first_difference({"x": {"y": 1, "z": 2}}, {"x": {"y": 1, "z": 3}})
    ('x.z', 2, 3)
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
    return path or "settings", a, b


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
