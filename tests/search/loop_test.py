"""The search loop: latency steering, the two-mode rescaling in a real arch
step, resume equals an uninterrupted run, workdir identity, NaN stops."""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from pxnas_tf.search import (
    LatencyModel, NonFiniteLossError, Search, SearchError, SearchState, SearchSteps, make_config,
    run_search,
)
from pxnas_tf.search_math import gates
from pxnas_tf.testing import tiny_data, tiny_space

SPACE = tiny_space(candidates=("k3_e3", "k7_e6"))


def _config(**changes):
    base = dict(batch_size=8, warmup_epochs=1, epochs=2, arch_delay_epochs=0, arch_every=1,
                arch_lr=0.1, loss="add#linear", latency_lambda=5.0, checkpoint_every=4,
                keep_checkpoints=20, seed=3)
    base.update(changes)
    return make_config("toy", **base)


@pytest.fixture(scope="module")
def latency():
    return LatencyModel.from_macs(SPACE)


def test_tight_target_yields_a_faster_arch_than_a_loose_one(tmp_path, latency):
    fastest, slowest = latency.bounds()
    results = {}
    for name, target in (("tight", fastest * 1.05), ("loose", slowest * 0.95)):
        config = _config(target_latency=target)
        results[name] = run_search(SPACE, tiny_data(), config, str(tmp_path / name), latency,
                                   progress=False)
    e = {k: latency.expected(r.probabilities) for k, r in results.items()}
    assert e["tight"] < e["loose"]
    assert results["tight"].latency <= results["loose"].latency
    # The latency term moved the logits away from uniform towards the fast ops.
    uniform = latency.expected([np.full(len(b), 1 / len(b)) for b in latency.blocks])
    assert e["tight"] < uniform - 0.1 * (uniform - fastest)


def test_shared_candidate_weights_search_steers_and_resumes_its_own_kind(tmp_path, latency):
    """A search with shared candidate weights: the latency term steers it as
    it does with independent ones, and its workdir refuses a resume with
    independent weights (another supernet)."""
    fastest, slowest = latency.bounds()
    config = _config(target_latency=fastest * 1.05, candidate_weights="shared")
    result = run_search(SPACE, tiny_data(), config, str(tmp_path / "shared"), latency,
                        progress=False)
    uniform = latency.expected([np.full(len(b), 1 / len(b)) for b in latency.blocks])
    assert latency.expected(result.probabilities) < uniform - 0.1 * (uniform - fastest)
    assert 0.0 <= result.holdout_accuracy <= 1.0
    other = dataclasses.replace(config, candidate_weights="independent")
    with pytest.raises(SearchError, match="candidate_weights"):
        run_search(SPACE, tiny_data(), other, str(tmp_path / "shared"), latency, progress=False)


def test_abs_target_pulls_towards_the_target_from_both_sides(tmp_path, latency):
    """abs#target: a target near the slowest arch pulls the expected latency
    up from uniform, one near the fastest pulls it down (add#linear and
    mul#log only push down)."""
    fastest, slowest = latency.bounds()
    uniform = latency.expected([np.full(len(b), 1 / len(b)) for b in latency.blocks])
    e = {}
    for name, target in (("tight", fastest * 1.05), ("loose", slowest * 0.95)):
        config = _config(target_latency=target, loss="abs#target")
        r = run_search(SPACE, tiny_data(), config, str(tmp_path / name), latency, progress=False)
        e[name] = latency.expected(r.probabilities)
    assert e["tight"] < uniform < e["loose"]


