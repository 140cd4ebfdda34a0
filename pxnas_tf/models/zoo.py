"""Named architectures: the published ProxylessNAS nets and MobileNetV2,
in the arch format and built by the same builder as searched nets.

Block lists from the official ProxylessNAS net configs (Cai et al., ICLR
2019; transcribed e.g. in osmr/imgclsmob). Their widths differ from the
search space's defaults, so each entry carries its own space. Published
trainable-parameter counts (pinned in tests/models/zoo_test.py):
proxyless_mobile 4,080,512; proxyless_cpu 4,361,648; proxyless_gpu
7,119,848; proxyless_mobile_14 6,857,568; mobilenet_v2 (1.0) 3,504,872.
"""

from __future__ import annotations

from typing import Callable

from pxnas_tf.search_space import Arch, SearchSpace, SpaceError, load_arch, load_space, validate_ops

_REGISTRY: dict[str, Callable[..., Arch]] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str):
    """Registers an arch factory under `name`; duplicates are refused."""
    def wrap(fn):
        if name in _REGISTRY:
            raise ValueError(f"zoo name {name!r} is already registered")
        _REGISTRY[name] = fn
        _DESCRIPTIONS[name] = description
        return fn
    return wrap


def list_names() -> list[str]:
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    _check(name)
    return _DESCRIPTIONS[name]


def _check(name: str) -> None:
    if name not in _REGISTRY:
        raise SpaceError(f"unknown zoo name {name!r}: valid names are {list_names()}")


def get_arch(name: str, *, input_shape=None, num_classes: int | None = None,
             width_mult: float | None = None) -> Arch:
    """The arch of zoo net `name`, optionally for another input shape,
    number of classes or width multiplier (e.g. MobileNetV2 0.35 - 1.4).

    Raises:
        SpaceError: for an unknown name (the message lists the valid names).
    """
    _check(name)
    arch = _REGISTRY[name]()
    overrides = {}
    if input_shape is not None:
        overrides["input_shape"] = list(input_shape)
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    if width_mult is not None:
        overrides["width_mult"] = width_mult
    if overrides:
        arch = Arch(arch.space.replace(**overrides), arch.ops, arch.name)
    return arch


def _proxyless(name: str, stem: int, first: int, widths: list[int], head: int,
               stage_ops: list[str]) -> Arch:
    base = load_space("proxyless_imagenet")
    stages = [{"width": w, "blocks": s.blocks, "stride": s.stride}
              for w, s in zip(widths, base.stages)]
    space = base.replace(name=f"{name}_space", stem_width=stem, first_block_width=first,
                         stages=stages, head_width=head)
    ops = tuple(op for stage in stage_ops for op in stage.split(","))
    return Arch(space, ops, name)


_MOBILE_OPS = [
    "k5_e3,k3_e3,zero,zero",
    "k7_e3,k3_e3,k5_e3,k5_e3",
    "k7_e6,k5_e3,k5_e3,k5_e3",
    "k5_e6,k5_e3,k5_e3,k5_e3",
    "k7_e6,k7_e6,k7_e3,k7_e3",
    "k7_e6",
]


@register("proxyless_mobile", "ProxylessNAS searched for a Pixel 1 phone: 74.6% top-1, 78 ms")
def proxyless_mobile() -> Arch:
    return _proxyless("proxyless_mobile", 32, 16, [32, 40, 80, 96, 192, 320], 1280, _MOBILE_OPS)


@register("proxyless_mobile_14", "proxyless_mobile with 1.4x widths")
def proxyless_mobile_14() -> Arch:
    return _proxyless("proxyless_mobile_14", 48, 24, [40, 56, 112, 136, 256, 448], 1792,
                      _MOBILE_OPS)


