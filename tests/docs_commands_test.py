"""Every `pxnas ...` and `python bench/...` command shown in the how-to docs
(README.md, docs/*.md, bench/README.md) parses: each flag exists for that
subcommand or script and its value has the flag's kind. The commands are
parsed, not run, in a real process per subcommand or script, by the same
flag definitions the tool uses; a flag's old name (`OLD_NAMES`, an alias
kept for old command lines) is refused. (Benchmark reports under docs/benchmarks/
record the commands of past runs and are not checked.)"""

import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from pxnas_tf.testing import REPO

DOCS = ["README.md", "bench/README.md"] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
START = re.compile(r"^\s*(?:\$ )?(pxnas [a-z]+|python bench/[a-z_]+\.py)(\s|$)")


def documented_commands() -> list[tuple[str, int, list[str]]]:
    """(file, line, argv) of every command line in a code block of the docs;
    continuation lines are joined, trailing comments dropped; commands that
    elide flags with `...` are left out."""
    found = []
    for name in DOCS:
        with open(os.path.join(REPO, name), encoding="utf-8") as f:
            lines = f.read().splitlines()
        i = 0
        while i < len(lines):
            start = i
            match = START.match(lines[i])
            if not match or "`" in lines[i]:
                i += 1
                continue
            text = lines[i]
            while text.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            text = re.split(r"\s{2,}#\s|\s#\s", text)[0].strip()
            text = text[2:] if text.startswith("$ ") else text
            if "..." in text:
                continue
            found.append((name, start + 1, shlex.split(text)))
    return found


PARSER = """
import importlib, json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from absl import flags
program, commands = sys.argv[1], json.loads(sys.argv[2])
if program.startswith("bench/"):
    from pxnas_tf.testing import load_bench
    module = load_bench(os.path.basename(program)[:-3])
    if hasattr(module, "define_flags"):
        module.define_flags()
    old = {}
else:
    from pxnas_tf.cli.flags import OLD_NAMES
    from pxnas_tf.cli.main import COMMANDS
    importlib.import_module(COMMANDS[program][0]).define_flags()
    old = OLD_NAMES.get(program, {})
problems = []
for argv in commands:
    for name in (a[2:].split("=", 1)[0] for a in argv if a.startswith("--")):
        if name in old:
            problems.append(" ".join(argv) + f": --{name} is the old name of --{old[name]}")
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["prog"] + argv)
    except flags.Error as e:
        problems.append(" ".join(argv) + ": " + str(e))
print(json.dumps(problems))
"""


def _grouped() -> dict[str, list[tuple[str, int, list[str]]]]:
    groups: dict[str, list] = {}
    for name, line, argv in documented_commands():
        groups.setdefault(argv[1], []).append((name, line, argv[2:]))  # pxnas SUB / python FILE
    return groups


GROUPS = _grouped()


def test_the_docs_show_commands_of_every_subcommand():
    assert {"zoo", "build", "latency", "search", "train", "export", "show"} <= set(GROUPS)
    assert any(p.startswith("bench/") for p in GROUPS)


@pytest.mark.parametrize("program", sorted(GROUPS))
def test_documented_commands_parse(program):
    entries = GROUPS[program]
    out = subprocess.run([sys.executable, "-c", PARSER, program,
                          json.dumps([argv for _, _, argv in entries])],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    problems = json.loads(out.stdout.strip().splitlines()[-1])
    assert not problems, "\n".join(problems)


def test_every_experiment_flag_file_is_documented_and_so_parsed():
    used = {a.split("=", 1)[1] for _, _, argv in documented_commands() for a in argv
            if a.startswith("--flagfile=")}
    files = {os.path.relpath(p, REPO)
             for p in glob.glob(os.path.join(REPO, "bench", "experiments", "*.flags"))}
    assert files and files <= used, sorted(files - used)


def test_self_contained_commands_run(tmp_path):
    """The documented `pxnas zoo`, `pxnas build` and `pxnas show --arch`
    commands whose inputs are zoo names or files an earlier documented
    command writes run to success, in the docs' order, in an empty folder
    (the others need a search, a table, a phone or ImageNet: parsed above;
    the demo's test runs the main job)."""
    from pxnas_tf.models import zoo
    from pxnas_tf.testing import run_pxnas

    ran = 0
    for name, line, argv in documented_commands():
        if argv[0] != "pxnas" or argv[1] not in ("zoo", "build", "show"):
            continue
        values = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv[2:] if "=" in a}
        arch = values.get("--arch")
        if argv[1] == "show" and "--arch" not in values:
            continue
        if arch is not None and arch not in zoo.list_names() and not (tmp_path / arch).exists():
            continue
        if "--space" in values and not (tmp_path / values["--space"]).exists():
            continue
        out = run_pxnas(*argv[1:], cwd=tmp_path, timeout=300)
        assert out.returncode == 0, f"{name}:{line}: {' '.join(argv)}\n{out.stderr[-1500:]}"
        ran += 1
    assert ran >= 6
