"""Input pipelines: Fashion-MNIST (Debian IDX files), CIFAR-10 and ImageNet
(tensorflow-datasets), image folders; each as train / arch-holdout /
validation tf.data pipelines.

    splits = pxnas_tf.data.load("fashion_mnist", batch_size=128, image_size=32, channels=3)
    for images, labels in splits.train: ...   # (128, 32, 32, 3) float32, (128,) int32
"""

from pxnas_tf.data.errors import DataError
from pxnas_tf.data.idx import encode_idx, parse_idx, read_idx, write_idx
from pxnas_tf.data.preprocess import Normalization
from pxnas_tf.data.splits import Splits, list_datasets, load

__all__ = ["DataError", "Normalization", "Splits", "encode_idx", "list_datasets", "load", "parse_idx",
           "read_idx", "write_idx"]