def test_band_budget_derives_an_arch_near_the_target(tmp_path, latency):
    """--latency_budget=band: the derived arch lies in [0.9 T, T] (some arch
    of the tiny space does), whatever the argmax would have been."""
    import itertools
    fastest, slowest = latency.bounds()
    target = fastest + 0.5 * (slowest - fastest)
    sums = [latency.arch_latency(list(ix))
            for ix in itertools.product(*[range(len(b)) for b in latency.blocks])]
    assert any(0.9 * target <= x <= target for x in sums)  # the test's premise
    config = _config(target_latency=target, loss="add#linear", latency_budget="band")
    r = run_search(SPACE, tiny_data(), config, str(tmp_path), latency, progress=False)
    assert 0.9 * target - 1e-9 <= r.latency <= target + 1e-9
    assert r.derived_by in ("argmax", "band")
    with pytest.raises(ValueError, match="budget_floor"):
        _config(target_latency=target, latency_budget="band", budget_floor=1.5)
    with pytest.raises(ValueError, match="needs a target latency"):
        _config(loss="ce", latency_budget="band")


@pytest.mark.parametrize("samples", [1, 2])
def test_two_mode_arch_step_keeps_unsampled_probabilities(samples):
    """Mode two with CE only: at the step's temperature, the ops outside the
    sampled pair (with several path draws: outside every sampled pair) keep
    their probabilities (the annealing schedule of the small-data defaults
    is on: the shift works on the tempered logits)."""
    space = tiny_space(candidates=("k3_e3", "k5_e3", "k5_e6", "k3_e6"), blocks=2)
    config = make_config("toy", grad_mode="two", batch_size=8, loss="ce", arch_lr=0.5, epochs=1,
                         arch_delay_epochs=0, arch_every=1, arch_samples=samples)
    assert config.arch_temperature < 1.0
    strategy = tf.distribute.get_strategy()
    state = SearchState(space, config, strategy, 8)
    steps = SearchSteps(state, config, None, strategy, 8)
    it = iter(tiny_data().arch)
    for _ in range(3):
        draws = [steps._paths(state.arch_steps * samples + i, gates.SALT_ARCH, pairs=True).numpy()
                 for i in range(samples)]
        tau = float(state.temperature().numpy())
        before = state.supernet.probabilities(tau)
        steps.arch_step(it)
        assert float(state.temperature().numpy()) < tau  # annealing on
        after = state.supernet.probabilities(tau)
        for b in range(space.num_blocks):
            assert all(len(set(paths[b])) == 2 for paths in draws)
            pair = set().union(*(paths[b] for paths in draws))
            others = [j for j in range(len(before[b])) if j not in pair]
            np.testing.assert_allclose(after[b][others], before[b][others], rtol=1e-5)
            assert not np.allclose(after[b][list(pair)], before[b][list(pair)])


def test_arch_samples_average_the_gradients_of_several_path_draws():
    """With arch_samples = 2 an arch step applies the mean of the CE
    gradients of two path draws on its batch (the draws of counters 2s and
    2s + 1). An Adam epsilon far above the gradients makes its first step
    linear: Keras's Adam moves the logits by -lr sqrt(1 - beta2) / epsilon
    x the gradient (beta1 0; its bias correction folded into the lr)."""
    space = tiny_space(candidates=("k3_e3", "k5_e3", "k5_e6"), blocks=2)
    config = make_config("toy", batch_size=8, loss="ce", arch_samples=2, arch_lr=1e4,
                         arch_epsilon=1e4, arch_temperature=1.0, epochs=1, arch_delay_epochs=0,
                         arch_every=1)
    strategy = tf.distribute.get_strategy()
    state = SearchState(space, config, strategy, 8)
    steps = SearchSteps(state, config, None, strategy, 8)
    images, labels = next(iter(tiny_data().arch))
    tau = state.temperature()
    draws = [steps._paths(tf.constant(i, tf.int64), gates.SALT_ARCH, pairs=True) for i in (0, 1)]
    assert not np.array_equal(draws[0].numpy(), draws[1].numpy())
    grads = [[g.numpy() for g in steps._arch_grads(images, labels, p, tau)[0]] for p in draws]
    before = [a.value.numpy() for a in state.supernet.arch_variables]
    steps.arch_step(iter([(images, labels)]))
    after = [a.value.numpy() for a in state.supernet.arch_variables]
    for b in range(space.num_blocks):
        mean = (grads[0][b] + grads[1][b]) / 2
        np.testing.assert_allclose(before[b] - after[b], mean * np.sqrt(1 - config.arch_beta2),
                                   rtol=1e-3, atol=1e-9)
    # The two draws' gradients differ, so a step on one draw alone would not match.
    assert any(not np.allclose(g0, g1, rtol=0.1) for g0, g1 in zip(*grads))


