"""The calibrations a latency table build runs once its entries are complete.

`CalibrationSteps` is a mixin of the builder's `_Build`: each step measures
what its record in the table metadata lacks, saves as it goes, and adds what
it timed to ``self.measured``. The host provides ``table``, ``runner``,
``space``, ``keys``, ``precision``, ``settings``, ``models_dir``, ``pairs``,
``measured``, ``log``, ``_save()``, ``_unscaled(key)``, ``_refresh(key)``,
``_stem_kernel()`` and ``_keras``.
"""

from __future__ import annotations

import os

from pxnas_tf.latency.build import context_chains, in_net, net_scale, streaming_chains
from pxnas_tf.latency.model import context, streaming


class CalibrationSteps:
    """Weight streaming, footprints, context, net scale and in-net nets."""

    def _net_scale(self) -> None:
        """The tf runner's whole-net factor (`pxnas_tf.latency.build.net_scale`),
        fitted once per table; the entries are then stored with it."""
        meta = self.table.metadata
        if not self.pairs or self.space is None or (meta.net_scale or {}).get("factor"):
            return

        def save(record: dict) -> None:
            meta.net_scale = record
            self._save()

        record = net_scale.calibrate(self.runner, self.space, self._unscaled, self.settings,
                                     meta.net_scale, save, self.log)
        self.measured += sum(len(r) for r in record["runs"].values())
        for key in self.keys:
            self._refresh(key)
        self.log(f"net scale: {record['factor']:.3f} (fitted to {len(record['archs'])} whole "
                 "nets; every entry but the stem's is stored with it)")
        self._save()

    def _in_net_first_pass(self) -> None:
        """The in-net nets' first pass, timed before the other calibrations
        so that their passes lie minutes apart (`in_net.calibrate`)."""
        self._in_net(first_pass=True)

    def _in_net(self, first_pass: bool = False) -> None:
        """With the probes: random mobile nets timed whole, which the op
        model's in-net factors are fit to (`pxnas_tf.latency.build.in_net`);
        a table with fewer than `in_net.NUM_NETS` gets the rest. With
        `first_pass`: one pass of each net only (the record stays
        incomplete)."""
        meta = self.table.metadata
        if not meta.probes or self._keras or in_net.is_complete(meta.in_net):
            return

        def save(record: dict) -> None:
            meta.in_net = record
            self._save()

        def passes(record: dict | None) -> int:
            return sum(len(e.get("runs", [])) for e in (record or {}).get("nets", {}).values())

        before = passes(meta.in_net)
        stat = self.table.default_stat  # the passes' values are on this scale
        lowest = {k: min(self.table.entries[k].runs or (self.table.value(k, stat),))
                  for k in self.keys if k in self.table}
        reference = {k: (self._path(k), lowest[k]) for k in in_net.reference_keys(lowest)}
        record = in_net.calibrate(self.runner, self.precision,
                                  os.path.join(self.models_dir, "in_net"), self.settings,
                                  meta.in_net, save, self.log, first_pass=first_pass,
                                  reference=reference)
        record["complete"] = not first_pass
        self.measured += passes(record) - before  # this run's passes only
        save(record)

    def _weight_streaming(self) -> None:
        """Measures the target's weight-streaming rate once per table
        (`pxnas_tf.latency.model.streaming`), where the runner knows its caches."""
        meta = self.table.metadata
        caches = meta.caches or {}
        if not self.settings.weight_streaming or not caches.get("L2"):
            return
        if (meta.weight_streaming
                and streaming.calibration_is_valid(meta.weight_streaming, self.precision)
                and not (meta.probes and meta.weight_streaming.get("max_bytes"))):
            return  # (a curve cut at the table's own nets is measured again for probes)
        self.log("measuring the weight-streaming curve (chains of 1x1 convs)")
        # A table without probes predicts its own nets only: no net holds more
        # weights than all of its keys together, so the curve can stop there.
        most = None if meta.probes else 2 * streaming.weight_bytes(
            self.keys, self.precision, self._stem_kernel())
        info = streaming_chains.measure_streaming(
            self.runner, self.precision, caches, os.path.join(self.models_dir, "streaming"),
            streaming.calibration_channels(caches["L2"], self.precision), most)
        self.measured += streaming_chains.PASSES * (1 + len(info["curve"]))
        meta.weight_streaming = info
        self._save()

    def _footprints(self) -> None:
        """Records every key's resident memory (`context_chains.record_footprints`)."""
        if not self.settings.footprint or self._keras:
            return  # the tf runner's memory is the framework's (no per-model footprint)
        record = context_chains.record_footprints(
            self.runner, self.keys, self.table.metadata.footprint, self.precision,
            self.models_dir, self._stem_kernel(), self.log)
        if record is not None:
            self.table.metadata.footprint = record
            self._save()
        record = self.table.metadata.footprint or {}
        if self.settings.context and not record.get("unsupported"):
            # The small-map groups' blocks, not in the table: their memory only
            # (the table's keys are recorded already).
            record = context_chains.record_footprints(
                self.runner, self._context_keys(record), record, self.precision,
                self.models_dir, self._stem_kernel(), self.log)
            if record is not None:
                self.table.metadata.footprint = record
                self._save()

    def _context_keys(self, record: dict) -> list[str]:
        """The table's keys and its small-map calibration keys."""
        return list(self.keys) + context.small_map_keys(self.keys, record, self.precision,
                                                        self._stem_kernel())

    def _context(self) -> None:
        """Calibrates the context term's groups that the table's keys need
        and it lacks (`pxnas_tf.latency.model.context`); saved after every measurement."""
        meta = self.table.metadata
        record = meta.footprint or {}
        if (not self.settings.footprint or not self.settings.context
                or record.get("unsupported") or not record.get("bytes")):
            return
        previous = meta.context or {}
        keys = self._context_keys(record)
        needed = context.calibration_keys(keys, record, self.precision, self._stem_kernel())
        if previous and all(g in (previous.get("groups") or {}) for g in needed):
            return
        info = context_chains.measure_context(self.runner, keys, record, self.precision,
                                              meta.caches or {},
                                              os.path.join(self.models_dir, "context"),
                                              self._stem_kernel(),
                                              max(self.settings.min_passes, context.MIN_PASSES),
                                              max(self.settings.max_passes, context.MAX_PASSES),
                                              self.settings.agree_tol,
                                              previous=previous, log=self.log,
                                              save=self._save_context,
                                              weight_streaming=meta.weight_streaming)
        old = previous.get("groups") or {}
        resumed = sum(len(r) for p in (previous.get("pending") or {}).values()
                      for r in (p.get("runs") or {}).values())
        self.measured += sum(len(r) for g, p in info["groups"].items() if g not in old
                             for r in p["chain_runs"].values()) - resumed
        meta.context = info
        self._save()

    def _save_context(self, info: dict) -> None:
        """Chain runs so far, saved after every calibration measurement."""
        self.table.metadata.context = info
        self._save()
