"""Keras 3 layers of pxnas_tf (serializable, package "pxnas_tf")."""

from pxnas_tf.layers.mbconv import MBConv
from pxnas_tf.layers.mixed_op import MixedOp
from pxnas_tf.layers.shared_mbconv import SharedMBConv
from pxnas_tf.layers.zero_op import ZeroOp
