"""Parser of the output of TFLite's C++ ``benchmark_model`` tool.

Accepted (lines may or may not start with ``INFO: ``; CRLF from ``adb shell``
is fine):

* the summary of current builds,
  ``Inference timings in us: Init: N, First inference: N, Warmup (avg): N, Inference (avg): N``,
  and of older ones, ``Average inference timings in us: Warmup: N, Init: N, Inference: N``
  (oldest: ``no stats: N`` for the inference average);
* run statistics ``count=N first=N curr=N min=N max=N avg=N std=N`` (or
  ``count=N curr=N`` / ``count=N curr=N(all same)`` when every run took the
  same time). The line after the first ``Running benchmark for at least ...``
  header is the warmup, the line after the second the regular runs;
* ``Initialized session in Nms.``, ``The input model file size (MB): N``,
  ``Memory footprint delta from the start of the tool (MB): init=N overall=N``,
  ``Overall peak memory footprint (MB) via periodic monitoring: N`` and the
  ``Name: [value]`` parameter echo;
* with ``--enable_op_profiling=true``: the sections ``Profiling Info for
  Benchmark Initialization:`` and ``Operator-wise Profiling Info for Regular
  Benchmark Runs:``, each with tab-separated tables under ``=== Run Order ===``,
  ``=== Top by Computation Time ===``, ``=== Top by Memory Use ===`` and
  ``=== Summary by node type ===`` (with or without the older ``[start]``
  column), and ``Timings (microseconds): count=...`` lines, which are not
  the regular-run statistics.

Units follow the tool: whole-run timings in microseconds (fields ending in
``_us``), op tables in milliseconds (``_ms``), memory in MB or KB as named.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pxnas_tf.latency.measure.benchmark_result import (  # noqa: F401 (re-exported)
    DEFAULT_SECTION, INIT_SECTION, BenchmarkOutputError, BenchmarkResult, NodeTypeSummary,
    OpProfile, OpRow, RunStats,
)

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(_NUM)
_PREFIX = re.compile(r"^(?P<level>INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG)\s*:\s?")
_RUNNING = re.compile(r"^Running benchmark for (?:at least )?\d+ iterations")
_STATS = re.compile(r"^count=\d+")
_SUMMARY = re.compile(r"^(?P<avg>Average )?inference timings in us:\s*(?P<rest>.*)$", re.I)
_INIT_SESSION = re.compile(rf"^Initialized session in (?P<v>{_NUM})\s*ms", re.I)
_MODEL_SIZE = re.compile(rf"input model file size \(MB\):\s*(?P<v>{_NUM})", re.I)
_MEMORY = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\):\s*"
    rf"init=(?P<init>{_NUM})\s+overall=(?P<overall>{_NUM})", re.I)
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\)[^:]*:\s*(?P<v>{_NUM})", re.I)
_PARAM = re.compile(r"^(?P<name>[A-Za-z#][^:\[\]]*?):\s*\[(?P<value>[^\]]*)\]\s*$")
_SECTION = re.compile(r"Profiling Info for (?P<title>.+?):\s*$")
_BANNER = re.compile(r"^=+\s*(?P<title>[^=]+?)\s*=+$")
_TIMINGS = re.compile(r"^Timings \(microseconds\):\s*(?P<stats>count=.*)$")
_NODES_EXECUTED = re.compile(r"^Number of nodes executed:\s*(?P<n>\d+)")
_NODES_OBSERVED = re.compile(r"^(?P<n>\d+) nodes observed")

TAIL_LINES = 15

_TABLES = {
    "run order": "run_order",
    "top by computation time": "top_by_time",
    "top by memory use": "top_by_memory",
    "summary by node type": "by_node_type",
}

# Column header (lower case) -> attribute name.
_COLUMNS = {
    "node type": "node_type", "start": "start_ms", "first": "first_ms", "avg ms": "avg_ms",
    "%": "percent", "avg %": "percent", "cdf%": "cdf_percent", "cdf %": "cdf_percent",
    "mem kb": "mem_kb", "times called": "times_called", "name": "name", "count": "count",
}
_INT_COLUMNS = {"times_called", "count"}
_STR_COLUMNS = {"node_type", "name"}


# Small pure helpers -------------------------------------------------------------

def strip_prefix(line: str) -> tuple[str | None, str]:
    """Splits ``"INFO: text"`` into ``("INFO", "text")``; no prefix: ``(None, line)``."""
    match = _PREFIX.match(line)
    if not match:
        return None, line
    return match["level"], line[match.end():]


def parse_number(text: str) -> float:
    """``"27654.3"``, ``"1.33e+05"``, ``"2.660%"`` -> float.

    Raises:
        ValueError: if `text` does not start with a number.
    """
    match = _NUM_RE.match(text.strip())
    if not match:
        raise ValueError(f"not a number: {text!r}")
    return float(match.group())


def parse_run_stats(text: str) -> RunStats:
    """Parses ``count=50 first=.. curr=.. min=.. max=.. avg=.. std=..``
    (also ``count=1 curr=N``, ``count=N curr=N(all same)``, ``count=0``)."""
    values = {k: parse_number(v) for k, v in re.findall(rf"(\w+)=({_NUM})", text)}
    if "count" not in values:
        raise ValueError(f"not a statistics line: {text!r}")
    count = int(values["count"])
    if count >= 1 and "avg" not in values and "curr" in values:
        same = values["curr"]  # every run took the same time (or there was one)
        return RunStats(count, same, same, same, same, same, 0.0)
    return RunStats(count, values.get("first"), values.get("curr"), values.get("min"),
                    values.get("max"), values.get("avg"), values.get("std"))


def parse_summary(text: str) -> dict[str, float]:
    """Parses the part after ``inference timings in us:`` into
    ``{"init_us", "first_inference_us", "warmup_avg_us", "inference_avg_us"}``
    (those present)."""
    labels = {
        "init": "init_us", "first inference": "first_inference_us",
        "warmup (avg)": "warmup_avg_us", "warmup": "warmup_avg_us",
        "inference (avg)": "inference_avg_us", "inference": "inference_avg_us",
        "no stats": "inference_avg_us",
    }
    out = {}
    for part in text.split(","):
        label, _, value = part.partition(":")
        field = labels.get(label.strip().lower())
        if field and value.strip():
            try:
                out[field] = parse_number(value)
            except ValueError:
                pass
    return out


def split_row(line: str, ncols: int) -> list[str] | None:
    """The cells of a table row: tab-separated, padded with spaces; falls back
    to whitespace (the last column may hold spaces). None if the row does not
    have `ncols` cells."""
    cells = [c.strip() for c in line.split("\t") if c.strip()]
    if len(cells) == ncols:
        return cells
    cells = line.split(None, ncols - 1)
    return cells if len(cells) == ncols else None


def parse_table_header(line: str) -> list[str] | None:
    """``[node type]  [first]  [avg ms] ...`` -> attribute names, or None if
    `line` is not a header."""
    names = re.findall(r"\[([^\]]+)\]", line)
    rest = re.sub(r"\[[^\]]+\]", "", line).strip()
    if not names or rest:
        return None
    columns = [_COLUMNS.get(n.strip().lower(), n.strip().lower()) for n in names]
    return columns if "node_type" in columns and "avg_ms" in columns else None


def parse_table_row(cells: list[str], columns: list[str]) -> dict[str, Any]:
    """Converts the cells of one row; raises ValueError if a number is not one."""
    out: dict[str, Any] = {}
    for column, cell in zip(columns, cells):
        if column in _STR_COLUMNS:
            out[column] = cell
        elif column in _INT_COLUMNS:
            out[column] = int(parse_number(cell))
        else:
            out[column] = parse_number(cell)
    return out


def _known(cls, row: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in row.items() if k in names}


# The parser -------------------------------------------------------------------------

@dataclasses.dataclass
class _Section:
    title: str
    tables: dict[str, list] = dataclasses.field(default_factory=dict)
    timings: RunStats | None = None
    nodes_executed: int | None = None
    nodes_observed: int | None = None

    def freeze(self) -> OpProfile:
        def rows(name):
            return tuple(self.tables.get(name, ()))
        return OpProfile(self.title, rows("run_order"), rows("top_by_time"),
                         rows("top_by_memory"), rows("by_node_type"), self.timings,
                         self.nodes_executed, self.nodes_observed)


def _tail(lines: list[str], n: int = TAIL_LINES) -> str:
    kept = [line.rstrip() for line in lines if line.strip()][-n:]
    return "\n".join("    " + line for line in kept) if kept else "    (the output is empty)"


def parse_benchmark_output(text: str, source: str = "benchmark_model output") -> BenchmarkResult:
    """Parses everything `benchmark_model` printed (stdout and stderr together).

    Raises:
        BenchmarkOutputError: when no inference timing is found; the message
            quotes the last lines (typically the crash or "Failed to load model").
    """
    lines = text.splitlines()
    found: dict[str, Any] = {}
    params: dict[str, str] = {}
    errors: list[str] = []
    sections: dict[str, _Section] = {}
    section: _Section | None = None
    table: tuple[str, list[str]] | None = None  # (table name, columns) while reading rows
    pending_table: str | None = None  # banner seen, header expected
    headers_seen = 0
    stats: list[tuple[int, RunStats]] = []  # (headers seen before it, stats)
    summary_format = "stats"

    for raw in lines:
        level, line = strip_prefix(raw.rstrip("\r\n"))
        content = line.strip()
        if level == "ERROR":
            errors.append(content)

        # Op-profiling tables ------------------------------------------------------
        if pending_table is not None and content:
            columns = parse_table_header(content)
            if columns:
                table, pending_table = (pending_table, columns), None
                continue
            pending_table = None
        if table is not None:
            name, columns = table
            cells = split_row(line, len(columns)) if content else None
            if cells is not None:
                try:
                    row = parse_table_row(cells, columns)
                except ValueError:
                    row = None
                if row is not None:
                    cls = NodeTypeSummary if name == "by_node_type" else OpRow
                    row.setdefault("name", "")
                    section.tables.setdefault(name, []).append(cls(**_known(cls, row)))
                    continue
            table = None  # blank or foreign line ends the table; fall through
        if not content:
            continue
        banner = _BANNER.match(content)
        if banner:
            name = _TABLES.get(banner["title"].lower())
            if name:
                if section is None:
                    section = sections.setdefault(DEFAULT_SECTION, _Section(DEFAULT_SECTION))
                pending_table = name
            continue
        match = _SECTION.search(content)
        if match:
            title = match["title"].strip()
            section = sections.setdefault(title, _Section(title))
            continue
        match = _TIMINGS.match(content)
        if match:
            if section is None:
                section = sections.setdefault(DEFAULT_SECTION, _Section(DEFAULT_SECTION))
            section.timings = parse_run_stats(match["stats"])
            continue
        match = _NODES_EXECUTED.match(content) or _NODES_OBSERVED.match(content)
        if match:
            if section is not None:
                attr = "nodes_executed" if content.startswith("Number") else "nodes_observed"
                setattr(section, attr, int(match["n"]))
            continue

        # Whole-run lines ----------------------------------------------------------
        if _RUNNING.match(content):
            headers_seen += 1
            section = None
            continue
        if _STATS.match(content):
            stats.append((headers_seen, parse_run_stats(content)))
            continue
        match = _SUMMARY.match(content)
        if match:
            found.update(parse_summary(match["rest"]))
            summary_format = "legacy" if match["avg"] else "current"
            continue
        match = _INIT_SESSION.match(content)
        if match:
            found.setdefault("init_session_us", float(match["v"]) * 1000.0)
            continue
        match = _MEMORY.search(content)
        if match:
            found["memory_init_mb"] = float(match["init"])
            found["memory_overall_mb"] = float(match["overall"])
            continue
        for key, pattern in (("peak_memory_mb", _PEAK), ("model_size_mb", _MODEL_SIZE)):
            match = pattern.search(content)
            if match:
                found[key] = float(match["v"])
                break
        else:
            match = _PARAM.match(content)
            if match:
                params[match["name"].strip()] = match["value"].strip()

    warmup, regular = _split_stats(stats)
    inference_avg = found.get("inference_avg_us")
    if inference_avg is None and regular is not None:
        inference_avg = regular.avg_us
    if inference_avg is None:
        raise BenchmarkOutputError(
            f"{source}: no inference timing found (no 'Inference timings in us' line and no "
            "regular-run 'count=... avg=...' line); the benchmark probably failed. "
            f"Last lines:\n{_tail(lines)}")
    return BenchmarkResult(
        inference_avg_us=float(inference_avg),
        inference=regular,
        warmup=warmup,
        init_us=found.get("init_us", found.get("init_session_us")),
        first_inference_us=found.get("first_inference_us"),
        warmup_avg_us=found.get("warmup_avg_us", warmup.avg_us if warmup else None),
        memory_init_mb=found.get("memory_init_mb"),
        memory_overall_mb=found.get("memory_overall_mb"),
        peak_memory_mb=found.get("peak_memory_mb"),
        model_size_mb=found.get("model_size_mb"),
        params=params,
        profiles={title: s.freeze() for title, s in sections.items()},
        summary_format=summary_format,
        errors=tuple(errors),
    )


def _split_stats(stats: list[tuple[int, RunStats]]) -> tuple[RunStats | None, RunStats | None]:
    """(warmup, regular) from the statistics lines and how many ``Running
    benchmark`` headers preceded each. With headers: the line after the first
    header is the warmup, the last line after the second or a later header the
    regular runs (a crash between the two leaves only a warmup). Without
    headers: the last line is the regular runs, an earlier one the warmup."""
    if not stats:
        return None, None
    if any(seen for seen, _ in stats):
        warmup = next((s for seen, s in stats if seen == 1), None)
        regular = next((s for seen, s in reversed(stats) if seen >= 2), None)
        return warmup, regular
    return (stats[0][1] if len(stats) > 1 else None), stats[-1][1]


def parse_benchmark_file(path: str) -> BenchmarkResult:
    """`parse_benchmark_output` of a saved output file (messages name the file)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return parse_benchmark_output(f.read(), source=path)
