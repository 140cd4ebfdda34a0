"""Running an exported file in LiteRT and checking it against the Keras
model: predictions, accuracy, agreement, the int8-only op rule, host
latency.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pxnas_tf.export.errors import VerificationError
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.measure.runner import BenchModel, MeasureSettings
from pxnas_tf.tflite import file as tflite_file

INTEGER_MODES = ("int8", "qat")


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Host latency of one invoke (batch 1), measured by the latency
    package's host runner (interleaved rounds, busy-machine rounds thrown
    away, stop once the quiet rounds agree).

    Attributes:
        median_ms, mean_ms, std_ms: over the invokes of the quiet rounds.
        invokes: invokes summarised; rounds: rounds run.
        threads: interpreter threads.
        flags: "unstable" / "contended" when the figure is doubtful.
        device: the host, as the runner describes it.
    """

    median_ms: float
    mean_ms: float
    std_ms: float | None
    invokes: int
    rounds: int
    threads: int
    flags: tuple[str, ...] = ()
    device: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class VerificationReport:
    """How an exported file compares with its Keras model.

    Attributes:
        mode: export mode.
        size_bytes: file size.
        ops: op name -> count.
        integer_only: no op reads or writes a float tensor.
        examples: images compared.
        tflite_top1, keras_top1: accuracy on those images (None without labels).
        agreement: fraction of images with the same top-1 class.
        max_abs_diff: largest |logit difference| (dequantized for int8).
        latency: measured host latency, or None.
        predicted_latency_ms: the latency table's prediction, or None.
        latency_table: the table's device / name, or None.
    """

    mode: str
    size_bytes: int
    ops: dict[str, int]
    integer_only: bool
    examples: int
    tflite_top1: float | None
    keras_top1: float | None
    agreement: float
    max_abs_diff: float
    latency: LatencyStats | None = None
    predicted_latency_ms: float | None = None
    latency_table: str | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["latency"] = None if self.latency is None else self.latency.to_dict()
        return d

    def summary_lines(self) -> list[str]:
        """A few human-readable lines."""
        acc = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"
        lines = [f"size          {self.size_bytes:,} bytes",
                 f"ops           {', '.join(f'{k} x{v}' for k, v in self.ops.items())}",
                 f"int8 only     {'yes' if self.integer_only else 'no'}",
                 f"top-1         tflite {acc(self.tflite_top1)}  keras {acc(self.keras_top1)}  "
                 f"on {self.examples} images",
                 f"agreement     {100 * self.agreement:.2f}% (max |logit diff| "
                 f"{self.max_abs_diff:.4g})"]
        if self.latency is not None:
            lat = self.latency
            pred = ("" if self.predicted_latency_ms is None else
                    f"; table {self.latency_table or ''} predicts {self.predicted_latency_ms:.3f} ms")
            flags = f", {'/'.join(lat.flags)}" if lat.flags else ""
            where = f"on {lat.device}" if lat.device.startswith("tf:") else "on this host"
            lines.append(f"latency       {lat.median_ms:.3f} ms median {where} "
                         f"({lat.threads} thread(s), {lat.invokes} invokes{flags}){pred}")
        return lines


