"""Draws docs/benchmarks.png from the numbers bench/run.js measured (bench/.work/results.json).

Usage: ``.venv/bin/python bench/chart.py bench/.work/results.json docs/benchmarks.png``
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
from matplotlib.axes import Axes

RUNTIMES = ["chori", "chori-batch", "python", "ort-sharp"]
LABELS = {
    "chori": "chori-torch",
    "chori-batch": "chori-torch batch",
    "python": "Python reference",
    "ort-sharp": "onnxruntime-node + sharp",
}
COLORS = {"chori": "#1f77b4", "chori-batch": "#9ecae1", "python": "#ff7f0e", "ort-sharp": "#2ca02c"}
CONCURRENCY = [1, 4, 16, 64]


def bars(
    ax: Axes,
    groups: list[int],
    series: list[str],
    values: Callable[[str, int], float],
    ylabel: str,
    title: str,
) -> None:
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ys = [values(name, g) for g in groups]
        rects = ax.bar(xs, ys, width, label=LABELS.get(name, name), color=COLORS.get(name))
        ax.bar_label(rects, fmt="%.3g", fontsize=6, padding=1)
    ax.set_xticks(range(len(groups)), [str(g) for g in groups])
    finite = [v for name in series for g in groups if (v := values(name, g)) and v > 0]
    if finite and max(finite) / min(finite) > 20:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    models = list(results["models"])
    fig, axes = plt.subplots(len(models), 3, figsize=(15, 4.2 * len(models)), squeeze=False)
    node_runtimes = [rt for rt in RUNTIMES if rt != "python"]
    # (metric key in the summary, runtimes shown, y label, title) per column.
    panels = [
        ("throughput", RUNTIMES, "images / s", "end-to-end throughput by concurrency"),
        ("p99", RUNTIMES, "ms", "latency p99 by concurrency"),
        ("eldP99", node_runtimes, "ms", "event-loop delay p99 (1 ms timer)"),
    ]
    for row, model in enumerate(models):
        summary = results["models"][model]["summary"]
        for ax, (key, series, ylabel, title) in zip(axes[row], panels, strict=True):
            bars(
                ax, CONCURRENCY, series,
                # A cell that completed no call has no latency (null in the JSON): drawn as 0.
                lambda rt, c, key=key, summary=summary: summary[f"{rt}@{c}"][key] or 0.0,
                ylabel, f"{model}: {title}",
            )  # fmt: skip
            ax.set_xlabel("concurrent callers")
        axes[row][2].axhline(5, color="red", linestyle="--", linewidth=1, label="goal: 5 ms")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for handle, label in zip(*axes[0][2].get_legend_handles_labels(), strict=True):
        if label.startswith("goal"):
            handles.append(handle)
            labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=9, frameon=False)
    machine = results["machine"]
    fig.suptitle(
        f"chori-torch benchmarks, {results['date']} — {machine['cpu']}, {machine['nproc']} CPUs, "
        f"{results['threads']} intra-op threads",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
