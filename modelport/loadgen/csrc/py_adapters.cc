#include "py_adapters.h"

#include <pybind11/numpy.h>

#include <cstring>
#include <mutex>
#include <unordered_map>

#include "errors.h"
#include "py_types.h"

namespace mlg::py {

namespace {

// Calls `fn(arg...)`; a Python exception becomes error_already_set, which
// unwinds the run and is re-raised unchanged by StartTest.
void Call(PyObject* fn, PyObject* const* args, size_t nargs) {
  PyObject* result = PyObject_Vectorcall(fn, args, nargs, nullptr);
  if (!result) throw pyb::error_already_set();
  Py_DECREF(result);
}

PyObject* IndexList(const std::vector<QuerySampleIndex>& v) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(v.size()));
  if (!list) throw pyb::error_already_set();
  for (size_t i = 0; i < v.size(); ++i) {
    PyObject* item = PyLong_FromUnsignedLongLong(v[i]);
    if (!item) {
      Py_DECREF(list);
      throw pyb::error_already_set();
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
  }
  return list;
}

void CallWithIndices(const pyb::object& cb, const std::vector<QuerySampleIndex>& samples) {
  pyb::gil_scoped_acquire gil;
  pyb::object list = pyb::reinterpret_steal<pyb::object>(IndexList(samples));
  PyObject* args[] = {list.ptr()};
  Call(cb.ptr(), args, 1);
}

template <typename T>
class Registry {
 public:
  uint64_t Add(std::shared_ptr<T> obj) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t h = next_++;
    objects_[h] = std::move(obj);
    return h;
  }
  std::shared_ptr<T> Get(uint64_t h, const char* what) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(h);
    if (it == objects_.end()) throw LoadGenError(std::string("unknown ") + what + " handle " + std::to_string(h));
    return it->second;
  }
  void Remove(uint64_t h, const char* what) {
    std::shared_ptr<T> keep;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = objects_.find(h);
      if (it == objects_.end()) throw LoadGenError(std::string("unknown ") + what + " handle " + std::to_string(h));
      keep = std::move(it->second);
      objects_.erase(it);
    }
  }

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<T>> objects_;
  uint64_t next_;

 public:
  explicit Registry(uint64_t first) : next_(first) {}
};

Registry<PythonSut>& Suts() {
  static Registry<PythonSut> r(0x5a7000001);
  return r;
}
Registry<PythonQsl>& Qsls() {
  static Registry<PythonQsl> r(0x95100001);
  return r;
}

}  // namespace

PythonSut::PythonSut(pyb::object issue_cb, pyb::object flush_cb, IssueStyle style, std::string name,
                     pyb::object name_cb)
    : issue_cb_(std::move(issue_cb)),
      flush_cb_(std::move(flush_cb)),
      name_cb_(std::move(name_cb)),
      style_(style),
      name_(std::move(name)) {}

PythonSut::~PythonSut() {
  if (!Py_IsInitialized()) {
    issue_cb_.release();
    flush_cb_.release();
    name_cb_.release();
    return;
  }
  pyb::gil_scoped_acquire gil;
  issue_cb_ = pyb::object();
  flush_cb_ = pyb::object();
  name_cb_ = pyb::object();
}

std::string PythonSut::Name() {
  if (name_cb_.is_none()) return name_;
  pyb::gil_scoped_acquire gil;
  return name_cb_().cast<std::string>();
}

void PythonSut::IssueQuery(const QuerySample* samples, size_t count) {
  pyb::gil_scoped_acquire gil;
  const auto n = static_cast<Py_ssize_t>(count);
  switch (style_) {
    case IssueStyle::kObjects: {
      pyb::object list = pyb::reinterpret_steal<pyb::object>(PyList_New(n));
      if (!list) throw pyb::error_already_set();
      for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* s = NewQuerySample(samples[i].id, samples[i].index);
        if (!s) throw pyb::error_already_set();
        PyList_SET_ITEM(list.ptr(), i, s);
      }
      PyObject* args[] = {list.ptr()};
      Call(issue_cb_.ptr(), args, 1);
      break;
    }
    case IssueStyle::kLists: {
      pyb::object ids = pyb::reinterpret_steal<pyb::object>(PyList_New(n));
      pyb::object idx = pyb::reinterpret_steal<pyb::object>(PyList_New(n));
      if (!ids || !idx) throw pyb::error_already_set();
      for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* a = PyLong_FromUnsignedLongLong(samples[i].id);
        PyObject* b = PyLong_FromUnsignedLongLong(samples[i].index);
        if (!a || !b) {
          Py_XDECREF(a);
          Py_XDECREF(b);
          throw pyb::error_already_set();
        }
        PyList_SET_ITEM(ids.ptr(), i, a);
        PyList_SET_ITEM(idx.ptr(), i, b);
      }
      PyObject* args[] = {ids.ptr(), idx.ptr()};
      Call(issue_cb_.ptr(), args, 2);
      break;
    }
    case IssueStyle::kArrays: {
      pyb::array_t<uint64_t> ids(n), idx(n);
      uint64_t* pi = ids.mutable_data();
      uint64_t* px = idx.mutable_data();
      for (Py_ssize_t i = 0; i < n; ++i) {
        pi[i] = samples[i].id;
        px[i] = samples[i].index;
      }
      PyObject* args[] = {ids.ptr(), idx.ptr()};
      Call(issue_cb_.ptr(), args, 2);
      break;
    }
  }
}

void PythonSut::FlushQueries() {
  pyb::gil_scoped_acquire gil;
  Call(flush_cb_.ptr(), nullptr, 0);
}

PythonQsl::PythonQsl(size_t total, size_t performance, pyb::object load_cb, pyb::object unload_cb)
    : total_(total), performance_(performance), load_cb_(std::move(load_cb)), unload_cb_(std::move(unload_cb)) {}

PythonQsl::~PythonQsl() {
  if (!Py_IsInitialized()) {
    load_cb_.release();
    unload_cb_.release();
    return;
  }
  pyb::gil_scoped_acquire gil;
  load_cb_ = pyb::object();
  unload_cb_ = pyb::object();
}

void PythonQsl::LoadSamplesToRam(const std::vector<QuerySampleIndex>& samples) { CallWithIndices(load_cb_, samples); }

void PythonQsl::UnloadSamplesFromRam(const std::vector<QuerySampleIndex>& samples) {
  CallWithIndices(unload_cb_, samples);
}

uint64_t RegisterSut(std::shared_ptr<PythonSut> sut) { return Suts().Add(std::move(sut)); }
uint64_t RegisterQsl(std::shared_ptr<PythonQsl> qsl) { return Qsls().Add(std::move(qsl)); }
std::shared_ptr<PythonSut> LookupSut(uint64_t h) { return Suts().Get(h, "SUT"); }
std::shared_ptr<PythonQsl> LookupQsl(uint64_t h) { return Qsls().Get(h, "QSL"); }
void DestroySut(uint64_t h) { Suts().Remove(h, "SUT"); }
void DestroyQsl(uint64_t h) { Qsls().Remove(h, "QSL"); }

}  // namespace mlg::py
