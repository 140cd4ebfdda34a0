"""The one exception type of the data package."""

from pxnas_tf.errors import PxnasError


class DataError(PxnasError, ValueError):
    """A dataset is missing, malformed or asked for with bad options.

    The message names the dataset or file, what is wrong and, where the data
    is missing, exactly how to get it.
    """
