"""Hyperparameters of the search, with the paper's defaults for ImageNet and
defaults scaled for small datasets.

ProxylessNAS on ImageNet (Cai et al., ICLR 2019, and its released code): 40 warm-up epochs (lr 0.05
cosine), 120 search epochs (SGD Nesterov 0.9, lr 0.025 cosine, batch 256,
weight decay 4e-5, label smoothing 0.1), an arch step every 5 weight steps
from the second search epoch on, Adam(1e-3, betas (0, 0.999), eps 1e-8) for
the logits, loss mul#log with scale 0.2 and beta 0.3 (add#linear: lambda 0.1).

Small datasets (Fashion-MNIST, CIFAR-10, image folders): a few hundred
steps per epoch instead of about 5,000, so fewer epochs (5 warm-up + 30
search) and a larger arch learning rate (5e-3): with 1e-3 the logits would
move about 15x less in total than in the paper's run. Batch 128. The
temperature of the logits falls from 1 to 0.2 over the search, so that the
distribution decides within the shorter search (the paper's 120 epochs do
that by length alone).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pxnas_tf import limits
from pxnas_tf.knobs import (
    CANDIDATE_WEIGHTS, LATENCY_BUDGETS, MIXED_OP_MODES, WEIGHT_PATHS, SGDKnobs, knob, variant,
)
from pxnas_tf.search_math.loss_forms import LOSS_FORMS

GRAD_MODES = (*MIXED_OP_MODES, "reinforce")


@dataclasses.dataclass(frozen=True)
class SearchConfig(SGDKnobs):
    """Every knob of the search: `pxnas search` generates a flag from each
    field (name, help, choices; unset flags take `defaults_for` the dataset).

    Attributes:
        grad_mode: "full_v2", "two", "full" (gradient) or "reinforce".
        warmup_epochs: weight-only epochs on uniformly sampled paths.
        epochs: joint search epochs after the warm-up.
        batch_size: global batch size (all replicas together).
        steps_per_epoch: weight steps per epoch; None: one pass over train.
        warmup_lr, lr: initial cosine learning rates (warm-up, search).
        momentum, nesterov, decay_bn_bias, label_smoothing, dropout: SGD
            of the weights and its regularisation (`pxnas_tf.knobs.SGDKnobs`;
            the flags list them first); dropout defaults to 0 here.
        weight_decay: L2 on conv / dense kernels of the shared layers and the
            active candidates.
        candidate_weights: "independent" (each candidate op has its own
            weights, the paper's) or "shared" (a block's MBConv candidates
            are slices of its largest one: k3 the centre of k7, e3 the first
            channels of e6). On small budgets only "shared" trains: see
            `pxnas_tf.layers.shared_mbconv`.
        arch_lr, arch_beta1, arch_beta2, arch_epsilon: Adam of the logits.
        arch_every: weight steps per arch step.
        arch_delay_epochs: search epochs without arch steps (paper: 1).
        arch_temperature: the temperature tau at the last arch step; the
            search's distribution is p = softmax(alpha / tau), with tau
            falling geometrically from 1 at the first arch step to this
            value after the last (1: no annealing, the paper's). Paths,
            E[LAT], the logit gradient and the derived arch all use the
            same p, so a falling tau makes the distribution commit and the
            derived net agree with E[LAT] (see `temperature`).
        weight_paths: how the search epochs' weight steps draw their path:
            "p" (from the search's distribution, the paper's) or "uniform"
            (as in the warm-up, single-path one-shot style: every op keeps
            training whatever p prefers, so the supernet's accuracy of an
            arch does not depend on how often p drew it).
        fair_paths: uniform weight paths (the warm-up's, and all of them
            with weight_paths="uniform") in cycles that visit every op of a
            block once (strict fairness, FairNAS), so that no op gets more
            weight steps than another by chance. Not the default: on the
            demo it did not make seeds agree (docs/benchmarks/seed_agreement.md).
        loss: "ce", "mul#log", "add#linear" or "abs#target" (see
            `pxnas_tf.search_math.objectives`).
        target_latency: T, in the latency model's unit (ms, or MMACs for
            the MACs proxy); needed by the latency-aware losses.
        latency_scale, latency_beta: mul#log's scale and exponent.
        latency_lambda: add#linear's and abs#target's weight.
        reinforce_samples: archs sampled per REINFORCE update (M).
        reinforce_exponent: w in R = acc * (T / LAT) ** w.
        reinforce_baseline_decay: b <- decay * b + (1 - decay) * mean R;
            0.01, the original's (its baseline moves 0.99 of the way to
            each new mean reward).
        frozen_candidates: (block, candidate) pairs whose candidate has
            weights of its own (also with shared candidate weights) kept at
            their random initialisation: a known-answer check, as the
            search should learn to avoid them (bench/known_answer.py).
        latency_budget: "hard" derives the most probable arch within the
            target when the argmax arch exceeds it; "band" the most probable
            arch in [budget_floor * target, target] when the argmax arch
            lies outside; "soft" keeps the argmax.
        budget_floor: the band's lower end, as a fraction of the target.
        seed: seeds initialisation, path sampling and (in the CLI) data.
        jit_compile: XLA-compile the forward / backward of the steps.
        checkpoint_every: weight steps between checkpoints (0: epoch ends
            only); checkpoints are also written at every epoch end.
        keep_checkpoints: how many checkpoints to keep.
        log_every: weight steps between TensorBoard scalars.
        eval_batches: arch-holdout batches for the per-epoch accuracy of
            the argmax arch; None: the whole holdout.
    """

    grad_mode: str = knob("full_v2", "How the arch logits learn.", GRAD_MODES)
    warmup_epochs: int = knob(40, "Weight-only epochs on uniform paths.")
    epochs: int = knob(120, "Joint search epochs after the warm-up.")
    batch_size: int = knob(256, "Global batch size (all replicas).")
    steps_per_epoch: int | None = knob(None, "Weight steps per epoch (default: one pass).")
    warmup_lr: float = knob(0.05, "Initial cosine lr of the warm-up.")
    lr: float = knob(0.025, "Initial cosine lr of the search epochs.")
    # momentum, nesterov, decay_bn_bias, label_smoothing: `SGDKnobs`'s.
    weight_decay: float = variant(SGDKnobs, "weight_decay", help="L2 on kernels of shared layers "
                                  "and active candidates.")
    dropout: float = variant(SGDKnobs, "dropout", 0.0)
    candidate_weights: str = knob("independent", "independent: each candidate op its own weights "
        "(the paper's); shared: a block's candidates are slices of its largest (k3 the centre "
        "of k7, e3 the first channels of e6), which trains on small budgets.", CANDIDATE_WEIGHTS)
    arch_lr: float = knob(1e-3, "Adam lr of the arch logits.")
    arch_beta1: float = knob(0.0, "Adam beta1 of the logits.")
    arch_beta2: float = knob(0.999, "Adam beta2 of the logits.")
    arch_epsilon: float = knob(1e-8, "Adam epsilon of the logits.")
    arch_every: int = knob(5, "Weight steps per arch step.")
    arch_samples: int = knob(1, "Path draws per gradient arch step, averaged on its batch (1: "
        "the paper's): the arch gradient's noise comes mostly from the paths drawn in the "
        "other blocks, so K draws cut its variance about K-fold.")
    arch_delay_epochs: int = knob(1, "Search epochs without arch steps.")
    arch_temperature: float = knob(1.0, "Temperature of the logits after the last arch step: p = "
        "softmax(alpha / tau), tau falling geometrically from 1 (1: no annealing, the paper's).")
    weight_paths: str = knob("p", "Paths of the search epochs' weight steps: p (drawn from the "
        "search's distribution, the paper's) or uniform (every op keeps training).",
        WEIGHT_PATHS)
    fair_paths: bool = knob(False, "Uniform weight paths (the warm-up's, and weight_paths="
        "uniform) visit every op of a block once per cycle of N_b steps, in a random order "
        "(strict fairness), instead of independent uniform draws.")
    loss: str = knob("mul#log", "Arch loss (the CLI's default: mul#log with a target, ce "
        "without).", LOSS_FORMS)
    target_latency: float | None = knob(None, "Target latency T, in the latency model's unit (ms "
        "for a table, MMACs for the proxy).")
    latency_scale: float = knob(0.2, "mul#log scale.")
    latency_beta: float = knob(0.3, "mul#log exponent beta.")
    latency_lambda: float = knob(0.1, "add#linear / abs#target weight lambda.")
    reinforce_samples: int = knob(10, "REINFORCE: archs per update M.")
    reinforce_exponent: float = knob(0.1, "REINFORCE: w in acc * (T/LAT)^w.")
    reinforce_baseline_decay: float = knob(0.01, "REINFORCE: baseline decay d in b <- d b + (1 - "
        "d) mean R (the original's: the baseline moves 0.99 of the way).")
    latency_budget: str = knob("soft", "hard: derive the most probable arch within the target when "
        "the argmax arch exceeds it; band: the most probable arch in [budget_floor * target, "
        "target] when the argmax arch lies outside; soft: the argmax.", LATENCY_BUDGETS)
    budget_floor: float = knob(0.9, "Lower end of --latency_budget=band as a fraction of the "
        "target.")
    seed: int = knob(0, "Seed of initialisation, path sampling and data.")
    path_seed: int | None = knob(None, "Seed of the path sampling alone (default: --seed): "
        "with one --seed, another path_seed draws other paths from the same initial weights "
        "and data order (to tell their effects apart).")
    jit_compile: bool = knob(False, "XLA-compile the step functions.")
    checkpoint_every: int = knob(200, "Weight steps between checkpoints (0: epoch ends only).")
    keep_checkpoints: int = knob(3, "Checkpoints to keep.")
    log_every: int = knob(20, "Weight steps between TensorBoard scalars.")
    eval_batches: int | None = knob(None, "Holdout batches for the per-epoch accuracy (default: "
        "the whole holdout).")
    frozen_candidates: tuple = ()

    @property
    def sampling_seed(self) -> int:
        """The seed of the paths (and REINFORCE's archs)."""
        return self.seed if self.path_seed is None else self.path_seed

    def __post_init__(self):
        _choice("grad_mode", self.grad_mode, GRAD_MODES)
        _choice("loss", self.loss, LOSS_FORMS)
        _choice("latency_budget", self.latency_budget, LATENCY_BUDGETS)
        _choice("candidate_weights", self.candidate_weights, CANDIDATE_WEIGHTS)
        _choice("weight_paths", self.weight_paths, WEIGHT_PATHS)
        limits.check_fields(self)  # every numeric field in its range (pxnas_tf.limits)
        if self.loss != "ce" and self.target_latency is None:
            raise ValueError(f"loss {self.loss!r} needs a target latency (--target_latency); "
                             "use --loss=ce to search for accuracy only")
        if self.latency_budget != "soft" and self.target_latency is None:
            raise ValueError(f"latency_budget={self.latency_budget!r} needs a target latency "
                             "(--target_latency)")
        object.__setattr__(self, "frozen_candidates",
                           tuple((int(b), int(j)) for b, j in self.frozen_candidates))

    @property
    def mixed_op_mode(self) -> str:
        """The supernet's mixed-op mode (REINFORCE runs one path: full_v2)."""
        return "full_v2" if self.grad_mode == "reinforce" else self.grad_mode

    @property
    def total_epochs(self) -> int:
        return self.warmup_epochs + self.epochs

    def total_arch_steps(self, steps_per_epoch: int) -> int:
        """Arch steps of the whole search (see `loop.Search._arch_due`)."""
        epochs = max(0, self.epochs - self.arch_delay_epochs)
        return epochs * (steps_per_epoch // self.arch_every)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "SearchConfig":
        return dataclasses.replace(self, **changes)


# Defaults per dataset family: the paper's for ImageNet, scaled for small data.
PAPER = {}
SMALL = {"warmup_epochs": 5, "epochs": 30, "batch_size": 128, "arch_lr": 5e-3,
         "arch_temperature": 0.2}
_DATASET_DEFAULTS = {"imagenet2012": PAPER}


def defaults_for(dataset: str) -> dict:
    """The default overrides of `SearchConfig` for `dataset`."""
    return dict(_DATASET_DEFAULTS.get(dataset, SMALL))


def search_flag_defaults() -> dict[str, str]:
    """Field -> "(paper: X; small datasets: Y)" for the help of the search's
    flags, whose defaults depend on the dataset."""
    out = {}
    for field in dataclasses.fields(SearchConfig):
        if field.default is None:
            continue
        text = f"(paper: {field.default}"
        if field.name in SMALL and SMALL[field.name] != field.default:
            text += f"; small datasets: {SMALL[field.name]}"
        out[field.name] = text + ")"
    return out


def make_config(dataset: str, **values: Any) -> SearchConfig:
    """A `SearchConfig` with the dataset's defaults, then `values` (None
    values are ignored: an unset flag keeps the default)."""
    fields = defaults_for(dataset)
    fields.update({k: v for k, v in values.items() if v is not None})
    return SearchConfig(**fields)


def _choice(name: str, value: str, valid: tuple) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}: expected one of {list(valid)}")
