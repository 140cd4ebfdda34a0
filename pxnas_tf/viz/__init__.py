"""Pictures of architectures (matplotlib, Agg backend)."""

from pxnas_tf.viz.arch_plot import KERNEL_COLORS, block_boxes, draw_arch, save_arch_figure
