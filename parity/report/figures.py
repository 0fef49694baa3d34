"""Plots (matplotlib, Agg backend) returned as compressed PNG bytes, so one figure serves both the
markdown report (written next to it) and the self-contained HTML (embedded).

What a reader can rely on in every plot:
- 100 dpi, fonts of at least 9 pt at the size the image is shown (the HTML shows it 1:1 up to the
  page width), the title above the panels and the legends below them (never over the data);
- optimizer steps on integer ticks; a log axis wherever the values span more than two decades
  (errors always; the loss when it does);
- the tolerance drawn as a shaded band that follows the rule row by row (rtol * sqrt(t), a stated
  deviation's own rtol), so a curve inside the band passed;
- parameters whose rows were excused as noise (``parity.noise``) drawn apart, grey and dotted,
  and named in the legend; the torch-keras pair of a convention case drawn dashed (compared to
  nothing: each framework is checked against its scratchnet twin instead);
- the first step at which a pair left the band marked with a vertical line and its step number.

Rendering is deterministic: values are rounded to 2 significant digits before plotting (the last
float32 digits differ from run to run and machine to machine), no metadata with dates or versions
is written, and the PNG is quantized to a fixed 64-colour palette.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# Okabe-Ito, one colour per framework and pair (colour-blind safe); line styles differ as well.
COLORS = {"scratch": "#009E73", "torch": "#D55E00", "keras": "#0072B2", "scratch[torch]": "#CC79A7"}
PAIR_COLORS = {"scratch-torch": "#D55E00", "scratch-keras": "#0072B2", "torch-keras": "#000000",
               "scratch[torch]-torch": "#CC79A7", "scratch-fd": "#E69F00"}
STYLES = {"scratch": "-", "torch": "--", "keras": ":", "scratch[torch]": "-."}
NOISE_COLOR = "#999999"
DPI = 100
FONT = 9
STYLE = {"font.size": FONT, "axes.titlesize": FONT + 1, "axes.labelsize": FONT, "xtick.labelsize": FONT,
         "ytick.labelsize": FONT, "legend.fontsize": FONT, "figure.titlesize": FONT + 2, "svg.hashsalt": "parity",
         "path.simplify": True}


def round2(values) -> np.ndarray:
    """Values rounded to 2 significant digits (what is stable across runs and machines)."""
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    ok = np.isfinite(v) & (v != 0)
    exp = np.floor(np.log10(np.abs(v[ok])))
    out[ok] = np.round(v[ok] / 10 ** exp, 1) * 10 ** exp
    return out


def png(fig) -> bytes:
    """The figure as a palette PNG (64 colours, no metadata): small and byte-stable."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    small = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _spans_decades(values, decades: float = 2.0) -> bool:
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v) & (v > 0)]
    return len(v) > 1 and np.log10(v.max() / v.min()) > decades


def _step_axis(ax, last_step: int) -> None:
    if last_step > 50:
        ax.set_xscale("log")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, max(last_step, 1) + 0.5)