@register("proxyless_cpu", "ProxylessNAS searched for an Intel Xeon CPU: 75.3% top-1")
def proxyless_cpu() -> Arch:
    return _proxyless("proxyless_cpu", 40, 24, [32, 48, 88, 104, 216, 360], 1432, [
        "k3_e6,k3_e3,k3_e3,k3_e3",
        "k3_e6,k3_e3,k3_e3,k5_e3",
        "k3_e6,zero,zero,k3_e3",
        "k5_e6,k3_e3,k3_e3,k3_e3",
        "k5_e6,k5_e3,k5_e3,k3_e3",
        "k5_e6",
    ])


@register("proxyless_gpu", "ProxylessNAS searched for a V100 GPU: 75.1% top-1, 5.1 ms")
def proxyless_gpu() -> Arch:
    return _proxyless("proxyless_gpu", 40, 24, [32, 56, 112, 128, 256, 432], 1728, [
        "k5_e3,zero,zero,zero",
        "k7_e3,zero,zero,k3_e3",
        "k7_e6,zero,zero,k5_e3",
        "k5_e6,zero,k3_e3,k5_e3",
        "k7_e6,k7_e6,k7_e6,k5_e6",
        "k7_e6",
    ])


@register("mobilenet_v2", "MobileNetV2 (Sandler et al. 2018), width multiplier selectable: 72.0% top-1 at 1.0")
def mobilenet_v2() -> Arch:
    space = load_space("proxyless_imagenet").replace(
        name="mobilenet_v2_space", candidates=["k3_e6"], zero_op=False,
        stages=[{"width": 24, "blocks": 2, "stride": 2}, {"width": 32, "blocks": 3, "stride": 2},
                {"width": 64, "blocks": 4, "stride": 2}, {"width": 96, "blocks": 3, "stride": 1},
                {"width": 160, "blocks": 3, "stride": 2}, {"width": 320, "blocks": 1, "stride": 1}])
    return Arch(space, ("k3_e6",) * space.num_blocks, "mobilenet_v2")


def mobilenet_v2_in(space: SearchSpace, width_mult: float = 1.0) -> Arch:
    """MobileNetV2-like arch inside another space: every block k3_e6 (a
    baseline in the search space's own arch format, e.g. for Pareto fronts)."""
    space = space.replace(width_mult=width_mult, name=f"{space.name}_x{width_mult:g}")
    ops = tuple("k3_e6" if "k3_e6" in b.candidates else b.candidates[0] for b in space.blocks())
    return Arch(space, ops, f"mobilenet_v2_like_x{width_mult:g}")


def resolve_arch(arch: str, space=None, *, input_shape=None, num_classes: int | None = None,
                 width_mult: float | None = None) -> Arch:
    """An arch from a zoo name or an arch JSON file, with overrides.

    Args:
        arch: zoo name or path of an arch JSON file.
        space: search space (name, file or object) replacing the arch's own.
        input_shape, num_classes, width_mult: overrides of the space.

    Raises:
        SpaceError: naming the bad name/file/field.
    """
    import os

    if arch in _REGISTRY and not os.path.exists(arch):
        result = get_arch(arch)
    elif os.path.exists(arch):
        result = load_arch(arch)
    else:
        raise SpaceError(
            f"--arch {arch!r} is neither an arch JSON file nor a zoo name; zoo names are "
            f"{list_names()}")
    if space is not None:
        new_space = load_space(space)
        result = Arch(new_space, validate_ops(new_space, result.ops, source=str(arch)), result.name)
    overrides = {k: v for k, v in (("input_shape", input_shape), ("num_classes", num_classes),
                                   ("width_mult", width_mult)) if v is not None}
    if overrides:
        if "input_shape" in overrides:
            shape = overrides["input_shape"]
            try:
                overrides["input_shape"] = [int(x) for x in shape]
            except ValueError:
                raise SpaceError(f"--input_shape={','.join(map(str, shape))}: expected whole "
                                 "numbers H,W,C, e.g. 28,28,1") from None
        result = Arch(result.space.replace(**overrides), result.ops, result.name)
    return result
