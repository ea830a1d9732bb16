"""Faults where ours must do better than the official LoadGen (docs/decisions.md, "LoadGen: faults raise, never
crash or hang"): bad response
ids are a LoadGenError, not a segfault; a double completion is an error; a SUT that stops
completing gets an error after completion_timeout_s instead of a hang; callback exceptions and
unwritable log folders raise, and the next StartTest in the same process works.

These run in-process against ours only: the official module crashes, hangs or aborts on each."""

from __future__ import annotations

import threading
import time

import pytest
from helpers.loadgen import (
    OURS,
    UNDER_TEST,
    detail_errors,
    detail_values,
    make_log_settings,
    make_settings,
    parse_detail,
)

pytestmark = pytest.mark.skipif(UNDER_TEST != OURS, reason="extension behaviour of ours only")


class Harness:
    """A QSL plus a SUT whose issue callback is swappable per test."""

    def __init__(self, lg, outdir, total=16, perf=16):
        self.lg = lg
        self.outdir = outdir
        self.issued: list[tuple[int, int]] = []
        self.on_issue = self.complete_now
        self.on_flush = lambda: None
        self.on_load = lambda s: None
        self.on_unload = lambda s: None
        self.sut = lg.ConstructSUT(lambda qs: self.on_issue(qs), lambda: self.on_flush())
        self.qsl = lg.ConstructQSL(total, perf, lambda s: self.on_load(s), lambda s: self.on_unload(s))
        self.runs = 0

    def complete_now(self, qs):
        self.issued.extend((q.id, q.index) for q in qs)
        self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

    def start(self, qsl=None, **settings):
        self.runs += 1
        outdir = self.outdir / f"run{self.runs}"
        outdir.mkdir()
        self.last_outdir = outdir  # also when StartTest raises
        base = {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 20}
        ts = make_settings(self.lg, {**base, **settings})
        self.lg.StartTestWithLogSettings(self.sut, qsl or self.qsl, ts, make_log_settings(self.lg, outdir))
        return outdir

    def detail(self, outdir):
        return (outdir / "mlperf_log_detail.txt").read_text()

    def summary(self, outdir):
        return (outdir / "mlperf_log_summary.txt").read_text()

    def check_healthy(self):
        """A clean run right after a fault: all queries issued, VALID-shaped results."""
        self.on_issue = self.complete_now
        self.on_flush = lambda: None
        self.on_load = lambda s: None
        self.on_unload = lambda s: None
        before = len(self.issued)
        outdir = self.start(min_query_count=64)
        assert len(self.issued) - before == 64
        values = detail_values(self.detail(outdir))
        assert values["result_query_count"] == 64
        assert not detail_errors(self.detail(outdir))
        return outdir

    def close(self):
        self.lg.DestroySUT(self.sut)
        self.lg.DestroyQSL(self.qsl)


@pytest.fixture
def h(lg, tmp_path):
    harness = Harness(lg, tmp_path)
    yield harness
    harness.close()


def test_loadgen_error_is_a_runtime_error(lg):
    assert issubclass(lg.LoadGenError, RuntimeError)


@pytest.mark.parametrize("bad_id", [0, 12345, 2**64 - 1])
def test_unknown_or_zero_id_raises_and_valid_entries_still_count(h, lg, bad_id):
    raised = []

    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        responses = [lg.QuerySampleResponse(q.id, 0, 0) for q in qs]
        if len(h.issued) == 5:
            responses.insert(0, lg.QuerySampleResponse(bad_id, 0, 0))
        try:
            lg.QuerySamplesComplete(responses)
        except lg.LoadGenError as exc:
            raised.append(str(exc))

    h.on_issue = issue
    outdir = h.start()
    assert len(raised) == 1
    assert str(bad_id) in raised[0] or hex(bad_id) in raised[0].lower()
    # the valid sample in the same call was recorded: every query completed, the run ended normally
    values = detail_values(h.detail(outdir))
    assert values["result_query_count"] == 20
    errors = detail_errors(h.detail(outdir))
    assert [e["key"] for e in errors] == ["error_runtime"]
    assert "1 ERROR encountered. See detailed log." in h.summary(outdir)
    assert values["num_errors"] == 1
    h.check_healthy()


