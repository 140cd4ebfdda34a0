"""Search spaces and architectures as data."""

from pxnas_tf.search_space.grammar import (
    ZERO, OpSpec, decode_arch_string, decode_op, encode_arch_string, encode_op,
)
from pxnas_tf.search_space.space import (
    Arch, BlockSpec, SearchSpace, SpaceError, Stage, arch_from_dict, list_presets,
    load_arch, load_space, make_divisible, space_from_dict, validate_ops,
)
