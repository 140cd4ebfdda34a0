"""The valid range of every numeric setting, in one table.

A setting has one name wherever it appears (a `pxnas` flag, a field of
`SearchConfig`, `TrainConfig` or `PipelineConfig`), and its range is
written here once: the CLI checks every flag against it before any work
starts (`check_flags`), and the configs check their fields against it when
they are made (`check_fields`), so a bad value gets the same message
whether it came from the command line or from Python. Rules that relate two
settings (min_lr <= lr, a target inside the space's range) stay with the
config that holds both.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable


@dataclasses.dataclass(frozen=True)
class Limit:
    """A closed or open interval; None: unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    note: str = ""

    def expected(self) -> str:
        """The range in words, e.g. ">= 1", "> 0", "in [0, 1)"."""
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True


def _at_least(n: float, note: str = "") -> Limit:
    return Limit(low=n, note=note)


_POSITIVE = Limit(low=0.0, low_open=True)
_FRACTION = Limit(low=0.0, high=1.0, high_open=True)  # [0, 1)
_UNIT = Limit(low=0.0, high=1.0)  # [0, 1]

COUNT = _at_least(1)
OPTIONAL_COUNT = _at_least(0)

LIMITS: dict[str, Limit] = {
    # Counts of things that must exist.
    **{name: COUNT for name in (
        "batch_size", "search_batch_size", "qat_batch_size", "tf_batch", "steps_per_epoch",
        "search_steps_per_epoch", "arch_every", "calibration_examples", "verify_examples",
        "qat_examples", "qat_epochs", "threads", "latency_threads", "table_passes", "num_runs",
        "min_rounds", "max_rounds", "min_passes", "probe_passes", "max_passes", "keep_checkpoints",
        "log_every", "eval_batches", "reinforce_samples", "arch_samples", "max_measurements", "image_size", "channels")},
    "holdout_examples": _at_least(1, "the arch steps learn on the holdout"),
    "num_classes": _at_least(2),
    # Counts where 0 means none (or all, for example counts).
    **{name: OPTIONAL_COUNT for name in (
        "epochs", "warmup_epochs", "search_epochs", "search_warmup_epochs", "arch_delay_epochs",
        "checkpoint_every", "holdout_limit", "search_examples", "train_examples", "val_examples",
        "num_archs", "warmup_runs", "seed", "path_seed", "state_passes")},
    # Rates and scales.
    **{name: _POSITIVE for name in (
        "lr", "arch_lr", "qat_lr", "arch_epsilon", "width_mult", "target_latency", "target_ms",
        "latency_scale", "timeout_s", "adb_timeout_s", "max_spread", "agree_tol")},
    **{name: _at_least(0) for name in (
        "warmup_lr", "min_lr", "weight_decay", "latency_lambda", "latency_beta", "max_load",
        "max_wait_s")},
    **{name: _FRACTION for name in (
        "momentum", "label_smoothing", "dropout", "arch_beta1", "arch_beta2",
        "reinforce_baseline_decay")},
    **{name: _UNIT for name in ("target_fraction", "min_agreement")},
    "arch_temperature": Limit(low=0.0, high=1.0, low_open=True, note="1: no annealing"),
    "budget_floor": Limit(low=0.0, high=1.0, low_open=True, high_open=True),
}

# Numeric settings any finite value of which is valid.
UNBOUNDED = frozenset({"reinforce_exponent"})


def problem(name: str, value: Any) -> str | None:
    """Why `value` is not a valid `name` (None: it is, or `name` has no
    limit, or `value` is unset or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return "expected a finite number"
    limit = LIMITS.get(name)
    if limit is None or limit.holds(value):
        return None
    return f"expected {limit.expected()}" + (f" ({limit.note})" if limit.note else "")


def check_fields(obj: Any, error: type[Exception] = ValueError,
                 names: Iterable[str] | None = None) -> None:
    """Raises `error("NAME must be RANGE, got VALUE")` for the first field
    of the dataclass `obj` (or of `names`) outside its limit."""
    names = names if names is not None else [f.name for f in dataclasses.fields(obj)]
    for name in names:
        value = getattr(obj, name)
        why = problem(name, value)
        if why is not None:
            raise error(f"{name}={value!r}: {why}")


def flag_problems(flag_values, names: Iterable[str] | None = None) -> list[str]:
    """'--NAME=VALUE: expected ...' for every numeric flag of `flag_values`
    (absl FlagValues, parsed; or of its `names`) that lies outside its limit."""
    out = []
    for name in (flag_values if names is None else names):
        why = problem(name, flag_values[name].value)
        if why is not None:
            out.append(f"--{name}={flag_values[name].value}: {why}")
    return out
