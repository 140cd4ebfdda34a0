"""Learning-rate schedule of retraining: linear warm-up, then cosine decay.

    lr(t) = peak * t / W                                     t < W
    lr(t) = min + (peak - min) * (1 + cos(pi * (t - W) / (T - W))) / 2   W <= t < T
    lr(t) = min                                              t >= T

with t the optimizer step, W the warm-up steps and T the total steps.
"""

from __future__ import annotations

import math

import keras


def warmup_cosine(step: float, peak: float, total_steps: int, warmup_steps: int = 0,
                  minimum: float = 0.0) -> float:
    """The schedule in plain Python (for tests, plots and reports)."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak * step / warmup_steps
    if step >= total_steps:
        return minimum
    frac = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return minimum + (peak - minimum) * 0.5 * (1.0 + math.cos(math.pi * frac))


@keras.saving.register_keras_serializable(package="pxnas_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """`warmup_cosine` as a Keras schedule (a function of the optimizer's
    step counter, so a restored optimizer resumes the schedule exactly).

    Args:
        peak: learning rate at the end of the warm-up.
        total_steps: steps of the whole run.
        warmup_steps: steps of the linear warm-up.
        minimum: final learning rate.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0,
                 minimum: float = 0.0, name: str = "warmup_cosine"):
        super().__init__()
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.minimum = float(minimum)
        self.name = name

    def __call__(self, step):
        ops = keras.ops
        t = ops.cast(step, "float32")
        warm = float(max(1, self.warmup_steps))
        decay_len = float(max(1, self.total_steps - self.warmup_steps))
        frac = ops.clip((t - self.warmup_steps) / decay_len, 0.0, 1.0)
        cosine = self.minimum + (self.peak - self.minimum) * 0.5 * (1.0 + ops.cos(math.pi * frac))
        if self.warmup_steps <= 0:
            return cosine
        return ops.where(t < self.warmup_steps, self.peak * t / warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "minimum": self.minimum, "name": self.name}