def test_double_completion_raises_and_does_not_change_the_result(h, lg):
    raised = []

    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        responses = [lg.QuerySampleResponse(q.id, 0, 0) for q in qs]
        lg.QuerySamplesComplete(responses)
        if len(h.issued) == 3:
            try:
                lg.QuerySamplesComplete(responses)
            except lg.LoadGenError as exc:
                raised.append(str(exc))

    h.on_issue = issue
    outdir = h.start()
    assert len(raised) == 1
    assert str(h.issued[2][0]) in raised[0] or hex(h.issued[2][0]) in raised[0].lower()
    values = detail_values(h.detail(outdir))
    assert values["result_query_count"] == 20
    assert [e["key"] for e in detail_errors(h.detail(outdir))] == ["error_runtime"]
    h.check_healthy()


@pytest.mark.parametrize("scenario", ["MultiStream", "Offline"])
def test_double_completion_standing_in_for_a_lost_sample_times_out(h, lg, scenario):
    # the official LoadGen miscounts here and hangs forever
    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        responses = [lg.QuerySampleResponse(q.id, 0, 0) for q in qs]
        responses[-1] = responses[0]  # the last sample is lost, the first completed twice
        try:
            lg.QuerySamplesComplete(responses)
        except lg.LoadGenError:
            pass

    h.on_issue = issue
    t0 = time.monotonic()
    with pytest.raises(lg.LoadGenError):
        h.start(scenario=scenario, multi_stream_samples_per_query=4, completion_timeout_s=0.3)
    assert time.monotonic() - t0 < 10
    h.check_healthy()


def test_completion_after_the_test_is_an_error_not_a_crash(h, lg):
    h.check_healthy()
    stale_id = h.issued[-1][0]
    with pytest.raises(lg.LoadGenError) as info:
        lg.QuerySamplesComplete([lg.QuerySampleResponse(stale_id, 0, 0)])
    assert str(stale_id) in str(info.value) or hex(stale_id) in str(info.value).lower()
    with pytest.raises(lg.LoadGenError):
        lg.FirstTokenComplete([lg.QuerySampleResponse(stale_id, 0, 0)])
    h.check_healthy()


def test_first_token_with_an_unknown_id_raises(h, lg):
    raised = []

    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        if len(h.issued) == 2:
            try:
                lg.FirstTokenComplete([lg.QuerySampleResponse(0, 0, 0)])
            except lg.LoadGenError as exc:
                raised.append(exc)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

    h.on_issue = issue
    outdir = h.start()
    assert len(raised) == 1
    assert "error_runtime" in [e["key"] for e in detail_errors(h.detail(outdir))]


@pytest.mark.parametrize("scenario", ["SingleStream", "Server", "Offline"])
def test_sut_that_stops_completing_times_out(h, lg, scenario):
    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        if len(h.issued) < 5:  # then it goes silent
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

    h.on_issue = issue
    t0 = time.monotonic()
    with pytest.raises(lg.LoadGenError) as info:
        h.start(scenario=scenario, completion_timeout_s=0.3, server_target_qps=1000)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 10
    assert "timeout" in str(info.value).lower() or "timed out" in str(info.value).lower() or "0.3" in str(info.value)
    h.check_healthy()


def test_completion_timeout_is_configurable_and_zero_disables_it(lg):
    ts = lg.TestSettings()
    assert ts.completion_timeout_s == 300.0
    ts.completion_timeout_s = 0
    assert ts.completion_timeout_s == 0.0


def test_slow_but_steady_sut_is_not_timed_out(h, lg):
    # completions keep arriving (each 0.1 s apart) although the whole run exceeds the timeout
    pending = []
    done = threading.Event()

    def worker():
        while not done.is_set():
            time.sleep(0.1)
            if pending:
                lg.QuerySamplesComplete([lg.QuerySampleResponse(pending.pop(0), 0, 0)])

    thread = threading.Thread(target=worker)
    thread.start()

    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        pending.extend(q.id for q in qs)

    h.on_issue = issue
    try:
        outdir = h.start(scenario="Offline", min_query_count=6, completion_timeout_s=0.25)
    finally:
        done.set()
        thread.join()
    assert detail_values(h.detail(outdir))["result_query_count"] == 1


class BoomError(Exception):
    pass


