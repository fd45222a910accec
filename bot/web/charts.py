"""Charts the bot sends (matplotlib, Agg backend, no display): rendered in a worker
thread (``asyncio.to_thread``) so the event loop never waits on them."""

from __future__ import annotations

import io

from ..store.db import Stats, StatLine

__all__ = ["REPORT_MEAN", "stats_chart"]

#: The AdaIN report's bot survey: 52 people, 10 content-style pairs, mean 7.3 of 10.
REPORT_MEAN = 7.3


def _bars(ax, items: list[tuple[str, StatLine]], title: str) -> None:
    names = [name for name, _ in items]
    means = [line.mean or 0.0 for _, line in items]
    # the interval, clipped to the scale's 1-10 (a mean of 3 ratings can have ± 6)
    lo = [min(line.ci95 or 0.0, m - 1.0) if m else 0.0 for m, (_, line) in zip(means, items)]
    hi = [min(line.ci95 or 0.0, 10.0 - m) if m else 0.0 for m, (_, line) in zip(means, items)]
    y = range(len(items))
    ax.barh(list(y), means, xerr=[lo, hi], color="#4c72b0", alpha=0.85, capsize=3)
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 10.5)
    ax.axvline(REPORT_MEAN, color="#c44e52", linestyle="--", linewidth=1)
    for i, (_, line) in enumerate(items):
        ax.text(0.15, i, f"n={line.count}", va="center", ha="left", fontsize=7, color="white")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("mean rating (1-10), 95 % interval", fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def stats_chart(stats: Stats, method_names: dict[str, str], preset_names: dict[str, str]) -> bytes:
    """A PNG: mean rating with its 95 % confidence interval and the count, per method, per
    preset and per method in /survey (method hidden), the report's survey mean (7.3) as a
    dashed line. Call it in a thread."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    panels = []
    methods = [(method_names.get(m, m), line) for m, line in stats.per_method.items()]
    if methods:
        panels.append((methods, f"Results by method ({stats.overall.count} ratings; dashed: the AdaIN report's "
                                f"survey, {REPORT_MEAN})"))
    presets = [(preset_names.get(p, p), line) for p, line in stats.per_preset.items()]
    if presets:
        panels.append((presets, "Results by preset"))
    survey = [(method_names.get(m, m), line) for m, line in stats.survey.items()]
    if survey:
        panels.append((survey, f"/survey by method, method hidden ({sum(line.count for _, line in survey)} "
                               f"answers; dashed: the report's {REPORT_MEAN})"))
    if not panels:
        panels.append(([], "No ratings yet"))
    rows = sum(max(1, len(items)) for items, _ in panels)
    fig = Figure(figsize=(7, 0.8 + 0.32 * rows + 0.9 * len(panels)), dpi=110)
    axes = fig.subplots(len(panels), 1, height_ratios=[max(1, len(items)) for items, _ in panels], squeeze=False)
    for ax, (items, title) in zip(axes[:, 0], panels):
        if items:
            _bars(ax, items, title)
        else:
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
