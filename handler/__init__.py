"""optimal-image: recompress every upload to the lowest JPEG quality that looks the same.

Imported before anything else by every entry point (the Lambda handlers handler.aws.*, `python -m handler`,
bench/ and training/, which import it first), so this is where the process gets one compute thread per
worker: the parallelism is across worker processes (the CLI's --jobs, the benchmarks' pools) or Lambda
containers (one vCPU each), and BLAS threads on top of them only fight for the same cores: with OpenBLAS's
default of a thread per core, two workers on two cores ran several times slower than with one each. numpy reads
these when it is first imported, so they are set here, before any module imports it; a value already in the
environment is kept. template.yaml sets the same for the functions.
"""

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
for _name in THREAD_VARIABLES:
    os.environ.setdefault(_name, "1")


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset` may narrow), where
    the platform says; else every core. The default number of worker processes."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity outside Linux
        return os.cpu_count() or 1
