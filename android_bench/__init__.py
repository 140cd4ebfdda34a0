"""Measuring TFLite latency on Android phones over adb (see README.md).

`android_bench.adb` wraps the adb command line; `android_bench.adb_runner`
is the latency runner behind ``pxnas latency build --device=adb[:SERIAL,...]``.
"""
