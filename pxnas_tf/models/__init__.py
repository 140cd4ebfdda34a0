"""Derived-net builder, zoo of named archs, profiling."""

from pxnas_tf.models.derived import build_model
from pxnas_tf.models.profile import Profile, profile_arch, profile_model
from pxnas_tf.models import zoo
