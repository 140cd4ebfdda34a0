"""The `pxnas` command line, run as a real process."""

import json

import pytest

from pxnas_tf.testing import run_pxnas


def test_top_level_help_lists_subcommands(pxnas_forked):
    out = pxnas_forked.run("--help")
    assert out.returncode == 0
    for name in ("zoo", "build", "demo"):
        assert f"  {name} " in out.stdout


@pytest.mark.parametrize("sub,flag", [("zoo", "--json"), ("build", "--arch"), ("demo", "--workdir")])
def test_subcommand_help_lists_its_flags(sub, flag, pxnas_forked):
    out = pxnas_forked.run(sub, "--help")
    assert out.returncode == 0, out.stderr
    assert f"pxnas {sub}" in out.stdout and flag in out.stdout


def test_unknown_subcommand():
    out = run_pxnas("serach")
    assert out.returncode == 2 and "valid subcommands are" in out.stderr


def test_zoo_list_and_profile_json(pxnas_forked):
    out = pxnas_forked.run("zoo", "list")
    assert out.returncode == 0, out.stderr
    assert "proxyless_mobile" in out.stdout and "mobilenet_v2" in out.stdout
    out = pxnas_forked.run("zoo", "profile", "--name=proxyless_mobile", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["params"] == 4_080_512 and result["macs"] == 320_427_584


def test_zoo_unknown_name_lists_valid_names(pxnas_forked):
    out = pxnas_forked.run("zoo", "profile", "--name=proxyless_phone")
    assert out.returncode == 2
    assert "pxnas: error: unknown zoo name 'proxyless_phone'" in out.stderr
    assert "proxyless_gpu" in out.stderr and "Traceback" not in out.stderr


def test_show_then_build_from_the_arch_file(tmp_path):
    arch = tmp_path / "mobile.json"
    out = run_pxnas("zoo", "show", "proxyless_mobile", f"--out={arch}")
    assert out.returncode == 0, out.stderr
    assert json.loads(arch.read_text())["name"] == "proxyless_mobile"
    model = tmp_path / "net.keras"
    out = run_pxnas("build", f"--arch={arch}", "--input_shape=32,32,3", "--num_classes=10",
                    "--batch_size=1", f"--out={model}")
    assert out.returncode == 0, out.stderr
    assert model.exists() and "wrote" in out.stdout


def test_build_with_bad_arch_names_the_file_and_field(tmp_path, pxnas_forked):
    arch = tmp_path / "bad.json"
    arch.write_text(json.dumps({"space": "proxyless_small", "ops": ["k3_e3"] * 3}))
    out = pxnas_forked.run("build", f"--arch={arch}", f"--out={tmp_path / 'x.keras'}")
    assert out.returncode == 2
    assert str(arch) in out.stderr and "expected 11 ops" in out.stderr
    out = pxnas_forked.run("build", f"--arch={arch}")
    assert out.returncode == 2 and "--out is required" in out.stderr


def _flags_process(code: str) -> str:
    """The last line `code` prints, run in a fresh process (absl's FLAGS are global)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "from absl import flags\n" + code],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_search_flags_carry_the_demos_names():
    """`pxnas search` names the search's settings as the demo does
    (`--search_epochs`, ...: `--epochs` is the training's in `pxnas train` and
    `pxnas demo`), as flags of their own, not aliases."""
    import dataclasses

    from pxnas_tf.pipeline.config import PipelineConfig
    demo = [f.name for f in dataclasses.fields(PipelineConfig) if f.name.startswith("search_")]
    code = ("import json\n"
            "from pxnas_tf.cli.flags import ALIASES, define_search_flags\n"
            "define_search_flags()\n"
            "print(json.dumps([n for n in flags.FLAGS if n not in ALIASES]))\n")
    names = json.loads(_flags_process(code))
    assert set(demo) <= set(names)
    assert "epochs" not in names and "warmup_epochs" not in names


@pytest.mark.parametrize("command", ["search", "train"])
def test_old_flag_names_reach_their_flags(command):
    from pxnas_tf.cli.flags import OLD_NAMES
    code = ("import json\n"
            f"from pxnas_tf.cli.flags import OLD_NAMES, define_{command}_flags\n"
            f"define_{command}_flags()\n"
            f"old = OLD_NAMES[{command!r}]\n"
            "values = {}\n"
            "for i, (a, n) in enumerate(old.items()):\n"
            "    flags.FLAGS.unparse_flags()\n"
            "    flags.FLAGS(['pxnas', f'--{a}={7 + i}'])\n"
            "    values[a] = flags.FLAGS[n].value\n"
            "print(json.dumps(values))\n")
    values = json.loads(_flags_process(code))
    assert values == {a: 7 + i for i, a in enumerate(OLD_NAMES[command])}


@pytest.mark.parametrize("typed", ["search_epochs", "epochs"])
def test_a_flag_out_of_range_is_named_as_typed(typed):
    """Through an old name or its own, one problem, under the name typed."""
    code = ("from pxnas_tf.cli.errors import UsageError, check_number_flags\n"
            "from pxnas_tf.cli.flags import define_search_flags\n"
            "define_search_flags()\n"
            f"flags.FLAGS(['pxnas', '--{typed}=-1'])\n"
            "try:\n"
            "    check_number_flags(flags.FLAGS)\n"
            "except UsageError as e:\n"
            "    print(e)\n")
    assert _flags_process(code) == f"--{typed}=-1: expected >= 0"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
