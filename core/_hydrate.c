/* core._hydrate: rows -> plain objects in C, the optional accelerator of core.codec.

   Job: the per-row loops that make objects of rows. A ``Hydrator`` is made once per entity,
   dialect and use from the class, the field names (interned) in the order they are stored,
   one converter or None a name, the row position of each name, the names making the identity
   key, and a function raising a row's conversion error. Each object is made exactly as
   ``object.__new__(cls)`` makes it (no ``__init__``); the row's values are stored under the
   names (``None`` as it is, anything else through the name's converter where it has one),
   then the session token under the session attribute.

   - ``stream(chunks, token)``: an iterator over every row of every chunk (a sequence of
     rows), an untracked stream (``EntityCodec.stream_rows``). The objects are yielded one by
     one, never held in a list, so an object the caller drops dies at once and the cyclic
     collector sees no chunk of live objects. Its end, ``close()``, an error, or dropping it
     closes ``chunks`` (``chunks.close()``: the query ends), as the generated generator's
     ``finally`` does.
   - ``chunk(rows, token, keys)`` and ``merge(rows, token, mapping, out)``: a session's load
     (``EntityCodec.merge``): every row a new object and its key appended to ``keys``; or the
     object ``mapping`` holds under a row's key, else a new one, mapped.

   Stores go through ``PyObject_GenericSetAttr`` (``object.__setattr__``: the class's own
   ``__setattr__`` hook is not called, as the generated ``d[name] = v`` does not call it); an
   instance of a class with Python 3.11's managed dict keeps its values inline and its
   ``__dict__`` is made only when something asks for it (measured: fewer instructions than
   storing into the ``__dict__``, which also costs the consumer's attribute reads). A class
   with a data descriptor under one of the names (a reference, a JSON field) is given
   ``use_dict``: values are stored into the instance's ``__dict__`` itself, as the generated
   code does. Only the public C API is used.

   Callers: ``core.codec`` only. What it leaves out: resolving references to objects (a
   session's load stores their bare keys, which is a converter here; an untracked stream of an
   entity with references stays in the generated code), the per-chunk checks of a load
   (ascending keys, the identity map's update), and the error's wording (``on_error`` is
   ``EntityCodec._row_failed``). Without this module (no compiler, or ``ORMCLI_NO_SPEEDUPS=1``)
   ``core.codec`` runs its generated Python loops, which make the same objects. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;
    PyObject *names;    /* tuple of str, one a field */
    PyObject *convs;    /* tuple, one callable or None a field */
    PyObject *attr;     /* the session attribute's name */
    PyObject *on_error; /* on_error(exc, row): raises the error to give */
    PyObject *empty;    /* () for object.__new__ */
    Py_ssize_t n;
    Py_ssize_t width;   /* the length of a row */
    Py_ssize_t *pos;    /* the row's index of each name's value */
    Py_ssize_t nkey;    /* how many names make the identity key (chunk, merge) */
    Py_ssize_t *key;    /* their indices among the names */
    int any_conv;
    int use_dict;
} Hydrator;

typedef struct {
    PyObject_HEAD
    Hydrator *h;
    PyObject *chunks; /* iterator of chunks; NULL once closed */
    PyObject *chunk;  /* the current chunk as a list or tuple (PySequence_Fast) */
    PyObject *token;
    Py_ssize_t pos;
} Stream;

static PyTypeObject Hydrator_Type;
static PyTypeObject Stream_Type;
static PyObject *str_close; /* "close", interned */

/* -- Hydrator ------------------------------------------------------------------------- */

/* -1 with an error set when ``Hydrator.__init__`` has not run. */
static int
check_ready(Hydrator *h)
{
    if (h->cls == NULL) {
        PyErr_SetString(PyExc_TypeError, "Hydrator: __init__ was not called");
        return -1;
    }
    return 0;
}

