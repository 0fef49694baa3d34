"""Thread counts for all three frameworks, and which math library each one runs on.

``set_threads(n)`` must run before TensorFlow creates its runtime (its first op or device query):
``tf.config.threading.set_intra_op_parallelism_threads`` raises once the runtime exists, so the
bench sets the counts first thing in its own process (and in its memory process). If TensorFlow
was already initialised with another count, ``set_threads`` refuses rather than time with the
wrong count. numpy's BLAS (and every other OpenMP / BLAS pool loaded, torch's libgomp included) is
limited with ``threadpoolctl.threadpool_limits(n)``, which lasts while the returned limiter lives.

Process-wide by nature: a thread pool belongs to the process, which is why the bench command is
meant to run in a process of its own (``python -m parity bench``).
"""
from __future__ import annotations

import os
import platform
import re
import sys


class ThreadsNotHonoured(RuntimeError):
    """A framework already runs with another thread count and cannot be changed any more."""


def set_threads(n: int):
    """Set n threads in torch (intra- and inter-op), TensorFlow (intra- and inter-op) and every
    BLAS / OpenMP pool threadpoolctl sees; returns the threadpoolctl limiter (keep it alive)."""
    import tensorflow as tf
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # only settable once, before any inter-op work; intra-op is what a step uses
        pass
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        pass
    have = (tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())
    if have != (n, n):
        raise ThreadsNotHonoured(f"TensorFlow was initialised before the bench with intra/inter-op threads {have} "
                                 f"(0 = all cores), not {n}: run `python -m parity bench` in a fresh process")
    if torch.get_num_threads() != n:
        raise ThreadsNotHonoured(f"torch runs {torch.get_num_threads()} threads, not {n}")
    return threadpool_limits(limits=n)


def threadpools() -> list[dict]:
    """threadpoolctl's view of every loaded BLAS / OpenMP library (after the limits)."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture", "filepath")
    return [{k: info.get(k) for k in keep if info.get(k) is not None} for info in threadpool_info()]


def blas_by_backend() -> dict[str, str]:
    """The math library under each backend's matmuls, in one short line each."""
    import numpy as np
    import torch

    numpy_dir = os.path.dirname(np.__file__)
    blas = [p for p in threadpools() if p.get("user_api") == "blas"]
    mine = [p for p in blas if os.path.basename(numpy_dir) + ".libs" in p.get("filepath", "")
            or p.get("filepath", "").startswith(numpy_dir)] or blas
    if mine:
        p = mine[0]
        scratch = " ".join(str(p[k]) for k in ("internal_api", "version", "architecture", "threading_layer") if p.get(k))
    else:
        scratch = "unknown (threadpoolctl found no BLAS)"
    config = torch.__config__.show()
    found = lambda pattern: (m.group(1) if (m := re.search(pattern, config)) else None)
    torch_line = found(r"BLAS_INFO=(\w+)") or "unknown BLAS"
    if torch_line == "mkl" and found(r"Math Kernel Library Version ([\w.]+)"):
        torch_line += " " + found(r"Math Kernel Library Version ([\w.]+)")
    if torch.backends.mkldnn.is_available():
        torch_line += " + oneDNN " + (found(r"MKL-DNN (v[\w.]+)") or "")
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    keras_line = "Eigen" + ("" if onednn == "0" else " + oneDNN")
    return {"scratch": f"numpy: {scratch}", "torch": f"torch: {torch_line}", "keras": f"tensorflow: {keras_line}"}


def machine() -> dict:
    """What the table was measured on: CPU model, logical CPUs, platform, versions."""
    import keras
    import numpy as np
    import tensorflow as tf
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
            "tensorflow": tf.__version__, "keras": keras.__version__}
