"""`pxnas search` as a real process: help, a short search whose arch.json
`pxnas build` loads, and the bad-input refusals (exit 2, one clear line)."""

import pytest

from pxnas_tf.latency import LatencyTable, TableMetadata
from pxnas_tf.latency.model.keys import space_keys
from pxnas_tf.search_space import load_space
from pxnas_tf.testing import run_pxnas, search_args


def test_help_lists_the_search_flags(pxnas_forked):
    out = pxnas_forked.run("search", "--help")
    assert out.returncode == 0, out.stderr
    for flag in ("--grad_mode", "--target_latency", "--latency_table", "--strategy",
                 "--jit_compile", "--search_warmup_epochs", "--arch_every", "--latency_budget",
                 "--candidate_weights", "--deterministic"):
        assert flag in out.stdout


def test_target_out_of_range_names_both_bounds(tmp_path, space_file, pxnas_forked):
    args = [a for a in search_args(space_file, tmp_path / "run") if not a.startswith("--target")]
    out = pxnas_forked.run(*args, "--target_latency_ms=0.001")
    assert out.returncode == 2, out.stderr[-2000:]
    assert "below the fastest arch" in out.stderr and "slowest" in out.stderr
    assert "Traceback" not in out.stderr


def test_table_missing_keys_is_refused_listing_them(tmp_path, space_file):
    space = load_space(str(space_file))
    keys = space_keys(space)
    table = LatencyTable(TableMetadata(device="test", precision="float32"))
    for key in keys[1:]:
        table.set(key, 1.0)
    table.save(str(tmp_path / "table.json"))
    out = run_pxnas(*search_args(space_file, tmp_path / "run",
                                 f"--latency_table={tmp_path / 'table.json'}"))
    assert out.returncode == 2
    assert "lacks 1 key(s)" in out.stderr and keys[0] in out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before training


def test_loss_needing_a_target_without_one(tmp_path, space_file, pxnas_forked):
    args = [a for a in search_args(space_file, tmp_path / "run") if not a.startswith("--target")]
    out = pxnas_forked.run(*args)
    assert out.returncode == 2 and "needs a target latency" in out.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