static int
Hydrator_init(Hydrator *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"cls",      "names",     "convs", "attr", "on_error",
                             "use_dict", "positions", "key",   NULL};
    PyObject *cls, *names, *convs, *attr, *on_error, *positions = NULL, *key = NULL;
    int use_dict = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O!UO|pO!O!:Hydrator", kwlist,
                                     &PyType_Type, &cls, &PyTuple_Type, &names, &PyTuple_Type,
                                     &convs, &attr, &on_error, &use_dict, &PyTuple_Type,
                                     &positions, &PyTuple_Type, &key)) {
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (positions != NULL && PyTuple_GET_SIZE(positions) != n) {
        PyErr_SetString(PyExc_ValueError, "Hydrator: one position a name");
        return -1;
    }
    if (PyTuple_GET_SIZE(convs) != n) {
        PyErr_SetString(PyExc_ValueError, "Hydrator: one converter (or None) a name");
        return -1;
    }
    int any_conv = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(names, i))) {
            PyErr_SetString(PyExc_TypeError, "Hydrator: names must be str");
            return -1;
        }
        PyObject *conv = PyTuple_GET_ITEM(convs, i);
        if (conv != Py_None) {
            if (!PyCallable_Check(conv)) {
                PyErr_SetString(PyExc_TypeError, "Hydrator: a converter must be callable");
                return -1;
            }
            any_conv = 1;
        }
    }
    if (!PyCallable_Check(on_error)) {
        PyErr_SetString(PyExc_TypeError, "Hydrator: on_error must be callable");
        return -1;
    }
    /* object.__new__(cls) refuses a class whose nearest built-in base makes its instances
       with a __new__ of its own (tp_new_wrapper's check): such a class takes the pure path. */
    PyTypeObject *base = (PyTypeObject *)cls;
    while (base != NULL && (base->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        base = base->tp_base;
    }
    if (base == NULL || base->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_SetString(PyExc_TypeError, "Hydrator: object.__new__ cannot make this class");
        return -1;
    }
    Py_ssize_t nkey = key == NULL ? 0 : PyTuple_GET_SIZE(key);
    Py_ssize_t *pos = PyMem_New(Py_ssize_t, n + 1);
    Py_ssize_t *keyidx = PyMem_New(Py_ssize_t, nkey + 1);
    if (pos == NULL || keyidx == NULL) {
        PyMem_Free(pos);
        PyMem_Free(keyidx);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        pos[i] = positions == NULL ? i : PyLong_AsSsize_t(PyTuple_GET_ITEM(positions, i));
        if (pos[i] < 0 || pos[i] >= n) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "Hydrator: a position out of the row");
            }
            PyMem_Free(pos);
            PyMem_Free(keyidx);
            return -1;
        }
    }
    for (Py_ssize_t j = 0; j < nkey; j++) {
        keyidx[j] = PyLong_AsSsize_t(PyTuple_GET_ITEM(key, j));
        if (keyidx[j] < 0 || keyidx[j] >= n) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "Hydrator: a key index out of the names");
            }
            PyMem_Free(pos);
            PyMem_Free(keyidx);
            return -1;
        }
    }
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL) {
        PyMem_Free(pos);
        PyMem_Free(keyidx);
        return -1;
    }
    Py_INCREF(cls);
    Py_INCREF(names);
    Py_INCREF(convs);
    Py_INCREF(attr);
    Py_INCREF(on_error);
    Py_XSETREF(self->cls, (PyTypeObject *)cls);
    Py_XSETREF(self->names, names);
    Py_XSETREF(self->convs, convs);
    Py_XSETREF(self->attr, attr);
    Py_XSETREF(self->on_error, on_error);
    Py_XSETREF(self->empty, empty);
    PyUnicode_InternInPlace(&self->attr);
    PyMem_Free(self->pos);
    PyMem_Free(self->key);
    self->pos = pos;
    self->key = keyidx;
    self->nkey = nkey;
    self->width = n;
    self->n = n;
    self->any_conv = any_conv;
    self->use_dict = use_dict;
    return 0;
}

static int
Hydrator_traverse(Hydrator *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cls);
    Py_VISIT(self->names);
    Py_VISIT(self->convs);
    Py_VISIT(self->attr);
    Py_VISIT(self->on_error);
    return 0;
}