def test_two_mode_weight_steps_draw_the_active_op_from_p():
    """Mode two's weight steps draw the active op from p itself (a pick
    inside a sampled pair would over-draw the likely op: p = (.6, .25, .1,
    .05) gives about (.69, .24, .06, .02) that way)."""
    space = tiny_space(candidates=("k3_e3", "k3_e6", "k5_e3", "k5_e6"), blocks=1, zero_op=False)
    config = make_config("toy", grad_mode="two", batch_size=8, loss="ce", arch_temperature=1.0)
    state = SearchState(space, config, tf.distribute.get_strategy(), 8)
    steps = SearchSteps(state, config, None, tf.distribute.get_strategy(), 8)
    p = np.array([0.6, 0.25, 0.1, 0.05])
    state.supernet.arch_variables[0].assign(np.log(p).astype(np.float32))
    draws = np.array([int(steps._paths(tf.constant(i), gates.SALT_WEIGHT)[0, 0])
                      for i in range(4000)])
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, p, atol=0.025)  # 3 s.e. of the largest is about 0.023
    pairs = np.array([steps._paths(tf.constant(i), gates.SALT_ARCH, pairs=True)[0].numpy()
                      for i in range(50)])
    assert (pairs[:, 0] != pairs[:, 1]).all()  # arch steps still sample pairs


def test_temperature_anneals_to_its_final_value_and_sharpens_the_search(tmp_path, latency):
    """The logits' temperature falls from 1 to arch_temperature over the
    arch steps; the final p = softmax(alpha / tau) is sharper than the same
    search's p without annealing, and the result reports both the
    temperature and the mean largest probability."""
    fastest, slowest = latency.bounds()
    target = fastest + 0.3 * (slowest - fastest)
    decided = {}
    for tau in (1.0, 0.2):
        config = _config(target_latency=target, loss="abs#target", arch_temperature=tau)
        r = run_search(SPACE, tiny_data(), config, str(tmp_path / str(tau)), latency,
                       progress=False)
        assert r.temperature == pytest.approx(tau, rel=1e-5)
        assert r.decided == pytest.approx(np.mean([max(p) for p in r.probabilities]))
        history = json.load(open(os.path.join(tmp_path, str(tau), "history.json")))
        temps = [e["temperature"] for e in history]
        assert temps == sorted(temps, reverse=True) and temps[-1] == pytest.approx(tau, rel=1e-5)
        decided[tau] = r.decided
    assert decided[0.2] > decided[1.0] + 0.05


@pytest.fixture
def op_determinism():
    """TensorFlow op determinism for one test (what `pxnas search
    --deterministic` turns on): without it, multithreaded kernels may sum in
    another order on a busy machine and the sampled paths amplify that.
    TensorFlow has no public switch back, so the private one restores the
    process for the tests that follow."""
    from tensorflow.python.framework import config as tf_config
    was = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was:
        tf_config.disable_op_determinism()


