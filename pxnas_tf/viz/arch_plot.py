"""A derived net drawn as in the ProxylessNAS paper (Cai et al. 2019,
figure 4): one box per block, left to right, coloured by kernel size, as
tall as its expand ratio makes it, labelled ``MB{e} {k}x{k}``; a skipped
(zero) block is a dashed outline; the feature-map size is written under
the first block of every stage.

    save_arch_figure(arch, "net.png")   # or .svg / .pdf
"""

from __future__ import annotations

import dataclasses
import os

from pxnas_tf import fileio
from pxnas_tf.search_space import Arch, decode_op

KERNEL_COLORS = {3: "#6baed6", 5: "#74c476", 7: "#fd8d3c"}
OTHER_COLOR = "#bdbdbd"
FIXED_COLOR = "#d9d9d9"
FORMATS = (".png", ".svg", ".pdf")
_BOX_WIDTH, _GAP = 0.8, 0.35


@dataclasses.dataclass(frozen=True)
class Box:
    """One drawn box.

    Attributes:
        label: text in the box (``"MB6 5x5"``, ``"skip"``, ``"Conv 3x3"``).
        kind: "fixed" (stem, first block, head), "block" or "zero".
        kernel, expand: of an MBConv (None otherwise).
        height: relative height (grows with the expand ratio).
        shape: (H, W, C) of the box's output, for the stage labels.
        stage: stage index of a searchable block, None for fixed boxes.
    """

    label: str
    kind: str
    kernel: int | None
    expand: float | None
    height: float
    shape: tuple[int, int, int]
    stage: int | None = None

    @property
    def color(self) -> str:
        if self.kind == "fixed":
            return FIXED_COLOR
        if self.kind == "zero":
            return "none"
        return KERNEL_COLORS.get(self.kernel, OTHER_COLOR)


def _height(expand: float) -> float:
    return 0.9 + 0.25 * expand


def _mb_label(expand: float, kernel: int) -> str:
    return f"MB{expand:g} {kernel}x{kernel}"


def block_boxes(arch: Arch) -> list[Box]:
    """The boxes of `arch` in order: stem conv, first block, one per
    searchable block (zero blocks included, marked), head conv, pool + FC."""
    space = arch.space
    stem_shape = (*space.stem_out_size, space.stem_channels)
    first = decode_op(space.first_block_op)
    boxes = [Box(f"Conv {space.stem_kernel}x{space.stem_kernel}", "fixed", None, None,
                 _height(1), stem_shape),
             Box(_mb_label(first.expand, first.kernel), "fixed", first.kernel, first.expand,
                 _height(first.expand), (*space.stem_out_size, space.first_block_channels))]
    for block, op in zip(space.blocks(), arch.ops):
        spec = decode_op(op)
        shape = (*block.out_size, block.out_channels)
        if spec.is_zero:
            boxes.append(Box("skip", "zero", None, None, _height(1), shape, block.stage))
        else:
            boxes.append(Box(_mb_label(spec.expand, spec.kernel), "block", spec.kernel,
                             spec.expand, _height(spec.expand), shape, block.stage))
    feature = (*space.feature_size, space.head_channels)
    boxes.append(Box("Conv 1x1", "fixed", None, None, _height(1), feature))
    boxes.append(Box(f"Pool FC {space.num_classes}", "fixed", None, None, _height(1),
                     (1, 1, space.num_classes)))
    return boxes


def draw_arch(arch: Arch, title: str | None = None):
    """A matplotlib Figure of `arch` (see the module docstring)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Patch

    boxes = block_boxes(arch)
    top = max(b.height for b in boxes)
    fig = Figure(figsize=(max(6.0, 0.62 * len(boxes) + 1.5), 4.2))
    ax = fig.add_subplot()
    previous_stage = None
    for i, box in enumerate(boxes):
        x = i * (_BOX_WIDTH + _GAP)
        y = (top - box.height) / 2
        ax.add_patch(FancyBboxPatch(
            (x, y), _BOX_WIDTH, box.height, boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=box.color, edgecolor="#636363" if box.kind == "zero" else "#252525",
            linestyle="--" if box.kind == "zero" else "-", linewidth=1.0))
        ax.text(x + _BOX_WIDTH / 2, top / 2, box.label, rotation=90, ha="center", va="center",
                fontsize=8, color="#636363" if box.kind == "zero" else "black")
        if i:
            ax.annotate("", xy=(x, top / 2), xytext=(x - _GAP, top / 2),
                        arrowprops={"arrowstyle": "->", "color": "#737373", "lw": 0.8})
        if box.stage is not None and box.stage != previous_stage:
            h, w, c = box.shape
            ax.text(x + _BOX_WIDTH / 2, -0.08, f"{h}x{w}\nx{c}", ha="center", va="top",
                    fontsize=6.5, color="#525252")
        previous_stage = box.stage if box.stage is not None else previous_stage
    legend = [Patch(facecolor=c, edgecolor="#252525", label=f"{k}x{k}")
              for k, c in KERNEL_COLORS.items()]
    legend.append(Patch(facecolor="none", edgecolor="#636363", linestyle="--", label="skipped"))
    ax.legend(handles=legend, loc="lower center", bbox_to_anchor=(0.5, -0.02), ncol=4,
              fontsize=7, frameon=False)
    ax.set_xlim(-0.3, len(boxes) * (_BOX_WIDTH + _GAP))
    ax.set_ylim(-1.05, top + 0.1)
    ax.set_axis_off()
    ax.set_title(title if title is not None else
                 f"{arch.name or 'arch'} ({arch.space.name}): {arch.arch_string}", fontsize=8)
    fig.tight_layout()
    return fig


def save_arch_figure(arch: Arch, path: str, title: str | None = None, dpi: int = 200) -> str:
    """Draws `arch` into `path` (.png, .svg or .pdf, by extension).

    Raises:
        ValueError: for another extension.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot write {path!r}: the picture format comes from the extension, "
                         f"one of {list(FORMATS)}")
    import io

    fig = draw_arch(arch, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=ext[1:], dpi=dpi, bbox_inches="tight")
    fileio.atomic_write_bytes(path, buffer.getvalue())
    return path