static int
Hydrator_clear(Hydrator *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->names);
    Py_CLEAR(self->convs);
    Py_CLEAR(self->attr);
    Py_CLEAR(self->on_error);
    Py_CLEAR(self->empty);
    return 0;
}

static void
Hydrator_dealloc(Hydrator *self)
{
    PyObject_GC_UnTrack(self);
    Hydrator_clear(self);
    PyMem_Free(self->pos);
    PyMem_Free(self->key);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Store ``value`` (borrowed) under ``name``; -1 on error. */
static inline int
store(PyObject *obj, PyObject *dict, PyObject *name, PyObject *value)
{
    return dict != NULL ? PyDict_SetItem(dict, name, value)
                        : PyObject_GenericSetAttr(obj, name, value);
}

/* The error of a row that could not become an object: on_error(exc, row) raises it. */
static void
row_failed(Hydrator *h, PyObject *row)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    if (value == NULL) {
        return;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(h->on_error, value, row, NULL);
    Py_DECREF(value);
    if (r != NULL) { /* on_error always raises; keep the rule if it did not */
        Py_DECREF(r);
        PyErr_SetString(PyExc_SystemError, "Hydrator: on_error returned");
    }
}

/* A row's items (borrowed; ``*fast``: a tuple made of a row that is neither a list nor a tuple,
   to release), checked for length; NULL with the error set. */
static PyObject **
row_items(Hydrator *h, PyObject *row, PyObject **fast)
{
    *fast = NULL;
    if (!PyTuple_CheckExact(row) && !PyList_CheckExact(row)) {
        *fast = PySequence_Tuple(row);
        if (*fast == NULL) {
            return NULL;
        }
        row = *fast;
    }
    Py_ssize_t n = h->width;
    if (Py_SIZE(row) != n) {
        PyErr_Format(PyExc_ValueError, "%s (expected %zd)",
                     Py_SIZE(row) > n ? "too many values to unpack" : "not enough values to unpack",
                     n);
        Py_CLEAR(*fast);
        return NULL;
    }
    return PySequence_Fast_ITEMS(row);
}

/* The value to store for name ``i``: None as it is, else through its converter (a new
   reference; NULL with the error set). */
static inline PyObject *
convert(Hydrator *h, Py_ssize_t i, PyObject *v)
{
    PyObject *conv = PyTuple_GET_ITEM(h->convs, i);
    if (v == Py_None || conv == Py_None) {
        Py_INCREF(v);
        return v;
    }
    return PyObject_CallOneArg(conv, v);
}

/* One object of a row's ``values`` holding ``token``: a new reference, or NULL with an error
   set (a conversion's through ``on_error``, with ``row``). ``pre``: NULL, or one converted
   value a name (NULL where not converted yet), as ``row_key`` left them (borrowed). */
static PyObject *
hydrate(Hydrator *h, PyObject *row, PyObject **values, PyObject *token, PyObject **pre)
{
    Py_ssize_t n = h->n;
    Py_ssize_t *pos = h->pos;
    PyObject *obj = PyBaseObject_Type.tp_new(h->cls, h->empty, NULL);
    if (obj == NULL) {
        return NULL;
    }
    PyObject *dict = NULL;
    if (h->use_dict) {
        dict = PyObject_GenericGetDict(obj, NULL);
        if (dict == NULL) {
            goto fail;
        }
    }
    PyObject **names = &PyTuple_GET_ITEM(h->names, 0);
    if (h->any_conv || pre != NULL) {
        PyObject **convs = &PyTuple_GET_ITEM(h->convs, 0);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = values[pos[i]];
            if (pre != NULL && pre[i] != NULL) {
                v = pre[i];
            }
            else if (v != Py_None && convs[i] != Py_None) {
                v = PyObject_CallOneArg(convs[i], v);
                if (v == NULL) {
                    Py_XDECREF(dict);
                    Py_DECREF(obj);
                    row_failed(h, row);
                    return NULL;
                }
                int r = store(obj, dict, names[i], v);
                Py_DECREF(v);
                if (r < 0) {
                    goto fail;
                }
                continue;
            }
            if (store(obj, dict, names[i], v) < 0) {
                goto fail;
            }
        }
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (store(obj, dict, names[i], values[pos[i]]) < 0) {
                goto fail;
            }
        }
    }
    if (store(obj, dict, h->attr, token) < 0) {
        goto fail;
    }
    Py_XDECREF(dict);
    return obj;
