"""Installs the `l3net` library and the `data_tools` converters with their console scripts."""

from setuptools import find_packages, setup

setup(
    name="l3net",
    version="0.1.0",
    description="Audio-visual correspondence learning (L3-Net, AVE-Net) in TensorFlow/Keras",
    packages=find_packages(include=["l3net", "l3net.*", "data_tools", "data_tools.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.18",
        "keras>=3.6",
        "numpy",
        "scipy",
        "absl-py",
        "av>=12",  # PyAV: all media decoding/encoding (tensorflow-io's ffmpeg ops do not load).
        "matplotlib",
        "tensorboard",  # tf.summary writers; TensorFlow >= 2.20 no longer pulls it in.
        "scikit-learn",
    ],
    extras_require={"test": ["pytest", "ruff"]},
    entry_points={
        "console_scripts": [
            "l3net_data=data_tools.cli:run",
            "l3net_train=l3net.train.main:run",
            "l3net_eval=l3net.evaluation.cli:run",
            "l3net_demo=l3net.demo:run",
            "l3net_probe=l3net.evaluation.probe_cli:run",
            "l3net_retrieval=l3net.evaluation.retrieval_cli:run",
            "l3net_localize=l3net.localization.localize_cli:run",
            "l3net_export=l3net.serving.cli:run",
            "l3net_embed=l3net.embed.cli:run",
        ]
    },
)