def test_resume_from_a_middle_checkpoint_ends_like_an_uninterrupted_run(tmp_path, latency,
                                                                       op_determinism):
    config = _config(target_latency=sum(latency.bounds()) / 2)
    full_dir, resumed_dir = tmp_path / "full", tmp_path / "resumed"
    full = run_search(SPACE, tiny_data(), config, str(full_dir), latency, progress=False)
    # A run killed after step 12: its workdir holds run.json, history up to
    # epoch 1 and checkpoints up to step 12.
    os.makedirs(resumed_dir / "checkpoints")
    shutil.copy(full_dir / "run.json", resumed_dir / "run.json")
    history = json.loads((full_dir / "history.json").read_text())
    (resumed_dir / "history.json").write_text(json.dumps(history[:1]))
    for f in os.listdir(full_dir / "checkpoints"):
        if f.startswith("ckpt-12."):
            shutil.copy(full_dir / "checkpoints" / f, resumed_dir / "checkpoints" / f)
    (resumed_dir / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-12"\n')
    search = Search(SPACE, tiny_data(), config, str(resumed_dir), latency, progress=False)
    assert search.restored_from.endswith("ckpt-12") and search.weight_steps == 12
    resumed = search.run()
    assert resumed.weight_steps == full.weight_steps == 24
    assert resumed.arch_steps == full.arch_steps == 16
    assert resumed.arch.ops == full.arch.ops
    np.testing.assert_allclose(resumed.probabilities, full.probabilities, rtol=1e-6, atol=1e-7)
    resumed_history = json.loads((resumed_dir / "history.json").read_text())
    assert [h["epoch"] for h in resumed_history] == [1, 2, 3]
    for a, b in zip(resumed_history, history):
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], rtol=1e-5, atol=1e-6)


def test_a_workdir_of_another_run_is_refused(tmp_path, latency):
    config = _config(target_latency=sum(latency.bounds()) / 2, warmup_epochs=0, epochs=1)
    run_search(SPACE, tiny_data(), config, str(tmp_path), latency, progress=False)
    other_space = tiny_space(candidates=("k3_e3", "k5_e6"))
    with pytest.raises(SearchError, match="refusing to resume") as err:
        Search(other_space, tiny_data(), config, str(tmp_path),
               LatencyModel.from_macs(other_space), progress=False)
    assert "space.candidates" in str(err.value)
    with pytest.raises(SearchError, match="dataset.batch_size"):
        Search(SPACE, tiny_data(batch=4), config.replace(batch_size=4), str(tmp_path), latency,
               progress=False)
    # Changing how often to log or checkpoint is fine.
    Search(SPACE, tiny_data(), config.replace(log_every=7, checkpoint_every=0), str(tmp_path),
           latency, progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    data = tiny_data()
    bad_from = 6  # batches 6.. carry a NaN pixel
    def poison(i, batch):
        images, labels = batch
        images = tf.where(i >= bad_from, images * np.nan, images)
        return images, labels
    train = data.train.enumerate().map(poison)
    data = type(data)(**{**data.__dict__, "train": train})
    config = _config(loss="ce", checkpoint_every=4)
    with pytest.raises(NonFiniteLossError, match="weight step 6") as err:
        run_search(SPACE, data, config, str(tmp_path), None, progress=False)
    assert "ckpt-4" in str(err.value)
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-4")


def test_latency_loss_without_a_latency_model_is_refused(tmp_path):
    with pytest.raises(SearchError, match="needs a latency model"):
        Search(SPACE, tiny_data(), _config(target_latency=0.1), str(tmp_path), None)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


@pytest.mark.parametrize("weight_paths, expected", [("p", [True, False, False]),
                                                    ("uniform", [True, True, True])])
def test_weight_paths_choose_when_the_weight_steps_sample_uniformly(tmp_path, latency,
                                                                    weight_paths, expected):
    config = _config(weight_paths=weight_paths, target_latency=latency.bounds()[1])
    search = Search(SPACE, tiny_data(), config, str(tmp_path), latency, progress=False)
    assert [search._uniform_paths(e) for e in range(config.total_epochs)] == expected


def test_path_seed_moves_the_paths_alone(tmp_path, latency):
    """One --seed, two path seeds: the same initial weights, other paths."""
    config = _config(target_latency=latency.bounds()[1])
    runs = [Search(SPACE, tiny_data(), dataclasses.replace(config, path_seed=p),
                   str(tmp_path / str(p)), latency, progress=False) for p in (None, 7)]
    for a, b in zip(*(r.state.supernet.weight_variables for r in runs)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    paths = [[r.steps._paths(tf.constant(c, tf.int64), gates.SALT_WEIGHT).numpy() for c in range(8)]
             for r in runs]
    assert not all(np.array_equal(x, y) for x, y in zip(*paths))
    assert runs[0].config.sampling_seed == config.seed and runs[1].config.sampling_seed == 7
