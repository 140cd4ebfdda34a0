"""The ProxylessNAS search: the alternating weight / architecture loop
(gradient modes and REINFORCE) under tf.distribute, checkpoints and
resume, the latency model, and derive."""

from pxnas_tf.search.config import GRAD_MODES, LOSS_FORMS, SearchConfig, defaults_for, make_config
from pxnas_tf.search.derive import argmax_indices, derive_indices, most_probable_within
from pxnas_tf.search.errors import NonFiniteLossError, SearchError
from pxnas_tf.search.inputs import SearchData
from pxnas_tf.search.latency_model import LatencyModel
from pxnas_tf.search.loop import Search, SearchResult, run_search
from pxnas_tf.search.optimizers import PathMaskedSGD, TwoPhaseCosine
from pxnas_tf.search.state import SearchState
from pxnas_tf.search.steps import SearchSteps
