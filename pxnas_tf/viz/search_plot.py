"""Search dynamics: how the op probabilities of every block moved during a
search, drawn from the search's ``history.json`` (one entry per finished
epoch, written by `pxnas_tf.search.loop`).

One heat map per searchable block: candidate ops on the y axis, epochs on
the x axis (warm-up epochs labelled ``w1, w2, ...``, search epochs
``1, 2, ...``), colour = probability (0 to 1, shared scale). The most
probable op of the last epoch is outlined. A last panel plots the expected
latency and the holdout top-1 of the argmax arch per epoch, when the
history has them.

    save_search_figure("runs/search/history.json", "dynamics.png")   # or a workdir, .svg / .pdf
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

import numpy as np

from pxnas_tf import fileio
from pxnas_tf.viz.arch_plot import FORMATS

HISTORY_FILE = "history.json"
_COLUMNS = 4


@dataclasses.dataclass(frozen=True)
class Dynamics:
    """The probabilities of a history, arranged for plotting.

    Attributes:
        labels: one x label per epoch (``w1`` for warm-up epoch 1, ``3`` for
            search epoch 3).
        candidates: per block, its candidate ops (y axis).
        probabilities: per block, an array `(num_candidates, num_epochs)`.
        expected_latency: per epoch, E[latency] (None where not recorded).
        holdout_accuracy: per epoch, holdout top-1 of the argmax arch.
        argmax_latency: per epoch, the argmax arch's latency.
        decided: per epoch, the mean over blocks of the largest op
            probability (histories written before it was recorded: None).
    """

    labels: tuple[str, ...]
    candidates: tuple[tuple[str, ...], ...]
    probabilities: tuple[np.ndarray, ...]
    expected_latency: tuple[float | None, ...]
    holdout_accuracy: tuple[float | None, ...]
    argmax_latency: tuple[float | None, ...] = ()
    decided: tuple[float | None, ...] = ()

    @property
    def num_blocks(self) -> int:
        return len(self.candidates)

    def final_argmax(self) -> list[int]:
        """The most probable candidate of every block after the last epoch."""
        return [int(np.argmax(p[:, -1])) for p in self.probabilities]


def _error(message: str) -> Exception:
    """A `SearchError` (imported here: the search package pulls in TensorFlow)."""
    from pxnas_tf.search.errors import SearchError
    return SearchError(message)


def load_history(path: str) -> list[dict]:
    """The entries of a history file, or of ``history.json`` in a search
    workdir.

    Raises:
        SearchError: no such file, or not a search history.
    """
    if os.path.isdir(path):
        path = os.path.join(path, HISTORY_FILE)
    if not os.path.exists(path):
        raise _error(f"search history {path!r} does not exist (a `pxnas search` workdir "
                          f"holds one as {HISTORY_FILE} once its first epoch has finished)")
    try:
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
    except (OSError, ValueError) as e:
        raise _error(f"cannot read search history {path!r}: {e}") from None
    dynamics(history, source=path)  # validates
    return history


def dynamics(history: Sequence[dict], source: str = "history") -> Dynamics:
    """Pure: a history's entries (in epoch order) as a `Dynamics`.

    Raises:
        SearchError: empty, or entries without per-block ``probabilities``
            and ``candidates`` of matching sizes.
    """
    if not isinstance(history, (list, tuple)) or not history:
        what = "an empty list" if isinstance(history, (list, tuple)) else type(history).__name__
        raise _error(f"{source}: expected a non-empty list of epoch entries (the history.json "
                     f"of a search), got {what}")
    entries = sorted(history, key=lambda e: e.get("epoch", 0) if isinstance(e, dict) else 0)
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "probabilities" not in e or "candidates" not in e:
            raise _error(f"{source}: entry {i} has no 'probabilities' / 'candidates' "
                              "(is this a search history.json?)")
    candidates = tuple(tuple(c) for c in entries[0]["candidates"])
    probs = []
    for b, cands in enumerate(candidates):
        columns = []
        for e in entries:
            p = e["probabilities"][b] if b < len(e["probabilities"]) else None
            if p is None or len(p) != len(cands) or len(e["probabilities"]) != len(candidates):
                raise _error(f"{source}: epoch {e.get('epoch')} does not have "
                                  f"{len(candidates)} blocks with {len(cands)} probabilities "
                                  f"in block {b}")
            columns.append(np.asarray(p, np.float64))
        probs.append(np.stack(columns, axis=1))  # (candidates, epochs)
    labels, warm, search = [], 0, 0
    for e in entries:
        if e.get("phase") == "warmup":
            warm += 1
            labels.append(f"w{warm}")
        else:
            search += 1
            labels.append(str(search))
    return Dynamics(tuple(labels), candidates, tuple(probs),
                    tuple(e.get("expected_latency") for e in entries),
                    tuple(e.get("holdout_accuracy") for e in entries),
                    tuple(e.get("argmax_latency") for e in entries),
                    tuple(e.get("decided") for e in entries))


def draw_search_dynamics(history: Sequence[dict] | Dynamics, title: str | None = None,
                         block_names: Sequence[str] | None = None, latency_unit: str = "ms",
                         target_latency: float | None = None):
    """A matplotlib Figure of the op probabilities per block over epochs
    (see the module docstring).

    Args:
        history: history entries (or their `Dynamics`).
        title: figure title.
        block_names: one subplot title per block (default ``block N``).
        latency_unit: the unit of ``expected_latency`` in the history.
        target_latency: drawn as a line beside the expected latency.

    The colour scale runs from 0 to the largest probability of the history
    (short searches move the probabilities little; a 0-1 scale would hide it).
    """
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    d = history if isinstance(history, Dynamics) else dynamics(history)
    has_curves = any(v is not None for v in d.expected_latency + d.holdout_accuracy)
    panels = d.num_blocks + (1 if has_curves else 0)
    cols = min(_COLUMNS, panels)
    rows = -(-panels // cols)
    epochs = len(d.labels)
    fig = Figure(figsize=(3.1 * cols + 0.8, 2.3 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    final = d.final_argmax()
    top = max(float(np.max(p)) for p in d.probabilities)
    for b in range(d.num_blocks):
        ax = axes[b // cols][b % cols]
        image = ax.imshow(d.probabilities[b], aspect="auto", vmin=0.0, vmax=top, cmap="viridis",
                          interpolation="nearest", origin="upper")
        ax.set_yticks(range(len(d.candidates[b])), d.candidates[b], fontsize=6.5)
        ax.set_xticks(range(epochs), d.labels, fontsize=6.5)
        if epochs > 12:  # keep the labels readable
            step = -(-epochs // 12)
            for i, label in enumerate(ax.get_xticklabels()):
                label.set_visible(i % step == 0 or i == epochs - 1)
        ax.add_patch(Rectangle((epochs - 1.5, final[b] - 0.5), 1, 1, fill=False,
                               edgecolor="#e31a1c", linewidth=1.4))
        name = block_names[b] if block_names is not None else f"block {b}"
        ax.set_title(f"{name}: {d.candidates[b][final[b]]}", fontsize=7.5)
    if has_curves:
        ax = axes[d.num_blocks // cols][d.num_blocks % cols]
        x = np.arange(epochs)
        lines = []
        lat = [np.nan if v is None else v for v in d.expected_latency]
        if not np.all(np.isnan(lat)):
            lines += ax.plot(x, lat, "o-", color="#08519c", ms=3, label=f"E[latency] ({latency_unit})")
            argmax = [np.nan if v is None else v for v in d.argmax_latency]
            if argmax and not np.all(np.isnan(argmax)):
                lines += ax.plot(x, argmax, "^--", color="#6baed6", ms=3, label="argmax net")
            if target_latency is not None:
                lines.append(ax.axhline(target_latency, color="#08519c", ls=":", lw=1,
                                        label=f"target {target_latency:.3g}"))
            shown = [v for v in lat + list(argmax) + [target_latency]
                     if v is not None and np.isfinite(v) and v > 0]
            if shown and max(shown) > 5 * min(shown):  # a heavy-tailed start: log scale
                from matplotlib.ticker import FormatStrFormatter
                ax.set_yscale("log")
                ax.set_yticks(sorted({max(shown), target_latency or min(shown)}))
                ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
                ax.yaxis.set_minor_formatter(FormatStrFormatter(""))
            ax.set_ylabel(latency_unit, fontsize=7, color="#08519c")
        acc = [np.nan if v is None else v for v in d.holdout_accuracy]
        if not np.all(np.isnan(acc)):
            twin = ax.twinx()
            lines += twin.plot(x, acc, "s--", color="#a63603", ms=3, label="holdout top-1")
            decided = [np.nan if v is None else v for v in d.decided]
            if decided and not np.all(np.isnan(decided)):
                lines += twin.plot(x, decided, "d-", color="#54278f", ms=3,
                                   label="mean largest p")
            twin.set_ylim(0, 1)
            twin.tick_params(labelsize=6.5)
        ax.set_xticks(range(epochs), d.labels, fontsize=6.5)
        ax.tick_params(which="both", labelsize=6.5)
        ax.legend(handles=lines, fontsize=6.5, loc="best", frameon=False)
        ax.set_title("per epoch", fontsize=7.5)
    for i in range(panels, rows * cols):
        axes[i // cols][i % cols].set_axis_off()
    fig.supxlabel("epoch (w = warm-up: uniform paths, no arch steps)", fontsize=8)
    fig.suptitle(title or "op probabilities per block (outlined: most probable at the end)",
                 fontsize=9)
    fig.tight_layout(rect=(0.0, 0.0, 0.94, 1.0))  # room for the colour bar on the right
    if image is not None:
        bar = fig.colorbar(image, cax=fig.add_axes((0.955, 0.2, 0.012, 0.6)))
        bar.set_label(f"probability (scale 0 to {top:.2f})", fontsize=7)
        bar.ax.tick_params(labelsize=6.5)
    return fig


def block_titles(space) -> list[str]:
    """Subplot titles for the blocks of a `SearchSpace`: index, stage and
    output shape."""
    return [f"b{b.index} s{b.stage} {b.out_size[0]}x{b.out_size[1]}x{b.out_channels}"
            for b in space.blocks()]


def save_search_figure(history: str | Sequence[dict], path: str, title: str | None = None,
                       block_names: Sequence[str] | None = None, latency_unit: str = "ms",
                       target_latency: float | None = None, dpi: int = 150) -> str:
    """Draws the dynamics of `history` (entries, a history.json or a search
    workdir) into `path` (.png, .svg or .pdf, by extension).

    Raises:
        ValueError: for another extension.
        SearchError: an unreadable or malformed history.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot write {path!r}: the picture format comes from the extension, "
                         f"one of {list(FORMATS)}")
    import io

    if isinstance(history, str):
        history = load_history(history)
    fig = draw_search_dynamics(history, title, block_names, latency_unit, target_latency)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=ext[1:], dpi=dpi, bbox_inches="tight")
    fileio.atomic_write_bytes(path, buffer.getvalue())
    return path
