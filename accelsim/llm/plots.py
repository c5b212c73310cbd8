"""Figures of LLM runs (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tpot_figure(result: Any, path: Path) -> None:
    """Decode step time against the KV length (ms per token)."""
    from ..atomic import atomic_path

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    kv = [result.prompt + i for i in range(len(result.decode_cycles))]
    ax.plot(kv, [result.seconds(c) * 1e3 for c in result.decode_cycles], lw=1.2)
    ax.set_xlabel("KV length (tokens)")
    ax.set_ylabel("time per output token (ms)")
    ax.set_title(f"{result.model} on {result.system}, batch {result.batch}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def serving_figure(series: Any, capacity: int, path: Path, title: str) -> None:
    """The KV cache's share in use and the running sequences over time (a :class:`~accelsim.serve.Series`
    and the cache's capacity in blocks)."""
    from ..atomic import atomic_path

    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 4.5), sharex=True)
    top.plot(series.time_s, [used / capacity for used in series.kv_blocks_used], lw=1)
    top.set_ylabel("KV cache in use")
    top.set_ylim(0, 1.02)
    bottom.step(series.time_s, series.batch_seqs, where="post", lw=1)
    bottom.set_ylabel("running sequences")
    bottom.set_xlabel("time (s)")
    top.set_title(title)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
