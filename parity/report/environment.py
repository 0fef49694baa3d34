"""The exact environment of a run: versions, platform, BLAS, threads, precision settings. Lists are
sorted (threadpoolctl reports the BLAS libraries in load order, which varies from run to run), so
an unchanged machine writes an unchanged environment.json."""
from __future__ import annotations

import json
import os
import platform
import sys


def environment() -> dict:
    import numpy as np
    import tensorflow as tf
    import torch
    import keras
    from threadpoolctl import threadpool_info

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "blas": sorted(({k: v for k, v in info.items() if k in ("internal_api", "version", "num_threads",
                                                                "threading_layer", "architecture")}
                        for info in threadpool_info()), key=lambda d: json.dumps(d, sort_keys=True)),
        "torch_threads": torch.get_num_threads(),
        "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
        "tf_onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "precision": {"float64_rtol": 1e-12, "float32_rtol": 1e-5,
                      "torch_float32_matmul_precision": torch.get_float32_matmul_precision(),
                      "keras_floatx_default": keras.config.floatx()},
    }
