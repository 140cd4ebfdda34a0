"""Warm-up + cosine learning rate."""

import pytest

import keras

from pxnas_tf.train.schedules import WarmupCosine, warmup_cosine


def test_shape_of_the_schedule():
    assert warmup_cosine(0, 0.1, 100, 10) == 0.0
    assert warmup_cosine(5, 0.1, 100, 10) == pytest.approx(0.05)
    assert warmup_cosine(10, 0.1, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(55, 0.1, 100, 10) == pytest.approx(0.05)
    assert warmup_cosine(100, 0.1, 100, 10, minimum=0.001) == 0.001
    assert warmup_cosine(250, 0.1, 100, 10) == 0.0
    assert warmup_cosine(0, 0.1, 100, 0) == pytest.approx(0.1)  # no warm-up


@pytest.mark.parametrize("warmup", [0, 7])
def test_keras_schedule_matches_the_formula(warmup):
    schedule = WarmupCosine(0.05, 60, warmup, minimum=1e-4)
    for step in (0, 1, 3, 7, 8, 30, 59, 60, 80):
        got = float(keras.ops.convert_to_numpy(schedule(step)))
        assert got == pytest.approx(warmup_cosine(step, 0.05, 60, warmup, 1e-4), abs=1e-7)


def test_serialization_round_trip():
    schedule = WarmupCosine(0.05, 60, 7, minimum=1e-4)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(again, WarmupCosine) and again.get_config() == schedule.get_config()
    optimizer = keras.optimizers.SGD(schedule)
    restored = keras.optimizers.SGD.from_config(optimizer.get_config())
    assert isinstance(restored.learning_rate, float) or restored._learning_rate.get_config() == \
        schedule.get_config()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
