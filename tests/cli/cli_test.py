"""The `pxnas` command line, run as a real process."""

import json
import os
import subprocess
import sys

import pytest


def pxnas(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "pxnas_tf.cli.main", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_top_level_help_lists_subcommands():
    out = pxnas("--help")
    assert out.returncode == 0
    for name in ("zoo", "build", "demo"):
        assert f"  {name} " in out.stdout


@pytest.mark.parametrize("sub,flag", [("zoo", "--json"), ("build", "--arch"), ("demo", "--workdir")])
def test_subcommand_help_lists_its_flags(sub, flag):
    out = pxnas(sub, "--help")
    assert out.returncode == 0, out.stderr
    assert f"pxnas {sub}" in out.stdout and flag in out.stdout


def test_unknown_subcommand():
    out = pxnas("serach")
    assert out.returncode == 2 and "valid subcommands are" in out.stderr


def test_zoo_list_and_profile_json():
    out = pxnas("zoo", "list")
    assert out.returncode == 0, out.stderr
    assert "proxyless_mobile" in out.stdout and "mobilenet_v2" in out.stdout
    out = pxnas("zoo", "profile", "--name=proxyless_mobile", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["params"] == 4_080_512 and result["macs"] == 320_427_584


def test_zoo_unknown_name_lists_valid_names():
    out = pxnas("zoo", "profile", "--name=proxyless_phone")
    assert out.returncode == 2
    assert "pxnas: error: unknown zoo name 'proxyless_phone'" in out.stderr
    assert "proxyless_gpu" in out.stderr and "Traceback" not in out.stderr


def test_show_then_build_from_the_arch_file(tmp_path):
    arch = tmp_path / "mobile.json"
    out = pxnas("zoo", "show", "proxyless_mobile", f"--out={arch}")
    assert out.returncode == 0, out.stderr
    assert json.loads(arch.read_text())["name"] == "proxyless_mobile"
    model = tmp_path / "net.keras"
    out = pxnas("build", f"--arch={arch}", "--input_shape=32,32,3", "--num_classes=10",
                "--batch_size=1", f"--out={model}")
    assert out.returncode == 0, out.stderr
    assert model.exists() and "wrote" in out.stdout


def test_build_with_bad_arch_names_the_file_and_field(tmp_path):
    arch = tmp_path / "bad.json"
    arch.write_text(json.dumps({"space": "proxyless_small", "ops": ["k3_e3"] * 3}))
    out = pxnas("build", f"--arch={arch}", f"--out={tmp_path / 'x.keras'}")
    assert out.returncode == 2
    assert str(arch) in out.stderr and "expected 11 ops" in out.stderr
    out = pxnas("build", f"--arch={arch}")
    assert out.returncode == 2 and "--out is required" in out.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
