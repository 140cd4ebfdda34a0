"""Accuracy of latency predictions (pure functions).

All take `predicted` and `measured` in the same unit (ms), one value per
net, and treat `measured` as the truth.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _arrays(predicted: Sequence[float], measured: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    if p.shape != m.shape or p.ndim != 1 or p.size == 0:
        raise ValueError(f"need two equally long, non-empty lists, got {p.shape} and {m.shape}")
    if np.any(m <= 0):
        raise ValueError("measured latencies must be > 0")
    return p, m


def relative_errors(predicted: Sequence[float], measured: Sequence[float]) -> np.ndarray:
    """(predicted - measured) / measured per net."""
    p, m = _arrays(predicted, measured)
    return (p - m) / m


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error, as a fraction (0.05 = 5%)."""
    return float(np.mean(np.abs(relative_errors(predicted, measured))))


def rmse(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Root mean square error, in the unit of the inputs."""
    p, m = _arrays(predicted, measured)
    return float(np.sqrt(np.mean((p - m) ** 2)))


def within(predicted: Sequence[float], measured: Sequence[float], tol: float = 0.10) -> float:
    """Share of nets predicted within +/- `tol` (relative), as a fraction."""
    return float(np.mean(np.abs(relative_errors(predicted, measured)) <= tol + 1e-12))


def kendall_tau(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Kendall's rank correlation (tau-b) between predictions and
    measurements: 1 when the prediction orders every pair of nets as the
    measurement does. NaN for fewer than two nets."""
    p, m = _arrays(predicted, measured)
    if p.size < 2:
        return float("nan")
    from scipy.stats import kendalltau
    return float(kendalltau(p, m).statistic)


def summary(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """``{"mape", "rmse_ms", "within_10pct", "kendall_tau", "n"}``."""
    return {
        "mape": mape(predicted, measured),
        "rmse_ms": rmse(predicted, measured),
        "within_10pct": within(predicted, measured, 0.10),
        "kendall_tau": kendall_tau(predicted, measured),
        "n": len(measured),
    }