fail:
    Py_XDECREF(dict);
    Py_DECREF(obj);
    return NULL;
}

/* The object of one row (Hydrator.one, Stream): ``hydrate`` with the row's items. */
static PyObject *
hydrate_row(Hydrator *h, PyObject *row, PyObject *token)
{
    PyObject *fast;
    PyObject **values = row_items(h, row, &fast);
    if (values == NULL) {
        return NULL;
    }
    PyObject *obj = hydrate(h, row, values, token, NULL);
    Py_XDECREF(fast);
    return obj;
}

/* A row's identity key (a new reference; NULL with the error set): the converted value of the
   one key name, or a tuple of those of several. ``pre`` (n slots, NULL on entry) receives the
   converted values (new references, for ``hydrate``; the caller releases them). */
static PyObject *
row_key(Hydrator *h, PyObject *row, PyObject **values, PyObject **pre)
{
    for (Py_ssize_t j = 0; j < h->nkey; j++) {
        Py_ssize_t i = h->key[j];
        pre[i] = convert(h, i, values[h->pos[i]]);
        if (pre[i] == NULL) {
            row_failed(h, row);
            return NULL;
        }
    }
    if (h->nkey == 1) {
        PyObject *key = pre[h->key[0]];
        Py_INCREF(key);
        return key;
    }
    PyObject *key = PyTuple_New(h->nkey);
    if (key == NULL) {
        return NULL;
    }
    for (Py_ssize_t j = 0; j < h->nkey; j++) {
        PyObject *part = pre[h->key[j]];
        Py_INCREF(part);
        PyTuple_SET_ITEM(key, j, part);
    }
    return key;
}

static void
release(PyObject **pre, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_CLEAR(pre[i]);
    }
}

/* chunk(rows, token, keys) -> objects; merge(rows, token, mapping, out): the two loops of a
   session's load (``EntityCodec._compile_merge``). ``mapping`` None: every row a new object,
   its key appended to ``keys``; else a dict, the object mapped under a row's key where there
   is one, else a new one, mapped; the objects appended to ``out``. */
static int
load_rows(Hydrator *h, PyObject *rows, PyObject *token, PyObject *mapping, PyObject *keys,
          PyObject *out)
{
    if (h->nkey < 1) {
        PyErr_SetString(PyExc_TypeError, "Hydrator: no key names to load by");
        return -1;
    }
    PyObject *seq = PySequence_Fast(rows, "rows must be a sequence");
    if (seq == NULL) {
        return -1;
    }
    PyObject *small[16];
    PyObject **pre = h->n <= 16 ? small : PyMem_New(PyObject *, h->n);
    if (pre == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    memset(pre, 0, sizeof(PyObject *) * h->n);
    int result = -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t r = 0; r < count; r++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, r);
        PyObject *fast;
        PyObject **values = row_items(h, row, &fast);
        if (values == NULL) {
            goto done;
        }
        PyObject *key = row_key(h, row, values, pre);
        if (key == NULL) {
            Py_XDECREF(fast);
            goto done;
        }
        PyObject *obj = NULL;
        if (mapping != NULL) {
            obj = PyDict_GetItemWithError(mapping, key);
            if (obj != NULL) {
                Py_INCREF(obj);
            }
            else if (PyErr_Occurred()) {
                Py_DECREF(key);
                Py_XDECREF(fast);
                goto done;
            }
        }
        if (obj == NULL) {
            obj = hydrate(h, row, values, token, pre);
            if (obj == NULL ||
                (mapping != NULL ? PyDict_SetItem(mapping, key, obj) : PyList_Append(keys, key)) <
                    0) {
                Py_XDECREF(obj);
                Py_DECREF(key);
                Py_XDECREF(fast);
                goto done;
            }
        }
        Py_DECREF(key);
        Py_XDECREF(fast);
        release(pre, h->n);
        int appended = PyList_Append(out, obj);
        Py_DECREF(obj);
        if (appended < 0) {
            goto done;
        }
    }
    result = 0;
