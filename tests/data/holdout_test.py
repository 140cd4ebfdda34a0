"""Class-balanced holdout selection (pure numpy)."""

import numpy as np
import pytest

from pxnas_tf.data import DataError
from pxnas_tf.data import holdout


def test_class_quotas_equal_share():
    quotas = holdout.class_quotas(23, np.arange(5))
    assert sum(quotas.values()) == 23
    assert sorted(quotas.values()) == [4, 4, 5, 5, 5]
    assert [quotas[c] for c in range(3)] == [5, 5, 5]  # remainder to the first classes


def test_class_quotas_rejects_negative():
    with pytest.raises(DataError):
        holdout.class_quotas(-1, np.arange(3))


def test_balanced_holdout_is_balanced_disjoint_and_seeded():
    labels = np.random.default_rng(1).integers(0, 10, size=5000)
    held = holdout.balanced_holdout(labels, 1000, seed=0)
    assert held.size == 1000 and np.unique(held).size == 1000
    assert np.all(np.bincount(labels[held], minlength=10) == 100)
    train = holdout.complement(labels.size, held)
    assert np.intersect1d(train, held).size == 0
    assert train.size + held.size == labels.size
    np.testing.assert_array_equal(held, holdout.balanced_holdout(labels, 1000, seed=0))
    assert not np.array_equal(held, holdout.balanced_holdout(labels, 1000, seed=1))


def test_balanced_holdout_uneven_size():
    labels = np.repeat(np.arange(4), 50)
    counts = np.bincount(labels[holdout.balanced_holdout(labels, 10, seed=3)])
    assert counts.sum() == 10 and counts.max() - counts.min() <= 1


def test_balanced_holdout_errors():
    labels = np.array([0] * 10 + [1] * 2)
    with pytest.raises(DataError, match="class 1 needs 3"):
        holdout.balanced_holdout(labels, 6, seed=0)
    with pytest.raises(DataError, match="nothing to train on"):
        holdout.balanced_holdout(labels, 12, seed=0)
    assert holdout.balanced_holdout(labels, 0, seed=0).size == 0


def test_first_per_class_takes_earliest_and_stops_reading():
    labels = np.array([0, 1, 0, 2, 1, 1, 2, 0, 2, 0, 1, 2])
    chunks = [labels[i:i + 3] for i in range(0, labels.size, 3)]
    consumed = []

    def stream():
        for chunk in chunks:
            consumed.append(chunk)
            yield chunk

    held = holdout.first_per_class_holdout(stream(), 6, num_classes=3)
    np.testing.assert_array_equal(held, [0, 1, 2, 3, 4, 6])
    assert len(consumed) == 3  # the fourth chunk was never needed


def test_first_per_class_shares_over_present_classes_at_end_of_stream():
    labels = np.array([5, 7, 5, 7, 5, 7])  # 2 of 10 classes present
    held = holdout.first_per_class_holdout([labels], 4, num_classes=10)
    np.testing.assert_array_equal(held, [0, 1, 2, 3])
    with pytest.raises(DataError, match="class 7 needs 2"):
        holdout.first_per_class_holdout([np.array([5, 5, 5, 5, 7])], 4, num_classes=10)


def test_first_per_class_nested_for_smaller_sizes():
    labels = np.random.default_rng(0).integers(0, 7, size=3000)
    big = holdout.first_per_class_holdout([labels], 500, num_classes=7)
    small = holdout.first_per_class_holdout([labels], 123, num_classes=7)
    assert np.isin(small, big).all()


def test_random_subset():
    pool = np.arange(100, 200)
    sub = holdout.random_subset(pool, 10, seed=0)
    assert sub.size == 10 and np.isin(sub, pool).all() and np.all(np.diff(sub) > 0)
    np.testing.assert_array_equal(holdout.random_subset(pool, None, seed=0), pool)  # None: all
    np.testing.assert_array_equal(holdout.random_subset(pool, 10, seed=0), sub)  # seeded
    assert not np.array_equal(holdout.random_subset(pool, 10, seed=1), sub)
    assert holdout.random_subset(pool, 1000, seed=0).size == 100


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
