"""pxnas_tf.limits: one range per numeric setting, used by the CLI and by
every config."""

import dataclasses
import re
import typing

import pytest
from absl import flags

from pxnas_tf import limits
from pxnas_tf.pipeline.config import PipelineConfig
from pxnas_tf.search.config import SearchConfig
from pxnas_tf.train.config import TrainConfig, TrainError
from pxnas_tf.testing import REPO


def _numeric_fields(cls) -> set[str]:
    hints = typing.get_type_hints(cls)
    out = set()
    for field in dataclasses.fields(cls):
        kinds = typing.get_args(hints[field.name]) or (hints[field.name],)
        if int in kinds or float in kinds:
            out.add(field.name)
    return out


def test_every_numeric_flag_and_field_has_a_range():
    with open(f"{REPO}/pxnas_tf/cli/flags.py", encoding="utf-8") as f:
        names = set(re.findall(r'DEFINE_(?:integer|float)\("([a-z_0-9]+)"', f.read()))
    for cls in (SearchConfig, TrainConfig, PipelineConfig):
        names |= _numeric_fields(cls)
    assert len(names) > 60  # the parse found the flags
    missing = sorted(n for n in names if n not in limits.LIMITS and n not in limits.UNBOUNDED)
    assert missing == []
    stale = sorted(n for n in limits.LIMITS if n not in names)
    assert stale == []


def test_every_default_is_in_range():
    for cls in (SearchConfig, TrainConfig, PipelineConfig):
        limits.check_fields(cls(**({"target_latency": 1.0} if cls is SearchConfig else {})))


@pytest.mark.parametrize("name,value,expected", [
    ("batch_size", 0, "expected >= 1"),
    ("lr", 0.0, "expected > 0"),
    ("lr", float("nan"), "expected a finite number"),
    ("momentum", 1.0, "expected in [0, 1)"),
    ("target_fraction", 1.5, "expected in [0, 1]"),
    ("arch_temperature", 0.0, "expected in (0, 1] (1: no annealing)"),
    ("budget_floor", 1.0, "expected in (0, 1)"),
    ("holdout_examples", 0, "expected >= 1 (the arch steps learn on the holdout)"),
    ("reinforce_exponent", float("inf"), "expected a finite number"),
])
def test_out_of_range_values_are_named(name, value, expected):
    assert limits.problem(name, value) == expected


@pytest.mark.parametrize("name,value", [
    ("batch_size", 1), ("lr", 1e-9), ("momentum", 0.0), ("target_fraction", 1.0),
    ("arch_temperature", 1.0), ("reinforce_exponent", -3.0), ("seed", 0),
    ("batch_size", None), ("no_such_setting", -1), ("xnnpack", False),
])
def test_in_range_or_unchecked_values_pass(name, value):
    assert limits.problem(name, value) is None


def test_configs_and_flags_give_the_same_message():
    with pytest.raises(TrainError, match=r"^dropout=1.5: expected in \[0, 1\)$"):
        TrainConfig(dropout=1.5)
    with pytest.raises(ValueError, match=r"^arch_every=0: expected >= 1$"):
        SearchConfig(arch_every=0)
    fv = flags.FlagValues()
    flags.DEFINE_float("dropout", 0.1, "", flag_values=fv)
    flags.DEFINE_integer("epochs", 3, "", flag_values=fv)
    fv(["prog", "--dropout=1.5", "--epochs=-1"])
    assert limits.flag_problems(fv) == ["--dropout=1.5: expected in [0, 1)",
                                        "--epochs=-1: expected >= 0"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
