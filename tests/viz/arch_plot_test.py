"""Pictures of derived nets, and `pxnas show`."""

import os

import pytest

from pxnas_tf.models import zoo
from pxnas_tf.testing import run_pxnas
from pxnas_tf.viz import KERNEL_COLORS, block_boxes, save_arch_figure


def test_boxes_follow_the_arch():
    arch = zoo.get_arch("proxyless_gpu")
    boxes = block_boxes(arch)
    assert len(boxes) == len(arch.ops) + 4  # stem, first block, ..., head conv, pool+FC
    blocks = boxes[2:-2]
    for box, op in zip(blocks, arch.ops):
        if op == "zero":
            assert box.kind == "zero" and box.label == "skip" and box.color == "none"
        else:
            k, e = int(op[1]), int(op.split("_e")[1])
            assert box.label == f"MB{e} {k}x{k}" and box.color == KERNEL_COLORS[k]
    tall = {b.expand: b.height for b in blocks if b.kind == "block"}
    assert tall[6] > tall[3]
    assert boxes[0].label == "Conv 3x3" and boxes[-1].label == "Pool FC 1000"
    assert blocks[0].shape == (56, 56, 32)  # proxyless_gpu's first stage: 32 channels at 56x56
    for box, spec in zip(blocks, arch.space.blocks()):
        assert box.shape == (*spec.out_size, spec.out_channels)


@pytest.mark.parametrize("ext,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_files(tmp_path, ext, magic):
    path = str(tmp_path / f"net{ext}")
    save_arch_figure(zoo.get_arch("proxyless_mobile"), path)
    with open(path, "rb") as f:
        assert f.read(5).startswith(magic)
    assert os.path.getsize(path) > 5000


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="one of"):
        save_arch_figure(zoo.get_arch("proxyless_mobile"), str(tmp_path / "net.gif"))


def test_show_command(tmp_path):
    out = run_pxnas("show", "--arch=proxyless_gpu", f"--out={tmp_path / 'gpu.svg'}")
    assert out.returncode == 0, out.stderr
    assert "drew proxyless_gpu: 13 blocks, 8 skipped" in out.stdout
    assert (tmp_path / "gpu.svg").read_bytes().startswith(b"<?xml")
    out = run_pxnas("show", "--arch=proxyless_gpu", f"--out={tmp_path / 'gpu.gif'}")
    assert out.returncode == 2 and "pxnas: error:" in out.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
