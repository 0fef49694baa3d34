"""Plots (matplotlib, Agg backend) returned as PNG bytes, so one figure serves both the markdown
report (written next to it) and the self-contained HTML (embedded)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLORS = {"scratch": "#1b9e77", "torch": "#d95f02", "keras": "#7570b3", "scratch[torch]": "#66a61e"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def trajectory_and_losses(res) -> bytes:
    """Left: the worst relative difference of the weights after each optimizer step, per pair
    (log scale), with the tolerance rule. Right: the three frameworks' loss curves overlaid."""
    import pandas as pd

    df = pd.DataFrame(res.rows)
    steps = df[df.quantity.isin(["step", "state"])]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
    for (a, b), group in steps.groupby(["backend_a", "backend_b"]):
        worst = group.groupby("step").max_rel.max()
        label = f"{a}-{b}" + (" (convention)" if (group.status == "convention").any() else
                              " (noise)" if (group.status == "noise").any() else "")
        ax1.semilogy(worst.index, np.maximum(worst.values, 1e-18), marker=".", label=label)
    if len(steps):
        tol = steps[~steps.status.isin(["convention", "noise"])].groupby("step").tolerance.max()
        ax1.semilogy(tol.index, tol.values, "k--", linewidth=1, label="tolerance")
    if len(steps) and steps.step.max() > 50:
        ax1.set_xscale("log")
    ax1.set_xlabel("optimizer step")
    ax1.set_ylabel("max |a-b| / max |ref|")
    ax1.set_title("trajectory: weights after each step", fontsize=9)
    if ax1.get_legend_handles_labels()[0]:  # a case diverged at step 1 has no step rows
        ax1.legend(fontsize=7)
    for name, r in res.results.items():
        ax2.plot(np.arange(1, len(r.losses) + 1), r.losses, label=name, color=COLORS.get(name),
                 linestyle="--" if name == "scratch[torch]" else "-", linewidth=1.2)
    ax2.set_xlabel("step")
    ax2.set_ylabel("loss")
    ax2.set_title("loss before each step", fontsize=9)
    if len(next(iter(res.results.values())).losses) > 50:
        ax2.set_xscale("log")
    ax2.legend(fontsize=7)
    fig.suptitle(f"{res.spec.name} ({res.spec.dtype})", fontsize=10)
    return _png(fig)


def tutorial_losses(results) -> bytes:
    """The tutorial's loss curves in every framework, one panel per dtype."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3), squeeze=False)
    for ax, res in zip(axes[0], results):
        for name in ("scratch", "torch", "keras"):
            r = res.results[name]
            ax.semilogy(np.arange(1, len(r.losses) + 1), r.losses, label=name, color=COLORS[name], linewidth=1.2,
                        linestyle={"scratch": "-", "torch": "--", "keras": ":"}[name])
        ax.set_title(f"{res.spec.name} ({res.spec.dtype})", fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("sum of squared errors")
        ax.legend(fontsize=7)
    return _png(fig)
