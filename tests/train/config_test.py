"""TrainConfig validation and serialization."""

import json

import pytest

from pxnas_tf.search_space import Arch
from pxnas_tf.train.config import TrainConfig, TrainError


def test_defaults_follow_the_retrain_recipe():
    c = TrainConfig()
    assert (c.lr, c.momentum, c.nesterov, c.weight_decay, c.label_smoothing) == \
        (0.05, 0.9, True, 4e-5, 0.1)
    assert not c.decay_bn_bias and c.mixed_precision == "auto"
    assert TrainConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 0, r"epochs=0: expected >= 1"),
    ("lr", 0.0, r"lr=0.0: expected > 0"),
    ("min_lr", 1.0, r"min_lr=1.0: expected <= lr"),
    ("warmup_epochs", 50, r"warmup_epochs=50: expected <= epochs"),
    ("label_smoothing", 1.0, "label_smoothing"),
    ("dropout", -0.1, "dropout"),
    ("mixed_precision", "float8", "unknown mixed_precision 'float8'"),
    ("steps_per_epoch", 0, "steps_per_epoch"),
])
def test_bad_values_are_named(field, value, message):
    with pytest.raises(TrainError, match=message):
        TrainConfig(**{field: value})


def test_unknown_setting():
    with pytest.raises(TrainError, match=r"unknown train setting\(s\) \['lr_decay'\]"):
        TrainConfig.from_dict({"lr_decay": 0.1})


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_a_run_recorded_before_the_mixed_precision_rename_still_resumes(tmp_path):
    """run.json of a run from before TrainConfig.precision became
    mixed_precision: the same settings match, other settings are named."""
    from pxnas_tf.search_space import load_space
    from pxnas_tf.testing import tiny_space_dict
    from pxnas_tf.train.trainer import check_or_write_run, run_record

    space = load_space(tiny_space_dict())
    arch = Arch(space, tuple(b.candidates[0] for b in space.blocks()))
    record = run_record(arch, TrainConfig(epochs=2), {"dataset": "x"})
    old = json.loads(json.dumps(record))
    old["config"]["precision"] = old["config"].pop("mixed_precision")
    path = str(tmp_path / "run.json")
    with open(path, "w") as f:
        json.dump(old, f)
    check_or_write_run(path, record)  # no error: the same run
    with pytest.raises(TrainError, match=r"config.mixed_precision: 'auto' in the workdir, "
                                         r"'float32' now"):
        check_or_write_run(path, run_record(arch, TrainConfig(epochs=2,
                                                              mixed_precision="float32"),
                                            {"dataset": "x"}))
