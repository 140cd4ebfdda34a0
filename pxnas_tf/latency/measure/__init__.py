"""Measuring latency on a target: runners by device string, the lowest-pass
statistics, CPU load and caches, memory footprints."""
