"""The Bazel BUILD file's hand-kept lists match the tree (Bazel itself is
not installed here; these lists are what drifts)."""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _list(name: str) -> list[str]:
    with open(os.path.join(ROOT, "BUILD"), encoding="utf-8") as f:
        text = f.read()
    match = re.search(rf"^{name} = (\[.*?\])", text, re.S | re.M)
    assert match, f"BUILD has no {name} list"
    return ast.literal_eval(match.group(1))


def test_slow_tests_lists_every_test_file_with_a_slow_test():
    marked = []
    for folder, _, files in os.walk(os.path.join(ROOT, "tests")):
        for name in files:
            if name.endswith("_test.py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    if re.search(r"^\s*(@pytest\.mark\.slow|pytestmark = .*slow)", f.read(),
                                 re.M):
                        marked.append(os.path.relpath(path, ROOT))
    assert sorted(_list("SLOW_TESTS")) == sorted(marked)


def test_subpackages_lists_every_subpackage():
    package = os.path.join(ROOT, "pxnas_tf")
    found = [d for d in os.listdir(package)
             if os.path.isfile(os.path.join(package, d, "__init__.py"))]
    assert sorted(_list("SUBPACKAGES")) == sorted(found)
