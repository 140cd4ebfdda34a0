"""The search-dynamics plot, from a history.json in the format the search
writes (`pxnas_tf.search.loop.Search._end_epoch`), and `pxnas show --history`."""

import json
import os

import numpy as np
import pytest

from pxnas_tf.search.errors import SearchError
from pxnas_tf.testing import run_pxnas
from pxnas_tf.viz import search_plot

CANDIDATES = [["k3_e3", "k5_e6", "zero"], ["k3_e3", "k5_e6", "zero"], ["k3_e3", "k5_e6"]]


def _probs(epoch: int) -> list[list[float]]:
    """Uniform during the warm-up (epochs 1-2), then block b drifts to op b."""
    out = []
    for b, cands in enumerate(CANDIDATES):
        n = len(cands)
        if epoch <= 2:
            out.append([round(1 / n, 6)] * n)
            continue
        p = np.full(n, 0.1 / (n - 1))
        p[b % n] = 0.9 if epoch == 4 else 0.6
        p /= p.sum()
        out.append([round(float(x), 6) for x in p])
    return out


def synthetic_history(epochs: int = 4) -> list[dict]:
    """Entries with every field `_end_epoch` writes (table latency model)."""
    history = []
    for epoch in range(1, epochs + 1):
        probs = _probs(epoch)
        history.append({
            "epoch": epoch, "phase": "warmup" if epoch <= 2 else "search",
            "weight_steps": 16 * epoch, "arch_steps": max(0, 8 * (epoch - 2)),
            "train_loss": 2.0 / epoch, "train_accuracy": 0.2 * epoch,
            "arch_ce": 1.5, "arch_accuracy": 0.5, "arch_loss": 1.6,
            "holdout_accuracy": 0.1 + 0.15 * epoch, "holdout_loss": 2.0 / epoch,
            "arch": "k3_e3,k5_e6|k5_e6",
            "entropy": [float(-np.sum(np.array(p) * np.log(p))) for p in probs],
            "probabilities": probs, "candidates": CANDIDATES,
            "expected_latency": round(2.0 - 0.2 * epoch, 6), "argmax_latency": 1.8,
            "decided": float(np.mean([max(p) for p in probs])),
        })
    return history


def test_dynamics_arranges_blocks_ops_and_epochs():
    # Entries out of order are sorted by epoch.
    d = search_plot.dynamics(list(reversed(synthetic_history())))
    assert d.labels == ("w1", "w2", "1", "2")
    assert d.num_blocks == 3
    assert [p.shape for p in d.probabilities] == [(3, 4), (3, 4), (2, 4)]
    np.testing.assert_allclose(d.probabilities[0][:, 0], [1 / 3] * 3, atol=1e-6)
    assert d.final_argmax() == [0, 1, 0]
    assert d.expected_latency == (1.8, 1.6, 1.4, 1.2)
    assert d.argmax_latency == (1.8,) * 4
    assert d.decided[0] == pytest.approx(np.mean([1 / 3, 1 / 3, 1 / 2]))
    assert d.decided[-1] > d.decided[0]
    assert d.holdout_accuracy[-1] == pytest.approx(0.7)


@pytest.mark.parametrize("bad,match", [
    ([], "empty list"),
    ({"epoch": 1}, "got dict"),
    ([{"epoch": 1, "phase": "search"}], "no 'probabilities'"),
])
def test_malformed_history_is_refused(bad, match):
    with pytest.raises(SearchError, match=match):
        search_plot.dynamics(bad)


def test_block_count_mismatch_is_refused():
    history = synthetic_history()
    history[-1]["probabilities"] = history[-1]["probabilities"][:2]
    with pytest.raises(SearchError, match="does not have 3 blocks"):
        search_plot.dynamics(history)


def test_figure_from_a_file_and_from_a_workdir(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps(synthetic_history()))
    png = search_plot.save_search_figure(str(tmp_path / "history.json"), str(tmp_path / "d.png"))
    with open(png, "rb") as f:
        assert f.read(4) == b"\x89PNG"
    assert os.path.getsize(png) > 10_000
    svg = search_plot.save_search_figure(str(tmp_path), str(tmp_path / "d.svg"),
                                         block_names=["a", "b", "c"])
    text = open(svg, encoding="utf-8").read()
    assert text.startswith("<?xml") and "b: k5_e6" in text  # panel title: name and final op
    with pytest.raises(ValueError, match="one of"):
        search_plot.save_search_figure(str(tmp_path), str(tmp_path / "d.gif"))


def test_one_epoch_without_latency_draws(tmp_path):
    history = synthetic_history(1)
    for entry in history:
        entry.pop("expected_latency")
        entry.pop("argmax_latency")
    fig = search_plot.draw_search_dynamics(history)
    assert len([ax for ax in fig.axes if ax.get_images()]) == 3


def test_missing_history_names_the_file(tmp_path):
    with pytest.raises(SearchError, match="does not exist"):
        search_plot.load_history(str(tmp_path))


def test_show_history_command(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps(synthetic_history()))
    out = run_pxnas("show", f"--history={tmp_path}", f"--out={tmp_path / 'dyn.png'}")
    assert out.returncode == 0, out.stderr
    assert "drew 4 epoch(s) of 3 blocks; most probable at the end: k3_e3, k5_e6, k3_e3" in out.stdout
    assert (tmp_path / "dyn.png").read_bytes().startswith(b"\x89PNG")
    assert "last epoch: E[LAT] 1.2, argmax net 1.8, mean largest p" in out.stdout
    # With the search's run.json beside it, the target joins the line (and the plot).
    (tmp_path / "run.json").write_text(json.dumps({"config": {"target_latency": 1.25}}))
    out = run_pxnas("show", f"--history={tmp_path}", f"--out={tmp_path / 'dyn.png'}")
    assert "target 1.25" in out.stdout, out.stdout
    out = run_pxnas("show", f"--history={tmp_path}", "--arch=proxyless_gpu",
                    f"--out={tmp_path / 'x.png'}")
    assert out.returncode == 2 and "exactly one of --arch and --history" in out.stderr
    out = run_pxnas("show", f"--history={tmp_path / 'nothing'}", f"--out={tmp_path / 'x.png'}")
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