@pytest.mark.parametrize("callback", ["issue", "flush", "load", "unload"])
def test_callback_exception_propagates_and_next_test_works(h, callback):
    def boom(*_):
        raise BoomError(callback)

    if callback == "issue":
        h.on_issue = boom
    elif callback == "flush":
        h.on_flush = boom
    elif callback == "load":
        h.on_load = boom
    else:
        h.on_unload = boom
    with pytest.raises(BoomError, match=callback):
        h.start(completion_timeout_s=5)
    h.check_healthy()


def test_exception_raised_mid_run_after_some_queries(h, lg):
    def issue(qs):
        h.complete_now(qs)
        if len(h.issued) == 7:
            raise BoomError("seventh")

    h.on_issue = issue
    with pytest.raises(BoomError, match="seventh"):
        h.start(completion_timeout_s=5)
    h.check_healthy()


def test_unwritable_log_dir_raises_before_the_test(h, lg, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    calls = []
    h.on_issue = lambda qs: calls.append("issue")
    h.on_load = lambda s: calls.append("load")
    ts = make_settings(lg, {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 5})
    with pytest.raises((OSError, lg.LoadGenError)):
        lg.StartTestWithLogSettings(h.sut, h.qsl, ts, make_log_settings(lg, blocker / "logs"))
    assert calls == []
    h.check_healthy()


def test_completions_from_many_short_lived_threads(h, lg):
    # the official module segfaults on this pattern (its own py_demo_offline; docs/decisions.md, "LoadGen: faults
    # raise, never crash or hang")
    threads = []

    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        ids = [q.id for q in qs]
        for k in range(0, len(ids), 500):
            chunk = ids[k : k + 500]
            t = threading.Thread(
                target=lambda c=chunk: lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in c])
            )
            t.start()
            threads.append(t)

    h.on_issue = issue
    outdir = h.start(scenario="Offline", min_query_count=11000, completion_timeout_s=30)
    for t in threads:
        t.join()
    assert len(h.issued) == 11000
    assert not detail_errors(h.detail(outdir))
    h.check_healthy()


def test_overlapping_start_test_is_refused(h, lg, tmp_path):
    # completions are routed to the one running test, so a second concurrent StartTest must be refused
    outcome = []

    def issue(qs):
        if not outcome:
            ts = make_settings(lg, {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 5})

            def second():
                try:
                    lg.StartTestWithLogSettings(h.sut, h.qsl, ts, make_log_settings(lg, tmp_path / "second"))
                    outcome.append("ran")
                except lg.LoadGenError as exc:
                    outcome.append(str(exc))

            t = threading.Thread(target=second)
            t.start()
            t.join(10)
        h.complete_now(qs)

    h.on_issue = issue
    h.start()
    assert len(outcome) == 1 and "already running" in outcome[0]
    h.check_healthy()


# Aborted tests in the logs (docs/decisions.md, "LoadGen: aborted tests in the logs").


def assert_logged_as_aborted(h, outdir, reason):
    """The summary and detail log of an aborted test say so, with the reason, and never claim no errors."""
    summary = h.summary(outdir)
    assert "No errors encountered" not in summary
    assert "Result is : INVALID" in summary
    assert "Test aborted : " in summary and reason in summary.split("Test aborted : ", 1)[1].splitlines()[0]
    assert "ERROR" in summary.splitlines()[-1]
    errors = detail_errors(h.detail(outdir))
    aborted = [e for e in errors if str(e["value"]).startswith("Test aborted: ")]
    assert len(aborted) == 1 and reason in aborted[0]["value"], errors
    assert detail_values(h.detail(outdir))["sut_name"] == "PySUT"


@pytest.mark.parametrize("callback", ["issue", "flush", "load", "unload"])
def test_callback_exception_is_logged_as_an_abort(h, callback):
    def boom(*_):
        raise BoomError(f"{callback} failed")

    setattr(h, f"on_{callback}", boom)
    with pytest.raises(BoomError):
        h.start(completion_timeout_s=5)
    assert_logged_as_aborted(h, h.last_outdir, f"BoomError: {callback} failed")
    h.check_healthy()


@pytest.mark.parametrize("mode", ["AccuracyOnly", "SubmissionRun"])
def test_exception_in_the_accuracy_pass_is_logged_as_an_abort(h, mode):
    def issue(qs):
        h.complete_now(qs)
        if len(h.issued) == 3:
            raise BoomError("third")

    h.on_issue = issue
    with pytest.raises(BoomError):
        h.start(mode=mode, completion_timeout_s=5)
    assert_logged_as_aborted(h, h.last_outdir, "BoomError: third")
    h.check_healthy()


