"""Type stubs for modelport.loadgen._core, the LoadGen's C++ extension module.

Signatures follow mlperf_loadgen 6.0.17 where the name exists there; the public API and its
documentation are in modelport/loadgen/__init__.py. Handles (SUT, QSL) are opaque non-zero ints.
"""

from collections.abc import Callable, Sequence
from typing import ClassVar, overload

import numpy as np
import numpy.typing as npt

LOADGEN_VERSION: str

class LoadGenError(RuntimeError): ...

# ---- samples and responses -------------------------------------------------------------------

class QuerySample:
    id: int  # pass it back in QuerySampleResponse.id
    index: int  # the sample's index in the QSL
    @overload
    def __init__(self) -> None: ...
    @overload
    def __init__(self, id: int, index: int, /) -> None: ...
    def __reduce__(self) -> tuple[type[QuerySample], tuple[int, int]]: ...

class QuerySampleResponse:
    id: int
    data: int  # address of the response bytes (read only for accuracy-logged samples)
    size: int  # number of bytes at `data`
    n_tokens: int
    @overload
    def __init__(self) -> None: ...
    @overload
    def __init__(self, id: int, data: int, size: int, n_tokens: int = 0, /) -> None: ...
    def __reduce__(self) -> tuple[type[QuerySampleResponse], tuple[int, int, int, int]]: ...

def QuerySamplesComplete(
    responses: Sequence[QuerySampleResponse],
    response_cb: Callable[[QuerySampleResponse], object] | None = None,
) -> None: ...
def FirstTokenComplete(
    responses: Sequence[QuerySampleResponse],
    response_cb: Callable[[QuerySampleResponse], object] | None = None,
) -> None: ...
def QuerySamplesCompleteBatch(
    ids: npt.ArrayLike,
    data: npt.ArrayLike | None = None,
    sizes: npt.ArrayLike | None = None,
    n_tokens: npt.ArrayLike | None = None,
) -> None: ...

# ---- settings ---------------------------------------------------------------------------------

class _Enum:
    __members__: ClassVar[dict[str, object]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class TestScenario(_Enum):
    SingleStream: ClassVar[TestScenario]
    MultiStream: ClassVar[TestScenario]
    Server: ClassVar[TestScenario]
    Offline: ClassVar[TestScenario]

class TestMode(_Enum):
    SubmissionRun: ClassVar[TestMode]
    AccuracyOnly: ClassVar[TestMode]
    PerformanceOnly: ClassVar[TestMode]
    FindPeakPerformance: ClassVar[TestMode]

class LoggingMode(_Enum):
    AsyncPoll: ClassVar[LoggingMode]
    EndOfTestOnly: ClassVar[LoggingMode]
    Synchronous: ClassVar[LoggingMode]

class TestSettings:
    scenario: TestScenario
    mode: TestMode
    accuracy_log_probability: float
    accuracy_log_rng_seed: int
    accuracy_log_sampling_target: int
    accuracy_sample_count_override: int
    completion_timeout_s: float
    infer_token_latencies: bool
    max_duration_ms: int
    max_query_count: int
    min_duration_ms: int
    min_query_count: int
    multi_stream_expected_latency_ns: float
    multi_stream_samples_per_query: int
    multi_stream_target_latency_percentile: float
    offline_expected_qps: float
    performance_issue_same: bool
    performance_issue_same_index: int
    performance_issue_unique: bool
    performance_sample_count_override: int
    print_timestamps: bool
    qsl_rng_seed: int
    sample_concatenate_permutation: bool
    sample_index_rng_seed: int
    schedule_rng_seed: int
    server_coalesce_queries: bool
    server_find_peak_qps_boundary_step_size: float
    server_find_peak_qps_decimals_of_precision: int
    server_max_async_queries: int
    server_num_issue_query_threads: int
    server_target_latency_ns: int
    server_target_latency_percentile: float
    server_target_qps: float
    single_stream_expected_latency_ns: float
    single_stream_target_latency_percentile: float
    test05: bool
    test05_qsl_rng_seed: int
    test05_sample_index_rng_seed: int
    test05_schedule_rng_seed: int
    token_latency_scaling_factor: int
    tpot_latency: int
    ttft_latency: int
    use_token_latencies: bool
    def __init__(self) -> None: ...
    def FromConfig(self, path: str, model: str, scenario: str, conf_type: int = 1) -> int: ...

class LogOutputSettings:
    outdir: str
    prefix: str
    suffix: str
    prefix_with_datetime: bool
    copy_detail_to_stdout: bool
    copy_summary_to_stdout: bool
    def __init__(self) -> None: ...

class LogSettings:
    log_output: LogOutputSettings  # a reference: assigning its fields changes these settings
    log_mode: LoggingMode
    log_mode_async_poll_interval_ms: int
    enable_trace: bool
    def __init__(self) -> None: ...

# ---- systems under test and sample libraries -----------------------------------------------

def ConstructSUT(issue_cb: Callable[[list[QuerySample]], object], flush_cb: Callable[[], object]) -> int: ...
def ConstructFastSUT(issue_cb: Callable[[list[int], list[int]], object], flush_cb: Callable[[], object]) -> int: ...
def ConstructBatchSUT(
    issue_cb: Callable[[npt.NDArray[np.uint64], npt.NDArray[np.uint64]], object], flush_cb: Callable[[], object]
) -> int: ...
def ConstructQDL(
    issue_cb: Callable[[list[QuerySample]], object], flush_cb: Callable[[], object], name_cb: Callable[[], str]
) -> int: ...
def DestroySUT(sut: int) -> None: ...
def DestroyFastSUT(sut: int) -> None: ...
def DestroyBatchSUT(sut: int) -> None: ...
def DestroyQDL(sut: int) -> None: ...
def ConstructQSL(
    total_sample_count: int,
    performance_sample_count: int,
    load_cb: Callable[[list[int]], object],
    unload_cb: Callable[[list[int]], object],
) -> int: ...
def DestroyQSL(qsl: int) -> None: ...

# ---- running a test ---------------------------------------------------------------------------

def StartTest(sut: int, qsl: int, test_settings: TestSettings, audit_config_filename: str = "audit.config") -> None: ...
def StartTestWithLogSettings(
    sut: int,
    qsl: int,
    test_settings: TestSettings,
    log_settings: LogSettings,
    audit_config_filename: str = "audit.config",
) -> None: ...

# ---- internal, for tests ------------------------------------------------------------------------

def _min_passing_queries(t: int, p: float) -> int: ...
def _early_stopping_discard(n: int, p: float) -> int: ...
