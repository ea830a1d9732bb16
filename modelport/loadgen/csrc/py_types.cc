#include "py_types.h"

#include <structmember.h>

namespace mlg::py {

namespace {

// Zero-initialised; Ready() fills in the header and slots.
PyTypeObject g_sample_type{};
PyTypeObject g_response_type{};

// Python int (or anything with __index__, e.g. numpy.uint64) -> uint64.
// Floats and negative values are rejected, as the official binding does.
bool ToU64(PyObject* v, uint64_t* out, const char* what) {
  if (PyFloat_Check(v)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not float", what);
    return false;
  }
  PyObject* index = v;
  if (PyLong_CheckExact(v)) {
    Py_INCREF(index);
  } else if (!(index = PyNumber_Index(v))) {
    return false;
  }
  unsigned long long x = PyLong_AsUnsignedLongLong(index);
  Py_DECREF(index);
  if (x == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
      PyErr_Clear();
      PyErr_Format(PyExc_TypeError, "%s must be an int in [0, 2**64)", what);
    }
    return false;
  }
  *out = x;
  return true;
}

bool ToI64(PyObject* v, int64_t* out, const char* what) {
  if (PyFloat_Check(v)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not float", what);
    return false;
  }
  PyObject* index = PyNumber_Index(v);
  if (!index) return false;
  long long x = PyLong_AsLongLong(index);
  Py_DECREF(index);
  if (x == -1 && PyErr_Occurred()) return false;
  *out = x;
  return true;
}

bool NoKeywords(PyObject* kwds, const char* type) {
  if (kwds && PyDict_Size(kwds) > 0) {
    PyErr_Format(PyExc_TypeError, "%s() takes positional arguments only", type);
    return false;
  }
  return true;
}

// ---- QuerySample ----

PyObject* SampleNew(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  if (!NoKeywords(kwds, "QuerySample")) return nullptr;
  Py_ssize_t n = PyTuple_GET_SIZE(args);
  uint64_t id = 0, index = 0;
  if (n == 2) {
    if (!ToU64(PyTuple_GET_ITEM(args, 0), &id, "QuerySample.id") ||
        !ToU64(PyTuple_GET_ITEM(args, 1), &index, "QuerySample.index")) {
      return nullptr;
    }
  } else if (n != 0) {
    PyErr_SetString(PyExc_TypeError, "QuerySample() takes no arguments or (id: int, index: int)");
    return nullptr;
  }
  auto* self = reinterpret_cast<PyQuerySample*>(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  self->id = id;
  self->index = index;
  return reinterpret_cast<PyObject*>(self);
}

template <typename Obj, uint64_t Obj::*Field>
PyObject* GetU64(PyObject* self, void*) {
  return PyLong_FromUnsignedLongLong(reinterpret_cast<Obj*>(self)->*Field);
}

template <typename Obj, uint64_t Obj::*Field>
int SetU64(PyObject* self, PyObject* value, void*) {
  if (!value) {
    PyErr_SetString(PyExc_AttributeError, "attribute cannot be deleted");
    return -1;
  }
  uint64_t v;
  if (!ToU64(value, &v, "value")) return -1;
  reinterpret_cast<Obj*>(self)->*Field = v;
  return 0;
}

PyObject* SampleReduce(PyObject* self, PyObject*) {
  auto* s = reinterpret_cast<PyQuerySample*>(self);
  return Py_BuildValue("(O(KK))", reinterpret_cast<PyObject*>(Py_TYPE(self)), static_cast<unsigned long long>(s->id),
                       static_cast<unsigned long long>(s->index));
}

PyObject* SampleRepr(PyObject* self) {
  auto* s = reinterpret_cast<PyQuerySample*>(self);
  return PyUnicode_FromFormat("QuerySample(id=%llu, index=%llu)", static_cast<unsigned long long>(s->id),
                              static_cast<unsigned long long>(s->index));
}

PyGetSetDef g_sample_getset[] = {
    {"id", GetU64<PyQuerySample, &PyQuerySample::id>, SetU64<PyQuerySample, &PyQuerySample::id>,
     "Response id to pass back in QuerySampleResponse.", nullptr},
    {"index", GetU64<PyQuerySample, &PyQuerySample::index>, SetU64<PyQuerySample, &PyQuerySample::index>,
     "Sample index in the QSL.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef g_sample_methods[] = {{"__reduce__", SampleReduce, METH_NOARGS, nullptr},
                                  {nullptr, nullptr, 0, nullptr}};

// ---- QuerySampleResponse ----

PyObject* ResponseNew(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  if (!NoKeywords(kwds, "QuerySampleResponse")) return nullptr;
  Py_ssize_t n = PyTuple_GET_SIZE(args);
  uint64_t id = 0, data = 0, size = 0;
  int64_t n_tokens = 0;
  if (n == 3 || n == 4) {
    if (!ToU64(PyTuple_GET_ITEM(args, 0), &id, "QuerySampleResponse.id") ||
        !ToU64(PyTuple_GET_ITEM(args, 1), &data, "QuerySampleResponse.data") ||
        !ToU64(PyTuple_GET_ITEM(args, 2), &size, "QuerySampleResponse.size")) {
      return nullptr;
    }
    if (n == 4 && !ToI64(PyTuple_GET_ITEM(args, 3), &n_tokens, "QuerySampleResponse.n_tokens")) return nullptr;
  } else if (n != 0) {
    PyErr_SetString(PyExc_TypeError,
                    "QuerySampleResponse() takes no arguments or (id: int, data: int, size: int[, n_tokens: int])");
    return nullptr;
  }
  auto* self = reinterpret_cast<PyQuerySampleResponse*>(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  self->id = id;
  self->data = data;
  self->size = size;
  self->n_tokens = n_tokens;
  return reinterpret_cast<PyObject*>(self);
}

PyObject* GetTokens(PyObject* self, void*) {
  return PyLong_FromLongLong(reinterpret_cast<PyQuerySampleResponse*>(self)->n_tokens);
}

int SetTokens(PyObject* self, PyObject* value, void*) {
  if (!value) {
    PyErr_SetString(PyExc_AttributeError, "attribute cannot be deleted");
    return -1;
  }
  int64_t v;
  if (!ToI64(value, &v, "n_tokens")) return -1;
  reinterpret_cast<PyQuerySampleResponse*>(self)->n_tokens = v;
  return 0;
}

PyObject* ResponseReduce(PyObject* self, PyObject*) {
  auto* r = reinterpret_cast<PyQuerySampleResponse*>(self);
  return Py_BuildValue("(O(KKKL))", reinterpret_cast<PyObject*>(Py_TYPE(self)),
                       static_cast<unsigned long long>(r->id), static_cast<unsigned long long>(r->data),
                       static_cast<unsigned long long>(r->size), static_cast<long long>(r->n_tokens));
}

PyObject* ResponseRepr(PyObject* self) {
  auto* r = reinterpret_cast<PyQuerySampleResponse*>(self);
  return PyUnicode_FromFormat("QuerySampleResponse(id=%llu, data=%llu, size=%llu, n_tokens=%lld)",
                              static_cast<unsigned long long>(r->id), static_cast<unsigned long long>(r->data),
                              static_cast<unsigned long long>(r->size), static_cast<long long>(r->n_tokens));
}

PyGetSetDef g_response_getset[] = {
    {"id", GetU64<PyQuerySampleResponse, &PyQuerySampleResponse::id>,
     SetU64<PyQuerySampleResponse, &PyQuerySampleResponse::id>, "QuerySample.id being answered.", nullptr},
    {"data", GetU64<PyQuerySampleResponse, &PyQuerySampleResponse::data>,
     SetU64<PyQuerySampleResponse, &PyQuerySampleResponse::data>, "Address of the response bytes.", nullptr},
    {"size", GetU64<PyQuerySampleResponse, &PyQuerySampleResponse::size>,
     SetU64<PyQuerySampleResponse, &PyQuerySampleResponse::size>, "Size of the response in bytes.", nullptr},
    {"n_tokens", GetTokens, SetTokens, "Number of output tokens (token latency runs).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef g_response_methods[] = {{"__reduce__", ResponseReduce, METH_NOARGS, nullptr},
                                    {nullptr, nullptr, 0, nullptr}};

bool Ready(PyTypeObject* t, const char* name, Py_ssize_t size, newfunc tp_new, reprfunc repr, PyGetSetDef* getset,
           PyMethodDef* methods, const char* doc) {
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(t), 1);
  t->tp_name = name;
  t->tp_basicsize = size;
  t->tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
  t->tp_new = tp_new;
  t->tp_repr = repr;
  t->tp_getset = getset;
  t->tp_methods = methods;
  t->tp_doc = doc;
  t->tp_alloc = PyType_GenericAlloc;
  t->tp_free = PyObject_Del;
  return PyType_Ready(t) == 0;
}

}  // namespace

bool ReadyTypes() {
  return Ready(&g_sample_type, "modelport.loadgen.QuerySample", sizeof(PyQuerySample), SampleNew, SampleRepr,
               g_sample_getset, g_sample_methods,
               "QuerySample() or QuerySample(id, index): one sample of an issued query.") &&
         Ready(&g_response_type, "modelport.loadgen.QuerySampleResponse", sizeof(PyQuerySampleResponse),
               ResponseNew, ResponseRepr, g_response_getset, g_response_methods,
               "QuerySampleResponse(id, data, size[, n_tokens]): the result of one sample.");
}

PyTypeObject* QuerySampleType() { return &g_sample_type; }
PyTypeObject* QuerySampleResponseType() { return &g_response_type; }

PyObject* NewQuerySample(uint64_t id, uint64_t index) {
  auto* self = PyObject_New(PyQuerySample, &g_sample_type);
  if (!self) return nullptr;
  self->id = id;
  self->index = index;
  return reinterpret_cast<PyObject*>(self);
}

PyObject* NewQuerySampleResponse(const QuerySampleResponse& r) {
  auto* self = PyObject_New(PyQuerySampleResponse, &g_response_type);
  if (!self) return nullptr;
  self->id = r.id;
  self->data = r.data;
  self->size = r.size;
  self->n_tokens = r.n_tokens;
  return reinterpret_cast<PyObject*>(self);
}

bool ReadResponse(PyObject* obj, QuerySampleResponse* out) {
  if (Py_TYPE(obj) != &g_response_type && !PyObject_TypeCheck(obj, &g_response_type)) {
    PyErr_Format(PyExc_TypeError, "expected QuerySampleResponse, got %s", Py_TYPE(obj)->tp_name);
    return false;
  }
  auto* r = reinterpret_cast<PyQuerySampleResponse*>(obj);
  out->id = r->id;
  out->data = static_cast<uintptr_t>(r->data);
  out->size = static_cast<size_t>(r->size);
  out->n_tokens = r->n_tokens;
  return true;
}

}  // namespace mlg::py
