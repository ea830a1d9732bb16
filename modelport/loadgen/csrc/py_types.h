// QuerySample and QuerySampleResponse as plain CPython types: a fixed C
// struct each, allocated with pymalloc and read directly by
// QuerySamplesComplete, so a Python SUT pays tens of nanoseconds per sample
// instead of a pybind11 object round-trip (docs/decisions.md, "LoadGen: where
// the time goes").
#pragma once

#include <Python.h>

#include <cstdint>

#include "query_sample.h"

namespace mlg::py {

struct PyQuerySample {
  PyObject_HEAD
  uint64_t id;
  uint64_t index;
};

struct PyQuerySampleResponse {
  PyObject_HEAD
  uint64_t id;
  uint64_t data;
  uint64_t size;
  int64_t n_tokens;
};

// Readies both types; returns false with a Python error set on failure.
bool ReadyTypes();
PyTypeObject* QuerySampleType();
PyTypeObject* QuerySampleResponseType();

// New reference, or nullptr with an error set.
PyObject* NewQuerySample(uint64_t id, uint64_t index);
PyObject* NewQuerySampleResponse(const QuerySampleResponse& r);

// Reads a QuerySampleResponse (or subclass) object; false with TypeError set otherwise.
bool ReadResponse(PyObject* obj, QuerySampleResponse* out);

}  // namespace mlg::py
