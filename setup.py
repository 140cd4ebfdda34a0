"""Packaging for pxnas_tf: ProxylessNAS for TensorFlow / Keras 3."""

import setuptools

setuptools.setup(
    name="pxnas_tf",
    version="0.1.0",
    description=(
        "Hardware-aware neural architecture search (ProxylessNAS) for "
        "TensorFlow/Keras 3 with measured TFLite latency tables and int8 export."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["pxnas_tf", "pxnas_tf.*", "android_bench"]),
    package_data={"pxnas_tf": ["search_space/presets/*.json"]},
    install_requires=[
        "tensorflow==2.21.0",
        "keras>=3.15,<4",
        "tensorflow-datasets==4.9.10",
        # tfds 4.9.10 imports it but does not declare it.
        "importlib_resources",
        "tensorflow-model-optimization==0.8.1",
        # tfmot needs Keras 2; used only in the QAT subprocess.
        "tf_keras==2.21.0",
        "ai-edge-litert==2.3.0",
        "numpy>=1.26",
        "absl-py",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "PyYAML>=6",
    ],
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3", "import-linter>=2.1"]},
    entry_points={
        "console_scripts": ["pxnas=pxnas_tf.cli.main:run"],
        # Runners of device kinds that live outside pxnas_tf (see
        # pxnas_tf.latency.measure.runner.plugin_runner).
        "pxnas_tf.runners": ["adb=android_bench.adb_runner:AdbRunner"],
    },
)
