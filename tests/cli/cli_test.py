"""The `pxnas` command line, run as a real process."""

import json

import pytest

from pxnas_tf.testing import run_pxnas


def test_top_level_help_lists_subcommands():
    out = run_pxnas("--help")
    assert out.returncode == 0
    for name in ("zoo", "build", "demo"):
        assert f"  {name} " in out.stdout


@pytest.mark.parametrize("sub,flag", [("zoo", "--json"), ("build", "--arch"), ("demo", "--workdir")])
def test_subcommand_help_lists_its_flags(sub, flag):
    out = run_pxnas(sub, "--help")
    assert out.returncode == 0, out.stderr
    assert f"pxnas {sub}" in out.stdout and flag in out.stdout


def test_unknown_subcommand():
    out = run_pxnas("serach")
    assert out.returncode == 2 and "valid subcommands are" in out.stderr


def test_zoo_list_and_profile_json():
    out = run_pxnas("zoo", "list")
    assert out.returncode == 0, out.stderr
    assert "proxyless_mobile" in out.stdout and "mobilenet_v2" in out.stdout
    out = run_pxnas("zoo", "profile", "--name=proxyless_mobile", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["params"] == 4_080_512 and result["macs"] == 320_427_584


def test_zoo_unknown_name_lists_valid_names():
    out = run_pxnas("zoo", "profile", "--name=proxyless_phone")
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


def test_build_with_bad_arch_names_the_file_and_field(tmp_path):
    arch = tmp_path / "bad.json"
    arch.write_text(json.dumps({"space": "proxyless_small", "ops": ["k3_e3"] * 3}))
    out = run_pxnas("build", f"--arch={arch}", f"--out={tmp_path / 'x.keras'}")
    assert out.returncode == 2
    assert str(arch) in out.stderr and "expected 11 ops" in out.stderr
    out = run_pxnas("build", f"--arch={arch}")
    assert out.returncode == 2 and "--out is required" in out.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_search_takes_the_demos_names_of_its_settings():
    """`pxnas demo --search_epochs=N` and `pxnas search --search_epochs=N` set
    the same thing (the search's own --epochs); every alias reaches its flag."""
    import subprocess
    import sys

    from pxnas_tf.cli.flags import DEMO_SEARCH_NAMES
    code = ("import json, sys\n"
            "from absl import flags\n"
            "from pxnas_tf.cli.flags import DEMO_SEARCH_NAMES, define_search_flags\n"
            "define_search_flags()\n"
            "args = [f'--{a}={7 + i}' for i, a in enumerate(DEMO_SEARCH_NAMES)]\n"
            "flags.FLAGS(['pxnas'] + args)\n"
            "print(json.dumps({a: flags.FLAGS[n].value for a, n in DEMO_SEARCH_NAMES.items()}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    values = json.loads(out.stdout.strip().splitlines()[-1])
    assert values == {a: 7 + i for i, a in enumerate(DEMO_SEARCH_NAMES)}
