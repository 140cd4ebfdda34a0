"""One net, one table, one number: every part of the tool that quotes a
net's latency (the predictor, the search's latency model, export
verification, `pxnas latency predict`) gives the same figure, including the
terms the search's per-block form leaves out (here, weight streaming)."""

import json

import pytest

from pxnas_tf.export.export import _predicted_latency
from pxnas_tf.latency import LatencyTable, TableMetadata, predict, space_keys
from pxnas_tf.search import LatencyModel
from pxnas_tf.search_space import Arch, load_space
from pxnas_tf.testing import run_pxnas, tiny16_space_dict

SPACE = tiny16_space_dict(channels=3, name="tiny_one_number")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    space = load_space(SPACE)
    table = LatencyTable(TableMetadata(device="test target", precision="int8", space=space.name))
    table.update({k: 0.01 * (i + 1) for i, k in enumerate(space_keys(space))})
    # A rate whose L2 the net's weights exceed: the streaming term is not 0.
    table.metadata.weight_streaming = {"ms_per_mb": 0.5, "l2_bytes": 1024}
    path = str(tmp_path_factory.mktemp("one_number") / "table.json")
    table.save(path)
    arch = Arch(space, ("k5_e6", "zero", "k3_e3"), "net")
    return space, LatencyTable.load(path), path, arch


def test_every_consumer_quotes_the_same_number(setup):
    space, table, path, arch = setup
    whole = predict(arch, table)
    assert whole.streaming_ms > 0 and whole.total_ms > whole.layers_ms
    assert whole.source == "table+streaming"

    search = LatencyModel.from_table(space, path)
    indices = [b.candidates.index(op) for b, op in zip(space.blocks(), arch.ops)]
    assert search.predict(arch, indices) == pytest.approx(whole.total_ms, rel=1e-12)
    # The per-block form (what E[LAT] adds up) is the layers' sum.
    assert search.arch_latency(indices) == pytest.approx(whole.layers_ms, rel=1e-12)

    assert _predicted_latency(arch, path, "int8", 1)[0] == pytest.approx(whole.total_ms, rel=1e-12)

    arch_file = path.replace("table.json", "arch.json")
    arch.save(arch_file)
    out = run_pxnas("latency", "predict", f"--table={path}", f"--arch={arch_file}", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    cli = json.loads(out.stdout.strip().splitlines()[-1])
    assert cli["latency_ms"] == pytest.approx(whole.total_ms, rel=1e-9)
    assert cli["source"] == whole.source


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