def test_completion_timeout_is_logged_as_an_abort(h, lg):
    h.on_issue = lambda qs: h.issued.extend((q.id, q.index) for q in qs)  # never completes
    with pytest.raises(lg.LoadGenError) as info:
        h.start(completion_timeout_s=0.2)
    assert_logged_as_aborted(h, h.last_outdir, "SUT completed no sample for")
    # the reason is logged once, as the abort
    assert str(info.value) in h.summary(h.last_outdir)
    assert len(detail_errors(h.detail(h.last_outdir))) == 1
    h.check_healthy()


def test_failing_sut_name_is_logged_as_an_abort(lg, tmp_path):
    def name():
        raise BoomError("no name")

    qdl = lg.ConstructQDL(lambda qs: None, lambda: None, name)
    qsl = lg.ConstructQSL(4, 4, lambda s: None, lambda s: None)
    try:
        with pytest.raises(BoomError):
            lg.StartTestWithLogSettings(qdl, qsl, make_settings(lg, {}), make_log_settings(lg, tmp_path))
    finally:
        lg.DestroyQDL(qdl)
        lg.DestroyQSL(qsl)
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert "Test aborted : BoomError: no name" in summary and "No errors encountered" not in summary


@pytest.mark.parametrize("mode", ["PerformanceOnly", "AccuracyOnly", "SubmissionRun", "FindPeakPerformance"])
def test_qsl_with_no_samples_is_refused(h, lg, mode):
    empty = lg.ConstructQSL(0, 0, lambda s: h.on_load(s), lambda s: None)
    loaded = []
    h.on_load = loaded.append
    try:
        with pytest.raises(lg.LoadGenError, match="0 samples") as info:
            h.start(qsl=empty, mode=mode, scenario="Server" if mode == "FindPeakPerformance" else "SingleStream")
    finally:
        lg.DestroyQSL(empty)
    assert h.issued == [] and loaded == []
    assert str(info.value).count("\n") == 0
    assert_logged_as_aborted(h, h.last_outdir, "0 samples")
    h.check_healthy()


@pytest.mark.parametrize(
    "settings",
    [
        {"scenario": "Offline", "min_query_count": 0, "min_duration_ms": 0},
        {"scenario": "MultiStream", "multi_stream_samples_per_query": 0},
        {"scenario": "MultiStream", "multi_stream_samples_per_query": 0, "mode": "AccuracyOnly"},  # looped forever
    ],
)
def test_queries_of_zero_samples_are_refused(h, lg, settings):
    # an Offline run sized to 0 samples used to report VALID with nothing issued
    with pytest.raises(lg.LoadGenError, match="0 samples"):
        h.start(**settings)
    assert h.issued == []
    assert_logged_as_aborted(h, h.last_outdir, "would have 0 samples")
    h.check_healthy()


def test_zero_performance_sample_count_is_refused(h, lg):
    no_perf = lg.ConstructQSL(10, 0, lambda s: None, lambda s: None)
    try:
        with pytest.raises(lg.LoadGenError, match="performance_sample_count is 0"):
            h.start(qsl=no_perf)
        assert h.issued == []
        # the override supplies the count, so the same QSL runs
        outdir = h.start(qsl=no_perf, performance_sample_count_override=5)
    finally:
        lg.DestroyQSL(no_perf)
    assert {index for _, index in h.issued} <= set(range(10))
    assert not detail_errors(h.detail(outdir))


# Late answers to an earlier test (docs/decisions.md, "LoadGen: response ids and late completions").


