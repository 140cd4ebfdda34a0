"""bench/pareto.py's comparison over seeds (bench/fronts.py), on made-up
measurements (the benchmark itself runs for an hour; its arithmetic is
checked here)."""

import pytest

from pxnas_tf.testing import load_bench

fronts = load_bench("fronts")
pareto = load_bench("pareto")


def _row(name, kind, seed, ms, top1):
    base = name
    return {"name": name + pareto.seed_suffix(seed), "base": base, "kind": kind, "seed": seed,
            "group": kind, "short": base, "latency": {"median_ms": ms},
            "exports": {"int8": {"tflite_top1": top1}}}


def _rows(gains):
    """Two MobileNetV2 widths at 0.2 and 0.4 ms per seed (front top-1 0.80 at
    0.3 ms) and one searched net at 0.3 ms, `gains[i]` points above the front
    with seed i."""
    rows = []
    for seed, gain in enumerate(gains):
        rows += [_row("mobilenet_v2_x0.5", "mobilenet_v2", seed, 0.2, 0.78),
                 _row("mobilenet_v2_x1", "mobilenet_v2", seed, 0.4, 0.82),
                 _row("searched_int8_w0.75", "searched", seed, 0.3, 0.80 + gain / 100)]
    return rows


def _verdict(gains):
    rows = _rows(gains)
    seeds = sorted({r["seed"] for r in rows})
    per_seed = {s: fronts.summarize([r for r in rows if r["seed"] == s]) for s in seeds}
    across = fronts.across_seeds(rows, per_seed)
    return across, "\n".join(fronts.seeds_section(across, seeds, "pareto_means.png"))


def test_gain_is_the_mean_over_seeds_of_each_seeds_gain_with_its_standard_error():
    across, text = _verdict([1.0, 1.2, 0.8])
    searched = next(a for a in across if a["kind"] == "searched")
    assert searched["gain_points"]["mean"] == pytest.approx(1.0)
    assert searched["gain_points"]["se"] == pytest.approx(0.2 / 3 ** 0.5)
    assert searched["gain_points"]["n"] == 3
    assert searched["top1"]["mean"] == pytest.approx(0.81)
    mbv2 = next(a for a in across if a["name"] == "mobilenet_v2_x1")
    assert mbv2["seeds"] == [0, 1, 2] and mbv2["gain_points"] is None
    assert "more accurate than MobileNetV2" in text and "): shown by this run" in text


def test_a_gain_within_the_seed_noise_is_not_a_win():
    _, text = _verdict([1.5, -1.0, 0.2])
    assert "not resolved" in text and "NOT shown" in text


def test_a_consistent_loss_is_reported_as_one():
    _, text = _verdict([-1.0, -1.1, -0.9])
    assert "less accurate than MobileNetV2" in text and "NOT shown" in text


def test_one_seed_gives_no_verdict_over_seeds():
    _, text = _verdict([1.0])
    assert "fewer than two seeds" in text and "NOT shown" in text


def test_a_net_past_a_dominated_width_is_compared_with_the_faster_better_width():
    """MobileNetV2 x1 slower and less accurate than x0.5 (the front drops it):
    a searched net between them is matched against x0.5's top-1, not left
    out as if outside the widths' latency range."""
    rows = [_row("mobilenet_v2_x0.5", "mobilenet_v2", 0, 0.2, 0.80),
            _row("mobilenet_v2_x1", "mobilenet_v2", 0, 0.4, 0.78),
            _row("searched_int8_w0.75", "searched", 0, 0.3, 0.79)]
    c = fronts.summarize(rows)["searched"][0]
    assert c["mbv2_top1_at_latency"] == pytest.approx(0.80)
    assert c["gain_points"] == pytest.approx(-1.0)
    assert c["dominated_by"] == ["mobilenet_v2_x0.5"]
    # Slower than every width: still no comparison.
    rows[2] = _row("searched_int8_w0.75", "searched", 0, 0.5, 0.79)
    assert fronts.summarize(rows)["searched"][0]["gain_points"] is None


def test_a_seed_outside_the_latency_range_withholds_the_verdict():
    """Gains of +2 with two seeds and none with the third (the searched net
    slower than every width): no mean over the two, whatever they say."""
    rows = _rows([2.0, 2.1, 0.0])
    rows[-1] = _row("searched_int8_w0.75", "searched", 2, 0.5, 0.80)
    seeds = [0, 1, 2]
    per_seed = {s: fronts.summarize([r for r in rows if r["seed"] == s]) for s in seeds}
    text = "\n".join(fronts.seeds_section(fronts.across_seeds(rows, per_seed), seeds,
                                          "pareto_means.png"))
    assert "with 2 of its 3 seeds" in text and "NOT shown" in text


def test_the_means_plot_is_written(tmp_path):
    rows = _rows([1.0, 0.5])
    per_seed = {s: fronts.summarize([r for r in rows if r["seed"] == s]) for s in (0, 1)}
    path = tmp_path / "means.png"
    pareto.plot_means(fronts.across_seeds(rows, per_seed), rows, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
