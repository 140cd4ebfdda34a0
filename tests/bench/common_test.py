"""bench/common.py's budget flags: the demo's names, and the older names of
recorded report commands, reach the same budgets (run as a real process in
the checkout, as a bench script parses them)."""

import json
import subprocess
import sys

from pxnas_tf.testing import REPO

CODE = """
import json, sys
from absl import flags
from bench import common
common.define_budget_flags()
flags.FLAGS(['bench'] + sys.argv[1:])
search, train = common.budgets_from_flags()
print(json.dumps({'search': [search.train_examples, search.holdout_examples],
                  'train': train.flags()}))
"""


def _budgets(*args):
    out = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True,
                         check=True, cwd=REPO)  # the checkout: `bench` imports from there
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_demos_names_and_the_old_ones_set_the_same_budget():
    new = _budgets("--search_examples=1234", "--holdout_examples=321")
    old = _budgets("--search_train_examples=1234", "--search_holdout=321")
    assert new["search"] == old["search"] == [1234, 321]
    assert "--val_examples=2000" in new["train"]
