// What LoadGen drives: a system that accepts queries and later reports each
// sample's completion through CompleteSamples (completion.h).
//
// Threading: every method is called on the thread that called StartTest,
// one at a time, never concurrently with another method of the same object.
// Completions are the SUT's side of the contract and may come from any
// thread, at any time during the test, including from inside IssueQuery.
//
// Lifetime and ownership: LoadGen borrows the object. It must stay alive
// until StartTest returns; LoadGen keeps no pointer to it afterwards, so it
// may be destroyed (or reused for another StartTest) then. A SUT that still
// holds ids when its test ends (for instance after an abort) may complete
// them later: LoadGen drops such late answers (response_id.h).
//
// Errors: an exception thrown by any method aborts the test. StartTest
// records the abort and its reason in the logs, does not call the QSL's
// UnloadSamplesFromRam for the interrupted set, and rethrows the exception.
#pragma once

#include <cstddef>
#include <string>

#include "query_sample.h"

namespace mlg {

class SystemUnderTest {
 public:
  virtual ~SystemUnderTest() = default;

  // Called once per StartTest, before anything is loaded or issued; the time
  // it takes is logged (get_sut_name_duration_ns).
  virtual std::string Name() = 0;

  // Hands the SUT `count` samples to run: one query, or in Server with
  // server_coalesce_queries several queries that were due at once.
  // `samples` points to LoadGen's memory and is valid only during the call:
  // copy the ids (and indices) out. Return promptly; in SingleStream and
  // MultiStream LoadGen issues the next query only once every sample of this
  // one is complete, in Server it issues on schedule regardless.
  virtual void IssueQuery(const QuerySample* samples, size_t count) = 0;

  // Called once per pass after its last IssueQuery, before LoadGen waits for
  // the outstanding samples: a SUT that batches must now run what it holds.
  virtual void FlushQueries() = 0;
};

}  // namespace mlg
