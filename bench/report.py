"""Assembles docs/BENCHMARKS.md from the sections the benchmarks write.

Each script under bench/ writes its own section, docs/benchmarks/<name>.md,
with date, machine and command; this script joins them, in a fixed order,
into the one report:

    python bench/report.py
"""

from __future__ import annotations

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS_DIR = os.path.join(ROOT, "docs", "benchmarks")
REPORT = os.path.join(ROOT, "docs", "BENCHMARKS.md")
# The latest report of each benchmark, in this order; sections not listed
# follow alphabetically.
ORDER = ["search_quality", "seed_agreement", "supernet_bias", "known_answer", "signal_consistency", "arch_signal", "search", "supernet", "replicas",
         "gpu_check", "latency", "latency_genoa", "latency_foreign", "latency_repeatability", "export", "pareto",
         "pareto_wide", "specialization3_from_a", "specialization3", "specialization", "specialization_builtin_both"]
# Earlier rounds, folded into one page that the report links instead of
# repeating (see its header).
HISTORY = "history"

HEADER = """# Benchmark report

Every figure below was produced by a script under `bench/` on the machine
named in its section, with the command given there; each script rewrites its
own section (`docs/benchmarks/<name>.md`) and `python bench/report.py` joins
them into this file. The machines are shared and noisy: figures are medians
and ratios measured side by side in one run.
"""


def section_names(directory: str = SECTIONS_DIR) -> list[str]:
    present = sorted(f[:-3] for f in os.listdir(directory)
                     if f.endswith(".md") and f[:-3] != HISTORY)
    return [n for n in ORDER if n in present] + [n for n in present if n not in ORDER]


def build_report(directory: str = SECTIONS_DIR) -> str:
    parts = [HEADER]
    names = section_names(directory)
    if not names:
        parts.append("\nNo benchmark has been run yet.\n")
    for name in names:
        with open(os.path.join(directory, name + ".md"), encoding="utf-8") as f:
            parts.append("\n" + _links_from_docs(f.read().strip()) + "\n")
    if os.path.exists(os.path.join(directory, HISTORY + ".md")):
        parts.append(f"\nEarlier rounds of every benchmark: [benchmarks/{HISTORY}.md]"
                     f"(benchmarks/{HISTORY}.md).\n")
    return "".join(parts)


def _links_from_docs(text: str) -> str:
    """A section's relative links (figures beside it in docs/benchmarks) as
    seen from docs/, where the report lives."""
    return re.sub(r"\]\((?!https?://|/|#|benchmarks/)([^)]+)\)", r"](benchmarks/\1)", text)


def main() -> int:
    sys.path.insert(0, ROOT)
    from pxnas_tf import fileio

    os.makedirs(SECTIONS_DIR, exist_ok=True)
    fileio.atomic_write_text(REPORT, build_report())
    print(f"wrote {REPORT} ({', '.join(section_names()) or 'no sections'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