def _legend_below(ax, ncol: int = 1) -> None:
    """The axes' legend under it (never over the data), long labels wrapped to the panel's width."""
    import textwrap

    handles, labels = ax.get_legend_handles_labels()
    if handles:
        labels = ["\n".join(textwrap.wrap(l, 44 // ncol + 6)) for l in labels]
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False)


PANEL = (4.2, 3.9)  # inches: 420 px wide at 100 dpi, two side by side on a desktop, stacked on a phone


def trajectory(res) -> bytes:
    """Per pair, the worst relative difference of the weights after each optimizer step (log
    axis) over the tolerance band; noise parameters apart; the step at which a pair parted marked."""
    import pandas as pd

    df = pd.DataFrame(res.rows)
    steps = df[df.quantity.isin(["step", "state"])] if len(df) else df
    floor = float(np.finfo(res.spec.dtype).eps) / 100  # zeros drawn here (log axis)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=PANEL, layout="constrained")
        last = int(steps.step.max()) if len(steps) else 1
        parted: dict[int, list[str]] = {}
        if len(steps):
            noise_tensors = sorted(set(steps.tensor[steps.status == "noise"]))
            compared = steps[~steps.tensor.isin(noise_tensors)]
            strict = compared[compared.status != "convention"]
            if len(strict):
                tol = strict.groupby("step").tolerance.max()
                ax.fill_between(tol.index, floor, round2(tol.values), color="#dddddd", step="mid",
                                label="tolerance band (passes inside)", zorder=0)
            for (a, b), group in compared.groupby(["backend_a", "backend_b"], sort=False):
                pair = f"{a}-{b}"
                convention = (group.status == "convention").all()
                worst = group.groupby("step").max_rel.max()
                ax.plot(worst.index, np.maximum(round2(worst.values), floor), marker=".",
                        color=PAIR_COLORS.get(pair, "#56B4E9"), linestyle="--" if convention else "-", linewidth=1.3,
                        label=pair + (" (convention, by definition)" if convention else ""))
                bad = group[~group.passed.astype(bool)]
                if len(bad) and not convention:
                    parted.setdefault(int(bad.step.min()), []).append(pair)
            for i, (tensor, group) in enumerate(steps[steps.tensor.isin(noise_tensors)].groupby("tensor", sort=True)):
                worst = group.groupby("step").max_rel.max()
                ax.plot(worst.index, np.maximum(round2(worst.values), floor), color=NOISE_COLOR, linestyle=":",
                        marker="x", markersize=4, linewidth=1,
                        label=f"noise, excused: {', '.join(noise_tensors)}" if i == 0 else None)
        for t, pairs in sorted(parted.items()):
            ax.axvline(t, color="#8a1c00", linestyle=":", linewidth=1.2)
            ax.annotate(f" parted at step {t}: {', '.join(pairs)}", (t, 0.02), xycoords=("data", "axes fraction"),
                        ha="left", va="bottom", rotation=90, color="#8a1c00")
        ax.set_yscale("log")
        _step_axis(ax, last)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("max |a - b| / max |ref|")
        ax.set_title(f"{res.spec.name} ({res.spec.dtype}): weights", loc="left")
        _legend_below(ax)
        return png(fig)


def losses(res) -> bytes:
    """The frameworks' loss before each step, overlaid (log axis when it spans decades)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=PANEL, layout="constrained")
        curves = []
        for name, r in res.results.items():
            values = np.asarray(r.losses, dtype=np.float64)
            curves.append(values)
            ax.plot(np.arange(1, len(values) + 1), round2(values), label=name, color=COLORS.get(name),
                    linestyle=STYLES.get(name, "-"), linewidth=1.4)
        every = np.concatenate(curves) if curves else np.zeros(0)
        if len(every) and np.all(every > 0) and _spans_decades(every):
            ax.set_yscale("log")
        _step_axis(ax, max((len(v) for v in curves), default=1))
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss before the step")
        ax.set_title(f"{res.spec.name} ({res.spec.dtype}): loss", loc="left")
        _legend_below(ax, ncol=2)
        return png(fig)


def tutorial_losses(results) -> bytes:
    """The tutorial's loss curves in every framework, one panel per dtype (log axes: 1500 steps,
    four decades of loss)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.4), squeeze=False,
                                 layout="constrained")
        for ax, res in zip(axes[0], results):
            for name in ("scratch", "torch", "keras"):
                r = res.results[name]
                ax.plot(np.arange(1, len(r.losses) + 1), round2(r.losses), label=name, color=COLORS[name],
                        linewidth=1.4, linestyle=STYLES[name])
            ax.set_yscale("log")
            _step_axis(ax, len(res.results["scratch"].losses))
            ax.set_title(f"{res.spec.name} ({res.spec.dtype})")
            ax.set_xlabel("iteration")
            ax.set_ylabel("sum of squared errors")
            _legend_below(ax, ncol=3)
        return png(fig)