def make_interpreter(content: bytes, num_threads: int | None = None):
    """A LiteRT interpreter with tensors allocated (XNNPACK on, the default)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_content=bytes(content), num_threads=num_threads)
        interpreter.allocate_tensors()
    except Exception as e:
        raise VerificationError(f"LiteRT cannot load the exported model: {e}") from None
    return interpreter


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def _dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    if not np.issubdtype(detail["dtype"], np.integer):
        return q.astype(np.float32)
    scale, zero = detail["quantization"]
    return (q.astype(np.float32) - zero) * scale


def tflite_logits(content: bytes, images: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """Float logits `(N, classes)` of a batch-1 model run image by image on
    float images `(N, H, W, C)` (quantized / dequantized for int8 models)."""
    interpreter = make_interpreter(content, num_threads)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    expected = tuple(int(d) for d in inp["shape"][1:])
    if tuple(images.shape[1:]) != expected:
        raise VerificationError(f"images have shape {images.shape[1:]}; the model expects "
                                f"{expected}")
    results = []
    for image in images:
        interpreter.set_tensor(inp["index"], _quantize(image[None].astype(np.float32), inp))
        interpreter.invoke()
        results.append(_dequantize(interpreter.get_tensor(out["index"])[0], out))
    return np.stack(results) if results else np.zeros((0, out["shape"][-1]), np.float32)


def latency_settings(max_wait_s: float = 30.0, **changes):
    """Host-runner settings for verification: the runner's defaults, but
    waiting at most `max_wait_s` for a busy machine to go quiet."""
    return MeasureSettings(max_wait_s=max_wait_s, **changes)


def measure_latencies(paths: dict[str, str], num_threads: int = 1, settings=None,
                      xnnpack: bool = True) -> dict[str, LatencyStats]:
    """Host latency of several `.tflite` files, measured side by side
    (interleaved rounds, so that load from other processes hits them all),
    with LiteRT's XNNPACK delegate or (`xnnpack=False`) its builtin kernels."""

    with HostRunner(threads=num_threads, xnnpack=xnnpack,
                    settings=settings or latency_settings()) as runner:
        device = runner.metadata()["device"]
        results = runner.measure([BenchModel(name, path) for name, path in paths.items()])
        return {model.name: LatencyStats(
            median_ms=m.value_ms, mean_ms=m.mean_ms, std_ms=m.std_ms, invokes=m.count,
            rounds=m.rounds, threads=num_threads, flags=tuple(m.flags), device=device)
            for model, m in results}


def measure_latency(path: str, num_threads: int = 1, settings=None) -> LatencyStats:
    """Host latency of one `.tflite` file (see `measure_latencies`)."""
    return measure_latencies({"model": path}, num_threads, settings)["model"]


def check_integer_only(content: bytes) -> list[tflite_file.OpInfo]:
    """Raises unless every op of the model computes in integers.

    Returns:
        The model's ops.

    Raises:
        VerificationError: naming each op that reads or writes a float
            tensor and the float types it uses.
    """
    ops = tflite_file.list_ops(content)
    bad = tflite_file.non_integer_ops(ops)
    if bad:
        listed = ", ".join(f"{op.name} (op #{op.index}, {'/'.join(sorted(set(op.float_types)))})"
                           for op in bad)
        raise VerificationError(
            f"the int8 model is not integer-only: {len(bad)} op(s) use float tensors: {listed}. "
            "The converter keeps an op in float (between DEQUANTIZE and QUANTIZE) when it has no "
            "int8 kernel; replace the layer that produces it with one that has")
    return ops


def compare(mode: str, content: bytes, keras_logits: np.ndarray, tflite_out: np.ndarray,
            labels: np.ndarray | None = None, latency: LatencyStats | None = None,
            predicted_latency_ms: float | None = None, latency_table: str | None = None
            ) -> VerificationReport:
    """Builds the report from Keras and TFLite logits of the same images."""
    if not (np.all(np.isfinite(keras_logits)) and np.all(np.isfinite(tflite_out))):
        raise VerificationError("the logits hold NaN or infinity (Keras or TFLite): the model "
                                "cannot be verified; check that its training did not diverge")
    ops = tflite_file.list_ops(content)
    k_top, t_top = np.argmax(keras_logits, -1), np.argmax(tflite_out, -1)
    n = len(k_top)
    acc = lambda top: None if labels is None or n == 0 else float(np.mean(top == labels))
    return VerificationReport(
        mode=mode, size_bytes=len(content), ops=tflite_file.op_counts(ops),
        integer_only=not tflite_file.non_integer_ops(ops), examples=n,
        tflite_top1=acc(t_top), keras_top1=acc(k_top),
        agreement=float(np.mean(k_top == t_top)) if n else 0.0,
        max_abs_diff=float(np.max(np.abs(keras_logits - tflite_out))) if n else 0.0,
        latency=latency, predicted_latency_ms=predicted_latency_ms, latency_table=latency_table)


def check_report(report: VerificationReport, min_agreement: float | None = None) -> None:
    """Raises when the report fails the asked-for agreement."""
    if min_agreement is not None and report.examples and report.agreement < min_agreement:
        raise VerificationError(
            f"top-1 agreement with the Keras model is {100 * report.agreement:.2f}% on "
            f"{report.examples} images, below the required {100 * min_agreement:.2f}%")
