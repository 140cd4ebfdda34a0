"""Zoo nets: counts equal the published ones, exactly."""

import pytest

from pxnas_tf.models import build_model, profile_arch, profile_model, zoo
from pxnas_tf.search_space import SpaceError

# name: (trainable params, exact MACs, published MACs in millions).
# Params: the official PyTorch models' trainable-parameter counts (BN gamma and
# beta included, as torch counts them): ProxylessNAS (Cai et al. 2019) as
# published with the official nets, MobileNetV2 1.0 as torchvision/Keras.
# MACs: conv/depthwise/dense multiply-accumulates of one 224x224 image; the
# papers publish them rounded to millions (MobileNetV2: 300M; ProxylessNAS
# mobile 320M, CPU 439M, GPU 465M).
PUBLISHED = {
    "proxyless_mobile": (4_080_512, 320_427_584, 320),
    "proxyless_cpu": (4_361_648, 439_243_864, 439),
    "proxyless_gpu": (7_119_848, 465_260_160, 465),
    "proxyless_mobile_14": (6_857_568, 580_883_408, 581),
    "mobilenet_v2": (3_504_872, 300_774_272, 301),
}

# MobileNetV2 width multipliers, MACs (millions) as in Sandler et al. 2018
# Table 6 / the official checkpoints table.
MOBILENET_V2_MACS = {0.35: 59, 0.5: 97, 0.75: 209, 1.4: 582}


def test_registry_lists_every_net():
    assert zoo.list_names() == sorted(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_counts_equal_published(name):
    params, macs, macs_m = PUBLISHED[name]
    p = profile_arch(zoo.get_arch(name))
    assert p.params == params
    assert p.macs == macs
    assert round(p.macs / 1e6) == macs_m


@pytest.mark.parametrize("name", ["proxyless_mobile", "mobilenet_v2"])
def test_keras_model_counts_equal_published(name):
    model = build_model(zoo.get_arch(name), batch_size=1)
    p = profile_model(model)
    assert (p.params, p.macs) == PUBLISHED[name][:2]
    assert tuple(model.output.shape) == (1, 1000)


@pytest.mark.parametrize("width_mult,macs_m", sorted(MOBILENET_V2_MACS.items()))
def test_mobilenet_v2_width_multipliers(width_mult, macs_m):
    p = profile_arch(zoo.get_arch("mobilenet_v2", width_mult=width_mult))
    assert round(p.macs / 1e6) == macs_m


def test_published_block_lists():
    mobile = zoo.get_arch("proxyless_mobile")
    assert mobile.arch_string == (
        "k5_e3,k3_e3,zero,zero|k7_e3,k3_e3,k5_e3,k5_e3|k7_e6,k5_e3,k5_e3,k5_e3|"
        "k5_e6,k5_e3,k5_e3,k5_e3|k7_e6,k7_e6,k7_e3,k7_e3|k7_e6")
    assert [s.width for s in mobile.space.stages] == [32, 40, 80, 96, 192, 320]
    gpu = zoo.get_arch("proxyless_gpu")
    assert gpu.space.stem_channels == 40 and gpu.space.head_channels == 1728
    assert gpu.ops.count("zero") == 8


def test_overrides_for_small_inputs():
    arch = zoo.get_arch("proxyless_cpu", input_shape=(32, 32, 3), num_classes=10)
    model = build_model(arch)
    assert tuple(model.output.shape) == (None, 10)


def test_unknown_name_lists_valid_names():
    with pytest.raises(SpaceError, match="valid names are .*proxyless_mobile"):
        zoo.get_arch("proxyless_phone")


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("mobilenet_v2", "again")(lambda: None)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
