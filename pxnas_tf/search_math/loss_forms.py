"""The names of the search objectives (`pxnas_tf.search_math.objectives.arch_loss`),
in a module of their own so that configuration and flags can name them
without loading TensorFlow:

    ce          cross-entropy only (latency ignored)
    mul#log     the paper's: CE * (log E[LAT] / log T)^beta
    add#linear  CE + lam * (E[LAT] - T) / T
    abs#target  CE + lam * |E[LAT] - T| / T
"""

LOSS_FORMS = ("ce", "mul#log", "add#linear", "abs#target")
