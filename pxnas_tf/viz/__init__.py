"""Pictures of architectures and of searches (matplotlib, Agg backend)."""

from pxnas_tf.viz.arch_plot import KERNEL_COLORS, block_boxes, draw_arch, save_arch_figure
from pxnas_tf.viz.search_plot import (
    Dynamics, draw_search_dynamics, dynamics, load_history, save_search_figure,
)