def test_late_completions_from_an_aborted_test_do_not_affect_the_next_test(h, lg):
    """Ids of an ended test are recognised (their pass generation and slot were handed out) and
    dropped while the next test runs: no exception for the SUT, no error or result in the new test."""
    held = []
    h.on_issue = lambda qs: held.extend(q.id for q in qs)  # test 1 never completes: aborted by the timeout
    with pytest.raises(lg.LoadGenError):
        h.start(scenario="Offline", min_query_count=8, completion_timeout_s=0.2)
    assert len(held) == 8
    late_calls = []

    def issue(qs):
        if not late_calls:  # the SUT's late answers to test 1 arrive during test 2, alone and mixed in
            lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in held[:4]])
            lg.FirstTokenComplete([lg.QuerySampleResponse(held[4], 0, 0)])
            mixed = [lg.QuerySampleResponse(i, 0, 0) for i in held[4:] + [q.id for q in qs]]
            lg.QuerySamplesComplete(mixed)
            late_calls.append(len(mixed))
            h.issued.extend((q.id, q.index) for q in qs)
            return
        h.complete_now(qs)

    h.on_issue = issue
    outdir = h.start(min_query_count=30)
    assert late_calls
    detail = h.detail(outdir)
    assert not detail_errors(detail)
    assert detail_values(detail)["result_query_count"] == 30
    assert "No errors encountered during test." in h.summary(outdir)
    ignored = [r["value"] for r in parse_detail(detail) if "earlier tests" in str(r["value"])]
    assert ignored == ["Ignored 9 completions of response ids issued by earlier tests (late answers, not errors)"]
    h.check_healthy()


def test_late_completions_racing_the_next_test_from_another_thread(h, lg):
    held = []
    h.on_issue = lambda qs: held.extend(q.id for q in qs)
    with pytest.raises(lg.LoadGenError):
        h.start(scenario="Offline", min_query_count=2000, completion_timeout_s=0.2)
    stop = threading.Event()
    test_running = threading.Event()  # set by the first issue of the next test
    answered_while_running = threading.Event()
    raised = []

    def late_answers():
        while not stop.is_set():
            running = test_running.is_set()
            for k in range(0, len(held), 100):
                try:
                    lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in held[k : k + 100]])
                except lg.LoadGenError as exc:  # only between tests: no test to attribute them to
                    raised.append(str(exc))
            if running:
                answered_while_running.set()

    def issue(qs):
        # hold the first query until a full sweep of late answers has landed inside the test, so the
        # overlap does not depend on thread scheduling; the sweeps go on racing the rest of the tests
        if not test_running.is_set():
            test_running.set()
            assert answered_while_running.wait(30)
        h.complete_now(qs)

    h.on_issue = issue
    thread = threading.Thread(target=late_answers)
    thread.start()
    try:
        outdirs = [h.start(scenario=sc, min_query_count=500) for sc in ("SingleStream", "Offline", "MultiStream")]
    finally:
        stop.set()
        thread.join()
    ignored = 0
    for outdir, queries in zip(outdirs, (500, 1, 500), strict=True):  # Offline: one query
        assert not detail_errors(h.detail(outdir))
        assert detail_values(h.detail(outdir))["result_query_count"] == queries
        ignored += sum("earlier tests" in str(r["value"]) for r in parse_detail(h.detail(outdir)))
    assert ignored >= 1  # the late answers did overlap the new tests
    assert all("no test is running" in msg for msg in raised)


def test_a_completion_after_its_pass_ended_is_still_an_error_in_the_same_test(h, lg):
    # SubmissionRun: an accuracy-pass id completed again during the performance pass of the same test
    first_pass = []
    raised = []

    def issue(qs):
        h.issued.extend((q.id, q.index) for q in qs)
        if len(first_pass) < 16:
            first_pass.extend(q.id for q in qs)
        elif len(first_pass) == 16:
            first_pass.append(0)
            try:
                lg.QuerySamplesComplete([lg.QuerySampleResponse(first_pass[0], 0, 0)])
            except lg.LoadGenError as exc:
                raised.append(str(exc))
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

    h.on_issue = issue
    outdir = h.start(mode="SubmissionRun")
    assert len(raised) == 1 and str(first_pass[0]) in raised[0] and "earlier pass" in raised[0]
    assert [e["key"] for e in detail_errors(h.detail(outdir))] == ["error_runtime"]


def test_a_forged_id_with_an_old_generation_is_still_an_error(h, lg):
    h.check_healthy()
    stale = h.issued[-1][0]
    generation = stale >> 40
    forged = [(generation << 40) | (1 << 39), (generation + 1000) << 40 | 1]  # slot never handed out; future pass
    raised = []

    def issue(qs):
        if not raised:
            for bad_id in forged:
                try:
                    lg.QuerySamplesComplete([lg.QuerySampleResponse(bad_id, 0, 0)])
                except lg.LoadGenError as exc:
                    raised.append(str(exc))
        h.complete_now(qs)

    h.on_issue = issue
    outdir = h.start()
    assert len(raised) == 2 and all("unknown response id" in msg for msg in raised)
    assert len(detail_errors(h.detail(outdir))) == 2
