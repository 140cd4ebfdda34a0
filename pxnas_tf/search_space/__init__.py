"""Search spaces and architectures as data."""

from pxnas_tf.search_space.arch import Arch, arch_from_dict, load_arch, random_archs, validate_ops
from pxnas_tf.search_space.grammar import (
    ZERO, OpSpec, decode_arch_string, decode_op, encode_arch_string, encode_op,
)
from pxnas_tf.search_space.space import (
    BlockSpec, SearchSpace, SpaceError, Stage, list_presets, load_space, make_divisible,
    space_from_dict,
)
