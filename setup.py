from setuptools import find_packages, setup

setup(
    name="facekp",
    version="0.1.0",
    description="Face keypoint detection and face recognition, trained from scratch with TensorFlow 2",
    packages=find_packages(include=["facekp", "facekp.*"]),
    package_data={"facekp": ["assets/*.png"]},
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "facekp-train = facekp.commands.train:run",
            "facekp-predict = facekp.commands.predict:run",
            "facekp-submit = facekp.commands.submit:run",
            "facekp-verify = facekp.commands.verify:run",
            "facekp-export = facekp.commands.export:run",
            "facekp-ensemble = facekp.commands.ensemble:run",
            "facekp-label = facekp.commands.label:run",
        ]
    },
    install_requires=[
        "tensorflow>=2.16,<3",
        "numpy",
        "pandas",
        "pillow",
        "matplotlib",
        "tqdm",
        "tensorboard",
        "opencv-python-headless>=4.8,<5",
        "mtcnn>=1.0,<2",  # the default face detector (TensorFlow networks, weights inside its wheel)
        "scikit-learn",  # the SVM on face embeddings, ROC AUC, macro F1
        "h5py",  # --backbone-weights: Keras .weights.h5 files
        # LiteRT, TFLite's interpreter (XNNPACK) for fast inference; no wheels for Windows,
        # where facekp falls back to tf.lite's (deprecated) interpreter
        "ai-edge-litert; platform_system != 'Windows'",
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist", "tensorflow-datasets", "importlib_resources", "ruff"],
        "tfds": ["tensorflow-datasets", "importlib_resources"],  # facekp.data.tfds_builders
        "bench": ["torch==2.13.0"],  # benchmarks/throughput.py: the seeds' PyTorch network
        # benchmarks/predict68.py, wild68.py --dlib: dlib-bin is dlib as a prebuilt wheel (no compiling)
        "dlib": ["dlib-bin", "face_recognition_models"],
    },
)
