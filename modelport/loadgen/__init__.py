"""modelport LoadGen: a drop-in for ``mlperf_loadgen`` 6.0.17 with a C++17 core."""

from modelport.loadgen._core import *  # noqa: F401,F403
from modelport.loadgen._core import LoadGenError  # noqa: F401