done:
    release(pre, h->n);
    if (pre != small) {
        PyMem_Free(pre);
    }
    Py_DECREF(seq);
    return result;
}

static PyObject *
Hydrator_chunk(Hydrator *self, PyObject *args)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    PyObject *rows, *token, *keys;
    if (!PyArg_ParseTuple(args, "OOO!:chunk", &rows, &token, &PyList_Type, &keys)) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    if (load_rows(self, rows, token, NULL, keys, out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *
Hydrator_merge(Hydrator *self, PyObject *args)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    PyObject *rows, *token, *mapping, *out;
    if (!PyArg_ParseTuple(args, "OOO!O!:merge", &rows, &token, &PyDict_Type, &mapping,
                          &PyList_Type, &out)) {
        return NULL;
    }
    if (load_rows(self, rows, token, mapping, NULL, out) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Hydrator_one(Hydrator *self, PyObject *args)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    PyObject *row, *token;
    if (!PyArg_ParseTuple(args, "OO:one", &row, &token)) {
        return NULL;
    }
    return hydrate_row(self, row, token);
}

static PyObject *
Hydrator_stream(Hydrator *self, PyObject *args)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    PyObject *chunks, *token;
    if (!PyArg_ParseTuple(args, "OO:stream", &chunks, &token)) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(chunks);
    if (it == NULL) {
        return NULL;
    }
    Stream *s = PyObject_GC_New(Stream, &Stream_Type);
    if (s == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    Py_INCREF(self);
    Py_INCREF(token);
    s->h = self;
    s->chunks = it;
    s->chunk = NULL;
    s->token = token;
    s->pos = 0;
    PyObject_GC_Track(s);
    return (PyObject *)s;
}

static PyMethodDef Hydrator_methods[] = {
    {"one", (PyCFunction)Hydrator_one, METH_VARARGS,
     "one(row, token) -> the object of one row."},
    {"stream", (PyCFunction)Hydrator_stream, METH_VARARGS,
     "stream(chunks, token) -> iterator of the objects of every row of every chunk."},
    {"chunk", (PyCFunction)Hydrator_chunk, METH_VARARGS,
     "chunk(rows, token, keys) -> the objects of rows, each row's key appended to keys."},
    {"merge", (PyCFunction)Hydrator_merge, METH_VARARGS,
     "merge(rows, token, mapping, out) -> None: mapped objects, new ones mapped, into out."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Hydrator_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "core._hydrate.Hydrator",
    .tp_basicsize = sizeof(Hydrator),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Hydrator(cls, names, convs, attr, on_error, use_dict=False): rows -> objects.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Hydrator_init,
    .tp_dealloc = (destructor)Hydrator_dealloc,
    .tp_traverse = (traverseproc)Hydrator_traverse,
    .tp_clear = (inquiry)Hydrator_clear,
    .tp_methods = Hydrator_methods,
};

/* -- Stream --------------------------------------------------------------------------- */

/* Close the chunks' iterator (``chunks.close()`` where it has one: the query ends). */
static int
Stream_close_chunks(Stream *s)
{
    Py_CLEAR(s->chunk);
    PyObject *chunks = s->chunks;
    if (chunks == NULL) {
        return 0;
    }
    s->chunks = NULL;
    PyObject *close = PyObject_GetAttr(chunks, str_close);
    if (close == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            Py_DECREF(chunks);
            return -1;
        }
        PyErr_Clear();
    }
    int r = 0;
    if (close != NULL) {
        PyObject *res = PyObject_CallNoArgs(close);
        Py_DECREF(close);
        if (res == NULL) {
            r = -1;
        }
        else {
            Py_DECREF(res);
        }
    }
    Py_DECREF(chunks);
    return r;
}

/* Close the chunks while an error is set: that error goes on, or (when closing fails too) the
   closing error, with the first as its context, as a ``finally`` block would give. */
static void
Stream_close_failing(Stream *s)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (Stream_close_chunks(s) == 0) {
        PyErr_Restore(type, value, tb);
        return;
    }
    if (type == NULL) {
        return;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyObject *type2, *value2, *tb2;
    PyErr_Fetch(&type2, &value2, &tb2);
    PyErr_NormalizeException(&type2, &value2, &tb2);
    PyException_SetContext(value2, value); /* steals value */
    Py_DECREF(type);
    Py_XDECREF(tb);
    PyErr_Restore(type2, value2, tb2);
}

static PyObject *
Stream_next(Stream *s)
{
    for (;;) {
        PyObject *chunk = s->chunk;
        if (chunk != NULL) {
            if (s->pos < PySequence_Fast_GET_SIZE(chunk)) {
                PyObject *row = PySequence_Fast_GET_ITEM(chunk, s->pos);
                s->pos++;
                PyObject *obj = hydrate_row(s->h, row, s->token);
                if (obj == NULL) {
                    Stream_close_failing(s);
                    return NULL;
                }
                return obj;
            }
            Py_CLEAR(s->chunk);
        }
        if (s->chunks == NULL) {
            return NULL;
        }
        PyObject *next = PyIter_Next(s->chunks);
        if (next == NULL) {
            Stream_close_failing(s);
            return NULL;
        }
        s->chunk = PySequence_Fast(next, "a chunk of rows must be a sequence");
        Py_DECREF(next);
        s->pos = 0;
        if (s->chunk == NULL) {
            Stream_close_failing(s);
            return NULL;
        }
    }
}

static PyObject *
Stream_close(Stream *s, PyObject *Py_UNUSED(ignored))
{
    if (Stream_close_chunks(s) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* A stream dropped before its end closes its chunks, as a generator's ``finally`` does. */
static void
Stream_finalize(Stream *s)
{
    if (s->chunks == NULL) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (Stream_close_chunks(s) < 0) {
        PyErr_WriteUnraisable((PyObject *)s);
    }
    PyErr_Restore(type, value, tb);
}

static int
Stream_traverse(Stream *s, visitproc visit, void *arg)
{
    Py_VISIT(s->h);
    Py_VISIT(s->chunks);
    Py_VISIT(s->chunk);
    Py_VISIT(s->token);
    return 0;
}

static int
Stream_clear(Stream *s)
{
    Py_CLEAR(s->h);
    Py_CLEAR(s->chunks);
    Py_CLEAR(s->chunk);
    Py_CLEAR(s->token);
    return 0;
}

static void
Stream_dealloc(Stream *s)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)s) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(s);
    Stream_clear(s);
    PyObject_GC_Del(s);
}

static PyMethodDef Stream_methods[] = {
    {"close", (PyCFunction)Stream_close, METH_NOARGS,
     "close() -> None: stop early; the chunks' iterator is closed (the query ends)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Stream_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "core._hydrate.Stream",
    .tp_basicsize = sizeof(Stream),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The objects of a stream of row chunks, one at a time (Hydrator.stream).",
    .tp_dealloc = (destructor)Stream_dealloc,
    .tp_finalize = (destructor)Stream_finalize,
    .tp_traverse = (traverseproc)Stream_traverse,
    .tp_clear = (inquiry)Stream_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Stream_next,
    .tp_methods = Stream_methods,
};

/* -- module --------------------------------------------------------------------------- */

static struct PyModuleDef hydrate_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "core._hydrate",
    .m_doc = "Rows -> plain objects in C: the optional accelerator of core.codec.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__hydrate(void)
{
    if (PyType_Ready(&Hydrator_Type) < 0 || PyType_Ready(&Stream_Type) < 0) {
        return NULL;
    }
    str_close = PyUnicode_InternFromString("close");
    if (str_close == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&hydrate_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Hydrator", (PyObject *)&Hydrator_Type) < 0 ||
        PyModule_AddObjectRef(m, "Stream", (PyObject *)&Stream_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
