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
   ``use_dict``: values are stored as ``__dict__[name] = v`` stores them, as the generated
   code does. On CPython 3.11 (compiled for no other version, nor for debug builds) a class
   whose shared keys hold every name (and the session attribute) has its objects' values
   written straight into their inline values (``hydrate_inline``): what
   ``object.__setattr__`` stores, insertion order included, without its type and key lookup
   per field (~185 instructions a field), or with ``use_dict`` what ``__dict__[name] = v``
   stores (the first object's ``__dict__`` puts the names into the shared keys:
   ``dict_store_all``); any guard failing, the object takes the public path.
   Everything else uses the public C API.

   - ``chunk_refs(rows, token, keys, refs)``: ``chunk`` with references resolved by the
     caller's resolvers (an eager load's level, whose owners are handed over).
   - Module functions of an eager load (``core.loaders``, ``core.collection``): ``group``,
     ``by_key``, ``link_groups`` (items grouped by owner), ``pending`` (owners still to
     load), ``items_of`` (the next level) and ``install`` (the collections on their owners).

   Callers: ``core.codec``, ``core.loaders``, ``core.collection``. What it leaves out:
   resolving a reference's key to an object (a session's load stores bare keys, which is a
   converter here; ``chunk_refs`` calls the caller's resolver once per key; an untracked
   stream of an entity with references stays in the generated code), the per-chunk decisions
   of a load (whether the keys ascend is asked of ``ascending``; the identity map's update),
   collections put together with staged work (``Session._install_collection``), and the
   error's wording (``on_error`` is ``EntityCodec._row_failed``). Without this module (no compiler, or ``ORMCLI_NO_SPEEDUPS=1``)
   ``core.codec`` runs its generated Python loops, which make the same objects. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The inline-values store (CPython 3.11 only, not on debug builds): see ``inline_values``. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && !defined(Py_DEBUG) && \
    !defined(Py_TRACE_REFS) && !defined(Py_LIMITED_API)
#define INLINE_VALUES 1
#define Py_BUILD_CORE 1
#include "internal/pycore_dict.h" /* PyDictKeysObject, PyDictValues, the insertion order */
#undef Py_BUILD_CORE
#else
#define INLINE_VALUES 0
#endif

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
#if INLINE_VALUES
    int can_inline;            /* the class may keep these values inline (managed dict) */
    PyDictKeysObject *ix_keys; /* the shared keys ``ix`` indexes; NULL: none (yet) */
    unsigned int ix_version;   /* the class's version tag when ``ix`` was made */
    PyDictKeysObject *tried_keys; /* the keys, length and tag of the last failed attempt */
    Py_ssize_t tried_len;
    unsigned int tried_version;
    uint8_t *ix;               /* each name's index in the shared keys, then the attribute's */
#endif
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
#if INLINE_VALUES
static int inline_ok; /* the module's self-check (``probe_layout``) found 3.11's layout */
#endif

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
#if INLINE_VALUES
    uint8_t *ix = PyMem_New(uint8_t, n + 1);
    if (ix == NULL) {
        Py_DECREF(empty);
        PyMem_Free(pos);
        PyMem_Free(keyidx);
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(self->ix);
    self->ix = ix;
    self->ix_keys = NULL;
    self->tried_keys = NULL;
    /* n names and the attribute, all in the shared keys (at most SHARED_KEYS_MAX_SIZE). */
    self->can_inline = inline_ok && n + 1 <= SHARED_KEYS_MAX_SIZE &&
                       PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_MANAGED_DICT) &&
                       PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_HEAPTYPE) &&
                       PyType_IS_GC((PyTypeObject *)cls) &&
                       ((PyTypeObject *)cls)->tp_itemsize == 0 &&
                       ((PyTypeObject *)cls)->tp_alloc == PyType_GenericAlloc;
#endif
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
#if INLINE_VALUES
    self->ix_keys = NULL;
    self->tried_keys = NULL;
    self->can_inline = 0;
#endif
    return 0;
}

static void
Hydrator_dealloc(Hydrator *self)
{
    PyObject_GC_UnTrack(self);
    Hydrator_clear(self);
    PyMem_Free(self->pos);
    PyMem_Free(self->key);
#if INLINE_VALUES
    PyMem_Free(self->ix);
#endif
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

#if INLINE_VALUES
/* -- CPython 3.11's inline values ------------------------------------------------------

   An instance of a class with a managed dict (``Py_TPFLAGS_MANAGED_DICT``) is made by
   ``object.__new__`` with an array of values (``PyDictValues``) in its pre-header, indexed as
   the class's shared keys (``ht_cached_keys``), its ``__dict__`` pointer NULL; the bytes
   before the array hold the insertion order (``_PyDictValues_AddToInsertionOrder``).
   ``object.__setattr__`` (``_PyObject_StoreInstanceAttribute``) finds a name's index in the
   shared keys and stores into that slot. Here the indices are found once (``resolve``) and
   the values written straight into the slots, exactly as that store does for a name the keys
   hold. Guards, any failing giving the public path for that object: the class's shared keys
   are the ones indexed and its version tag the one seen when no name had a data descriptor
   (a change to the class or a base clears the tag); the new object has values and no dict,
   an empty insertion order, and room for it. Nothing runs between the checks and the stores
   (values are converted before the object is made), so no code can see a half-made object.
   Every index is below the keys' entry count, which no object's array is shorter than
   (``init_inline_values`` sizes it entries + usable, a sum that never grows: the invariant
   ``_PyObject_StoreInstanceAttribute`` relies on too). The layout is checked once at import
   on a probe class (``probe_layout``). Not compiled for any other version or for debug
   builds. */

#define VALUES_PTR(obj) (((PyDictValues **)(obj)) - 4) /* _PyObject_ValuesPointer (3.11) */
#define DICT_PTR(obj) (((PyObject **)(obj)) - 3)       /* _PyObject_ManagedDictPointer */

/* The index of ``name`` among the first ``nentries`` entries of split ``keys``, or -1. No code
   runs (exact str compared with str). */
static Py_ssize_t
keys_index(PyDictKeysObject *keys, PyObject *name)
{
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        if (entries[i].me_key == name) {
            return i;
        }
    }
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        PyObject *k = entries[i].me_key;
        if (k != NULL && PyUnicode_CheckExact(k) && PyUnicode_Compare(k, name) == 0) {
            return i;
        }
    }
    return -1;
}

/* Index every name (and the attribute) in the class's shared ``keys``: 0, or -1 (no error
   set) where one is missing, a name has a data descriptor, or the class has no version tag.
   A failed attempt is not repeated until the keys grow or the class changes. */
static int
resolve(Hydrator *h, PyDictKeysObject *keys)
{
    PyTypeObject *tp = h->cls;
    if (keys == h->tried_keys && keys->dk_nentries == h->tried_len &&
        tp->tp_version_tag == h->tried_version &&
        PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) {
        return -1;
    }
    h->ix_keys = NULL;
    h->tried_keys = keys;
    h->tried_len = keys->dk_nentries;
    h->tried_version = 0;
    if (keys->dk_kind != DICT_KEYS_SPLIT || keys->dk_nentries > SHARED_KEYS_MAX_SIZE) {
        goto fail;
    }
    Py_ssize_t n = h->n;
    uint64_t seen = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        PyObject *name = i < n ? PyTuple_GET_ITEM(h->names, i) : h->attr;
        /* object.__setattr__ calls a data descriptor found on the class: the public path.
           With ``use_dict`` the store is ``__dict__[name] = v`` whatever the class has, which
           the slot of the name in the inline values is (``dict_store_all``). (The lookup
           also gives the class the version tag checked below.) */
        PyObject *descr = _PyType_Lookup(tp, name);
        if (!h->use_dict && descr != NULL && Py_TYPE(descr)->tp_descr_set != NULL) {
            goto fail;
        }
        Py_ssize_t k = keys_index(keys, name);
        if (k < 0 || k >= SHARED_KEYS_MAX_SIZE || (seen & ((uint64_t)1 << k))) {
            goto fail;
        }
        seen |= (uint64_t)1 << k;
        h->ix[i] = (uint8_t)k;
    }
    if (PyErr_Occurred() || !PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) {
        goto fail; /* (the lookups raise nothing; keep the rule if they did) */
    }
    h->ix_keys = keys;
    h->ix_version = tp->tp_version_tag;
    return 0;
fail:
    PyErr_Clear();
    h->tried_version = tp->tp_version_tag;
    return -1;
}

/* The inline values of a new ``obj`` of ``h->cls`` to write all n+1 slots into, or NULL (no
   error set): the public path. */
static PyDictValues *
inline_values(Hydrator *h, PyObject *obj)
{
    PyTypeObject *tp = h->cls;
    if (Py_TYPE(obj) != tp) {
        return NULL;
    }
    PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
    if (keys == NULL) {
        return NULL;
    }
    if (keys != h->ix_keys || tp->tp_version_tag != h->ix_version ||
        !PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) {
        if (resolve(h, keys) < 0) {
            return NULL;
        }
    }
    PyDictValues *values = *VALUES_PTR(obj);
    if (values == NULL || *DICT_PTR(obj) != NULL) {
        return NULL;
    }
    uint8_t *bytes = (uint8_t *)values;
    /* Empty order; the prefix (bytes[-1]) holds its size byte and n+1 order bytes. */
    if (bytes[-2] != 0 || (Py_ssize_t)bytes[-1] < h->n + 3) {
        return NULL;
    }
    return values;
}

/* Store ``value`` (a reference taken over) into the empty slot ``ix``, as
   ``_PyObject_StoreInstanceAttribute`` does. */
static inline void
inline_store(PyDictValues *values, uint8_t ix, PyObject *value)
{
    assert(values->values[ix] == NULL);
    values->values[ix] = value;
    _PyDictValues_AddToInsertionOrder(values, ix);
}

/* ``use_dict``'s public path for the converted ``vals`` (borrowed) and ``token``: each stored
   into the object's ``__dict__`` (made now, sharing the class's keys: a name new to those keys
   enters them while they have room, so the next object takes the inline values); -1 on error.
   A class with a data descriptor under a name (a reference, a JSON field) is ``use_dict``:
   the inline slot of a name is what ``__dict__[name] = v`` writes, descriptor or not. */
static int
dict_store_all(Hydrator *h, PyObject *obj, PyObject **vals, PyObject *token)
{
    PyObject *dict = PyObject_GenericGetDict(obj, NULL);
    if (dict == NULL) {
        return -1;
    }
    PyObject **names = &PyTuple_GET_ITEM(h->names, 0);
    int r = 0;
    for (Py_ssize_t i = 0; i < h->n && r == 0; i++) {
        r = PyDict_SetItem(dict, names[i], vals[i]);
    }
    if (r == 0) {
        r = PyDict_SetItem(dict, h->attr, token);
    }
    Py_DECREF(dict);
    return r;
}

/* The object of a row through the inline values where they take it (``can_inline``): every
   value converted first (new references in ``vals``), then the object, then the stores. */
static PyObject *
hydrate_inline(Hydrator *h, PyObject *row, PyObject **values, PyObject *token, PyObject **pre)
{
    Py_ssize_t n = h->n;
    Py_ssize_t *pos = h->pos;
    PyObject *vals[SHARED_KEYS_MAX_SIZE];
    PyObject **convs = &PyTuple_GET_ITEM(h->convs, 0);
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        PyObject *v = values[pos[i]];
        if (pre != NULL && pre[i] != NULL) {
            v = pre[i];
        }
        else if (v != Py_None && convs[i] != Py_None) {
            v = PyObject_CallOneArg(convs[i], v);
            if (v == NULL) {
                while (i > 0) {
                    Py_DECREF(vals[--i]);
                }
                row_failed(h, row);
                return NULL;
            }
            vals[i] = v;
            continue;
        }
        Py_INCREF(v);
        vals[i] = v;
    }
    PyObject *obj = PyBaseObject_Type.tp_new(h->cls, h->empty, NULL);
    if (obj != NULL) {
        PyDictValues *slots = inline_values(h, obj);
        if (slots != NULL) {
            for (i = 0; i < n; i++) {
                inline_store(slots, h->ix[i], vals[i]);
            }
            Py_INCREF(token);
            inline_store(slots, h->ix[n], token);
            return obj;
        }
        if (h->use_dict) {
            if (dict_store_all(h, obj, vals, token) < 0) {
                Py_CLEAR(obj);
            }
        }
        else {
            PyObject **names = &PyTuple_GET_ITEM(h->names, 0);
            for (i = 0; i < n; i++) {
                if (PyObject_GenericSetAttr(obj, names[i], vals[i]) < 0) {
                    break;
                }
            }
            if (i == n && PyObject_GenericSetAttr(obj, h->attr, token) < 0) {
                Py_CLEAR(obj);
            }
            else if (i < n) {
                Py_CLEAR(obj);
            }
        }
    }
    for (i = 0; i < n; i++) {
        Py_DECREF(vals[i]);
    }
    return obj;
}

/* Whether the module's view of 3.11's layout holds, on a probe class: 1, 0, or -1 with an
   error set. */
static int
probe_layout(void)
{
    int ok = 0;
    PyObject *cls = NULL, *obj = NULL, *a = NULL, *b = NULL;
    PyObject *ns = PyDict_New();
    if (ns == NULL) {
        return -1;
    }
    cls = PyObject_CallFunction((PyObject *)&PyType_Type, "s()O", "_probe", ns);
    Py_DECREF(ns);
    if (cls == NULL) {
        return -1;
    }
    obj = PyObject_CallNoArgs(cls);
    a = PyUnicode_InternFromString("_probe_a");
    b = PyUnicode_InternFromString("_probe_b");
    if (obj == NULL || a == NULL || b == NULL || PyObject_SetAttr(obj, b, a) < 0 ||
        PyObject_SetAttr(obj, a, b) < 0) {
        ok = -1;
        goto done;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
    if (!PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT) || keys == NULL ||
        keys->dk_kind != DICT_KEYS_SPLIT || keys->dk_nentries != 2 ||
        keys_index(keys, b) != 0 || keys_index(keys, a) != 1) {
        goto done;
    }
    PyDictValues *values = *VALUES_PTR(obj);
    if (values == NULL || *DICT_PTR(obj) != NULL || values->values[0] != a ||
        values->values[1] != b) {
        goto done;
    }
    uint8_t *bytes = (uint8_t *)values;
    if (bytes[-2] != 2 || bytes[-3] != 0 || bytes[-4] != 1 || bytes[-1] < 4 ||
        bytes[-1] % sizeof(PyObject *) != 0) {
        goto done;
    }
    /* The materialised __dict__ sees the two, in order. */
    PyObject *d = PyObject_GenericGetDict(obj, NULL);
    if (d == NULL) {
        ok = -1;
        goto done;
    }
    ok = PyDict_GET_SIZE(d) == 2 && PyDict_GetItemWithError(d, b) == a &&
         PyDict_GetItemWithError(d, a) == b;
    Py_DECREF(d);
done:
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(obj);
    Py_DECREF(cls);
    return ok;
}
#endif

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
#if INLINE_VALUES
    if (h->can_inline) {
        return hydrate_inline(h, row, values, token, pre);
    }
#endif
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

/* fresh(rows, token) -> (objects, keys): ``chunk`` of rows none of which is mapped yet (a
   fresh session's load), both lists made at their size and filled in place, and only the key
   names' converted values released per row (S2r, 10,000 rows: ~100 instructions a row less
   than ``chunk``'s appends). */
static PyObject *
Hydrator_fresh(Hydrator *self, PyObject *args)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    PyObject *rows, *token;
    if (!PyArg_ParseTuple(args, "OO:fresh", &rows, &token)) {
        return NULL;
    }
    if (self->nkey < 1) {
        PyErr_SetString(PyExc_TypeError, "Hydrator: no key names to load by");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(rows, "rows must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject *small[16];
    PyObject **pre = self->n <= 16 ? small : PyMem_New(PyObject *, self->n);
    if (pre == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    memset(pre, 0, sizeof(PyObject *) * self->n);
    PyObject *objs = PyList_New(count); /* (items NULL until set: list_dealloc skips them) */
    PyObject *keys = PyList_New(count);
    PyObject *result = NULL;
    if (objs == NULL || keys == NULL) {
        goto done;
    }
    for (Py_ssize_t r = 0; r < count; r++) {
        /* (``seq`` is a list or tuple of our own making or the caller's: rows held by it) */
        PyObject *row = PySequence_Fast_GET_ITEM(seq, r);
        PyObject *fast;
        PyObject **values = row_items(self, row, &fast);
        if (values == NULL) {
            goto done;
        }
        PyObject *key = row_key(self, row, values, pre);
        PyObject *obj = key == NULL ? NULL : hydrate(self, row, values, token, pre);
        Py_XDECREF(fast);
        for (Py_ssize_t j = 0; j < self->nkey; j++) {
            Py_CLEAR(pre[self->key[j]]); /* (row_key set only these) */
        }
        if (obj == NULL) {
            Py_XDECREF(key);
            goto done;
        }
        PyList_SET_ITEM(objs, r, obj);
        PyList_SET_ITEM(keys, r, key);
    }
    result = PyTuple_Pack(2, objs, keys);
done:
    release(pre, self->n);
    if (pre != small) {
        PyMem_Free(pre);
    }
    Py_XDECREF(objs);
    Py_XDECREF(keys);
    Py_DECREF(seq);
    return result;
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

/* -- an eager load's rows with their references resolved (core.loaders) ----------------

   ``chunk_refs(rows, token, keys, refs)``: ``chunk``, each reference among the names stored
   as the object ``resolve`` gives for it rather than as its bare key (``EntityCodec.merge``
   without ``bare``: a loader hands over the referenced objects, ``Source.materialize``).
   ``refs``: one item a name, None (stored as ``chunk`` stores it) or ``(cache, resolver)``: a
   value that is not None becomes ``resolver(value)`` (which converts the key and resolves it:
   ``EntityCodec._ref_resolver``), asked once per value where ``cache`` is a dict (the
   answers kept there, shared with the generated loop of the same load: ``rc<i>``), every
   time where it is None. The references of a row are resolved before its object is made, so
   no code sees a half-made object. */

/* Each reference of a row into ``pre`` (new references; a slot the key filled is replaced):
   0, or -1 with the error set (a resolver's through ``on_error``, with ``row``). */
static int
resolve_row_refs(Hydrator *h, PyObject *row, PyObject **values, PyObject *refs, PyObject **pre)
{
    for (Py_ssize_t i = 0; i < h->n; i++) {
        PyObject *ref = PyTuple_GET_ITEM(refs, i);
        if (ref == Py_None) {
            continue;
        }
        PyObject *v = values[h->pos[i]];
        PyObject *x = NULL;
        if (v == Py_None) {
            x = Py_NewRef(Py_None);
        }
        else {
            PyObject *cache = PyTuple_GET_ITEM(ref, 0);
            if (cache != Py_None) {
                x = PyDict_GetItemWithError(cache, v);
                if (x == Py_None) { /* (the generated loop asks again for None: so here) */
                    x = NULL;
                }
                else if (x != NULL) {
                    Py_INCREF(x);
                }
                else if (PyErr_Occurred()) {
                    return -1;
                }
            }
            if (x == NULL) {
                x = PyObject_CallOneArg(PyTuple_GET_ITEM(ref, 1), v);
                if (x == NULL) {
                    row_failed(h, row);
                    return -1;
                }
                if (cache != Py_None && PyDict_SetItem(cache, v, x) < 0) {
                    Py_DECREF(x);
                    return -1;
                }
            }
        }
        Py_XSETREF(pre[i], x);
    }
    return 0;
}

static PyObject *
Hydrator_chunk_refs(Hydrator *self, PyObject *args)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    PyObject *rows, *token, *keys, *refs;
    if (!PyArg_ParseTuple(args, "OOO!O!:chunk_refs", &rows, &token, &PyList_Type, &keys,
                          &PyTuple_Type, &refs)) {
        return NULL;
    }
    if (self->nkey < 1) {
        PyErr_SetString(PyExc_TypeError, "Hydrator: no key names to load by");
        return NULL;
    }
    if (PyTuple_GET_SIZE(refs) != self->n) {
        PyErr_SetString(PyExc_ValueError, "Hydrator.chunk_refs: one item of refs a name");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < self->n; i++) {
        PyObject *ref = PyTuple_GET_ITEM(refs, i);
        if (ref != Py_None &&
            (!PyTuple_CheckExact(ref) || PyTuple_GET_SIZE(ref) != 2 ||
             (PyTuple_GET_ITEM(ref, 0) != Py_None && !PyDict_CheckExact(PyTuple_GET_ITEM(ref, 0))) ||
             !PyCallable_Check(PyTuple_GET_ITEM(ref, 1)))) {
            PyErr_SetString(PyExc_TypeError,
                            "Hydrator.chunk_refs: a ref is None or (dict or None, callable)");
            return NULL;
        }
    }
    PyObject *seq = PySequence_Fast(rows, "rows must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    PyObject *small[16];
    PyObject **pre = self->n <= 16 ? small : PyMem_New(PyObject *, self->n);
    if (out == NULL || pre == NULL) {
        Py_XDECREF(out);
        Py_DECREF(seq);
        if (pre == NULL) {
            PyErr_NoMemory();
        }
        return NULL;
    }
    memset(pre, 0, sizeof(PyObject *) * self->n);
    int ok = 0;
    /* (rows: a list or tuple of PySequence_Fast, which no code of ours changes) */
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t r = 0; r < count; r++) {
        /* (a resolver runs code: the row is held, and a list row read from a tuple of it) */
        PyObject *row = PySequence_Fast_GET_ITEM(seq, r);
        row = PyList_CheckExact(row) ? PyList_AsTuple(row) : Py_NewRef(row);
        if (row == NULL) {
            goto done;
        }
        PyObject *fast;
        PyObject **values = row_items(self, row, &fast);
        PyObject *key = values == NULL ? NULL : row_key(self, row, values, pre);
        PyObject *obj = NULL;
        if (key != NULL && resolve_row_refs(self, row, values, refs, pre) == 0) {
            obj = hydrate(self, row, values, token, pre);
        }
        int failed = obj == NULL || PyList_Append(keys, key) < 0 || PyList_Append(out, obj) < 0;
        Py_XDECREF(obj);
        Py_XDECREF(key);
        Py_XDECREF(fast);
        Py_DECREF(row);
        release(pre, self->n);
        if (failed) {
            goto done;
        }
        count = PySequence_Fast_GET_SIZE(seq);
    }
    ok = 1;
done:
    if (pre != small) {
        PyMem_Free(pre);
    }
    Py_DECREF(seq);
    if (!ok) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
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
    {"fresh", (PyCFunction)Hydrator_fresh, METH_VARARGS,
     "fresh(rows, token) -> (objects, keys): chunk's objects and keys, as two lists."},
    {"merge", (PyCFunction)Hydrator_merge, METH_VARARGS,
     "merge(rows, token, mapping, out) -> None: mapped objects, new ones mapped, into out."},
    {"chunk_refs", (PyCFunction)Hydrator_chunk_refs, METH_VARARGS,
     "chunk_refs(rows, token, keys, refs) -> chunk's objects, references resolved (refs)."},
    {NULL, NULL, 0, NULL},
};

/* ``indexed``: whether the last object was written through the inline values' indices. */
static PyObject *
Hydrator_get_indexed(Hydrator *self, void *Py_UNUSED(closure))
{
#if INLINE_VALUES
    return PyBool_FromLong(self->can_inline && self->ix_keys != NULL);
#else
    return PyBool_FromLong(0);
#endif
}

static PyGetSetDef Hydrator_getset[] = {
    {"indexed", (getter)Hydrator_get_indexed, NULL,
     "Whether objects are written straight into CPython 3.11's inline values.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
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
    .tp_getset = Hydrator_getset,
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

static PyMemberDef Stream_members[] = {
    {"hydrator", T_OBJECT, offsetof(Stream, h), READONLY, "The Hydrator making the objects."},
    {NULL, 0, 0, 0, NULL},
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
    .tp_members = Stream_members,
};

/* -- ascending keys (a session's load) ------------------------------------------------- */

/* ascending(before, keys) -> bool: whether the list ``keys`` is strictly ascending and, when
   the list ``before`` is not empty, its last key is below the first of ``keys``: what
   ``EntityCodec.merge`` asks of each chunk's keys to defer the identity map (``<`` as Python
   compares, an exception raised as it is), without a call through ``operator.lt`` a key. */
static PyObject *
ascending(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "ascending(before, keys) takes two lists");
        return NULL;
    }
    PyObject *before = args[0], *keys = args[1];
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (n == 0) {
        Py_RETURN_TRUE;
    }
    PyObject *prev = PyList_GET_SIZE(before) > 0
                         ? PyList_GET_ITEM(before, PyList_GET_SIZE(before) - 1)
                         : NULL;
    Py_ssize_t i = prev == NULL ? 1 : 0;
    if (prev == NULL) {
        prev = PyList_GET_ITEM(keys, 0);
    }
    Py_INCREF(prev);
    int ok = 1;
    /* Exact ints that fit a C long compare as C longs (what int's ``<`` gives); anything else
       through ``<`` itself. (The list's size is read each turn: a comparison may run code.) */
    int overflow = 1;
    long last = PyLong_CheckExact(prev) ? PyLong_AsLongAndOverflow(prev, &overflow) : 0;
    for (; ok == 1 && i < PyList_GET_SIZE(keys); i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        Py_INCREF(key);
        int was_long = !overflow;
        overflow = 1;
        long v = PyLong_CheckExact(key) ? PyLong_AsLongAndOverflow(key, &overflow) : 0;
        if (was_long && !overflow) {
            ok = last < v;
        }
        else {
            ok = PyObject_RichCompareBool(prev, key, Py_LT);
        }
        last = v;
        Py_SETREF(prev, key);
    }
    Py_DECREF(prev);
    if (ok < 0) {
        return NULL;
    }
    return PyBool_FromLong(ok);
}

/* -- an eager load's collections: grouping and installing (core.loaders, core.collection) --

   ``group(groups, keys, objs)``: each object appended to the list ``groups`` holds under its
   key (a new list where there is none), as ``core.loaders._group`` does. ``install(kind,
   relation, name, owners, groups)``: for each ``key, owner`` of ``owners`` (a dict), a new
   collection ``kind(groups.get(key, []))`` holding the loaded items, its ``_owner``,
   ``_relation`` and ``_linked`` (None: links made on first need) set, stored as
   ``owner.__dict__[name]``: ``core.collection.install_loaded``'s loop without pivot objects.
   A group that only ``groups`` holds (a list) gives its items to a list collection whose class
   makes its instances as list does: the group is left empty, the collection the same as
   ``kind(items)`` (the group's items, in order), without a copy.
   The slots are written through their member descriptors' offsets where the class is the
   one the descriptors belong to and has no ``__setattr__`` of its own (what
   ``object.__setattr__`` does for a slot), else through ``PyObject_SetAttr``. */

static PyObject *str_append, *str_dict, *str_owner, *str_relation, *str_linked;

/* ``groups[key].append(obj)``, a one-item list made when ``key`` has no group yet (or None);
   a group that is not an exact list is appended to through its own ``append``. The caller
   holds ``key`` and ``obj``. 0, or -1 with an exception set. */
static int
group_add(PyObject *groups, PyObject *key, PyObject *obj)
{
    PyObject *group = PyDict_GetItemWithError(groups, key);
    if (group == NULL || group == Py_None) {
        if (PyErr_Occurred()) {
            return -1;
        }
        PyObject *list = PyList_New(1);
        if (list == NULL) {
            return -1;
        }
        PyList_SET_ITEM(list, 0, Py_NewRef(obj));
        int r = PyDict_SetItem(groups, key, list);
        Py_DECREF(list);
        return r;
    }
    if (PyList_CheckExact(group)) {
        return PyList_Append(group, obj);
    }
    Py_INCREF(group);
    PyObject *res = PyObject_CallMethodOneArg(group, str_append, obj);
    Py_DECREF(group);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

static PyObject *
eager_group(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "group(groups, keys, objs) takes 3 arguments");
        return NULL;
    }
    PyObject *groups = args[0];
    if (!PyDict_Check(groups)) {
        PyErr_SetString(PyExc_TypeError, "group: groups must be a dict");
        return NULL;
    }
    PyObject *keys = PySequence_Fast(args[1], "group: keys must be a sequence");
    if (keys == NULL) {
        return NULL;
    }
    PyObject *objs = PySequence_Fast(args[2], "group: objs must be a sequence");
    if (objs == NULL) {
        Py_DECREF(keys);
        return NULL;
    }
    int ok = 0;
    for (Py_ssize_t i = 0;; i++) {
        /* (lengths read each time: a key's __eq__ may run code) */
        Py_ssize_t nk = PySequence_Fast_GET_SIZE(keys), no = PySequence_Fast_GET_SIZE(objs);
        if (i >= nk || i >= no) {
            if (nk != no) {
                PyErr_SetString(PyExc_ValueError, "group: keys and objects differ in length");
                goto done;
            }
            break;
        }
        PyObject *key = Py_NewRef(PySequence_Fast_GET_ITEM(keys, i));
        PyObject *obj = Py_NewRef(PySequence_Fast_GET_ITEM(objs, i));
        int r = group_add(groups, key, obj);
        Py_DECREF(key);
        Py_DECREF(obj);
        if (r < 0) {
            goto done;
        }
    }
    ok = 1;
done:
    Py_DECREF(keys);
    Py_DECREF(objs);
    if (!ok) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The offset of ``kind``'s writable object slot ``name`` (a member descriptor of ``kind``
   itself), or 0: write it through ``PyObject_SetAttr``. */
static Py_ssize_t
slot_offset(PyTypeObject *kind, PyObject *name)
{
    PyObject *descr = _PyType_Lookup(kind, name);
    if (descr == NULL || Py_TYPE(descr) != &PyMemberDescr_Type) {
        return 0;
    }
    PyMemberDescrObject *member = (PyMemberDescrObject *)descr;
    PyMemberDef *def = member->d_member;
    if (PyDescr_TYPE(member) != kind || def->type != T_OBJECT_EX || (def->flags & READONLY) ||
        def->offset <= 0) {
        return 0;
    }
    return def->offset;
}

/* ``obj.<name> = value`` for a slot at ``offset`` (0: the public path); 0 or -1. */
static inline int
set_slot(PyObject *obj, Py_ssize_t offset, PyObject *name, PyObject *value)
{
    if (offset == 0) {
        return PyObject_SetAttr(obj, name, value);
    }
    PyObject **slot = (PyObject **)((char *)obj + offset);
    Py_XSETREF(*slot, Py_NewRef(value));
    return 0;
}

static PyObject *
eager_install(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "install(kind, relation, name, owners, groups) takes 5 arguments");
        return NULL;
    }
    PyObject *kind = args[0], *rel = args[1], *name = args[2], *owners = args[3];
    PyObject *groups = args[4];
    if (!PyType_Check(kind) || !PyDict_Check(owners) || !PyDict_Check(groups)) {
        PyErr_SetString(PyExc_TypeError, "install: kind must be a type, owners and groups dicts");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)kind;
    /* Slots written directly only where object.__setattr__ is the class's own store. */
    Py_ssize_t at_owner = 0, at_rel = 0, at_linked = 0;
    if (tp->tp_setattro == PyObject_GenericSetAttr) {
        at_owner = slot_offset(tp, str_owner);
        at_rel = slot_offset(tp, str_relation);
        at_linked = slot_offset(tp, str_linked);
    }
    /* ``kind(items)`` is a new list of the items where the class is a list's that makes and
       fills its instances as list does (no __new__ or __init__ of its own). */
    int steal = PyType_IsSubtype(tp, &PyList_Type) && tp->tp_new == PyList_Type.tp_new &&
                tp->tp_init == PyList_Type.tp_init && tp->tp_alloc == PyType_GenericAlloc;
    PyObject *none = PyList_New(0);
    if (none == NULL) {
        return NULL;
    }
    Py_INCREF(owners);
    Py_ssize_t size = PyDict_GET_SIZE(owners), pos = 0;
    PyObject *key, *owner;
    int ok = 0;
    while (PyDict_Next(owners, &pos, &key, &owner)) {
        Py_INCREF(key);
        Py_INCREF(owner);
        PyObject *coll = NULL, *dict = NULL;
        int r = -1;
        PyObject *items = PyDict_GetItemWithError(groups, key);
        if (items != NULL || !PyErr_Occurred()) {
            int solo = items != NULL && steal && PyList_CheckExact(items) && Py_REFCNT(items) == 1;
            items = Py_NewRef(items != NULL ? items : none); /* (held: allocating may run code) */
            if (solo) {
                /* A group only ``groups`` holds: its items move into the new collection (still
                   so once it is made, else it is copied). */
                coll = tp->tp_alloc(tp, 0);
                if (coll != NULL && Py_REFCNT(items) == 2 && Py_SIZE(coll) == 0) {
                    PyListObject *from = (PyListObject *)items, *to = (PyListObject *)coll;
                    to->ob_item = from->ob_item;
                    to->allocated = from->allocated;
                    Py_SET_SIZE(to, Py_SIZE(from));
                    from->ob_item = NULL;
                    from->allocated = 0;
                    Py_SET_SIZE(from, 0);
                }
                else if (coll != NULL) {
                    Py_SETREF(coll, PyObject_CallOneArg(kind, items));
                }
            }
            else {
                coll = PyObject_CallOneArg(kind, items);
            }
            Py_DECREF(items);
        }
        /* (``kind`` is the class of what it made, else every slot the public way) */
        int direct = coll != NULL && Py_TYPE(coll) == tp;
        if (coll != NULL &&
            set_slot(coll, direct ? at_owner : 0, str_owner, owner) == 0 &&
            set_slot(coll, direct ? at_rel : 0, str_relation, rel) == 0 &&
            set_slot(coll, direct ? at_linked : 0, str_linked, Py_None) == 0 &&
            (dict = PyObject_GetAttr(owner, str_dict)) != NULL) {
            r = PyObject_SetItem(dict, name, coll);
        }
        Py_XDECREF(dict);
        Py_XDECREF(coll);
        Py_DECREF(key);
        Py_DECREF(owner);
        if (r < 0) {
            goto done;
        }
        if (PyDict_GET_SIZE(owners) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            goto done;
        }
    }
    ok = 1;
done:
    Py_DECREF(owners);
    Py_DECREF(none);
    if (!ok) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ``owner.__dict__`` (a new reference), or NULL with the error set. */
static inline PyObject *
dict_of(PyObject *obj)
{
    return PyObject_GetAttr(obj, str_dict);
}

/* ``d.get(name)`` (borrowed from a dict; a new reference in ``*own`` otherwise, to release),
   NULL without an error when missing, NULL with an error set on failure. */
static PyObject *
dict_get(PyObject *d, PyObject *name, PyObject **own)
{
    *own = NULL;
    if (PyDict_Check(d)) {
        return PyDict_GetItemWithError(d, name);
    }
    *own = PyObject_CallMethod(d, "get", "O", name);
    if (*own == Py_None) {
        Py_CLEAR(*own);
    }
    return *own;
}

/* ``key == 0``: 1, 0, or -1 with the error set. */
static inline int
equals_zero(PyObject *key, PyObject *zero)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyLong_CheckExact(key)) { /* (no digits: 0, in the int layout up to 3.11) */
        return Py_SIZE(key) == 0;
    }
#endif
    return PyObject_RichCompareBool(key, zero, Py_EQ);
}

/* pending(owners, name, pk_name, auto) -> {key: owner} of the owners (a sequence) whose
   ``__dict__`` lacks ``name`` and holds a key under ``pk_name`` that is not None (nor 0 with
   ``auto``): ``core.loaders.load_collections``' owners still to load, in order. */
static PyObject *
eager_pending(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "pending(owners, name, pk_name, auto) takes 4 arguments");
        return NULL;
    }
    PyObject *name = args[1], *pk_name = args[2];
    int autoinc = PyObject_IsTrue(args[3]);
    if (autoinc < 0) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "pending: owners must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    PyObject *out = PyDict_New();
    PyObject *zero = PyLong_FromLong(0);
    if (out == NULL || zero == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *o = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        PyObject *d = dict_of(o), *own_key = NULL;
        int r = -1, has = d == NULL ? -1 : PySequence_Contains(d, name);
        if (has == 0) {
            PyObject *key = dict_get(d, pk_name, &own_key);
            if (key == NULL) {
                r = PyErr_Occurred() ? -1 : 0;
            }
            else if (key == Py_None) {
                r = 0;
            }
            else {
                Py_INCREF(key);
                int is_zero = autoinc ? equals_zero(key, zero) : 0;
                r = is_zero < 0 ? -1 : is_zero ? 0 : PyDict_SetItem(out, key, o);
                Py_DECREF(key);
            }
        }
        else if (has > 0) {
            r = 0;
        }
        Py_XDECREF(own_key);
        Py_XDECREF(d);
        Py_DECREF(o);
        if (r < 0) {
            goto fail;
        }
    }
    Py_DECREF(zero);
    Py_DECREF(seq);
    return out;
fail:
    Py_XDECREF(zero);
    Py_XDECREF(out);
    Py_DECREF(seq);
    return NULL;
}

/* items_of(owners, name) -> every item of the owners' collections ``name`` (from each
   ``__dict__``; an owner without one has none), once each by identity, in the order first
   met: ``core.loaders.load_collections``' next level. The items seen are kept in an open
   addressing table of their addresses (each alive: the result holds it). */
static PyObject *
eager_items_of(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "items_of(owners, name) takes 2 arguments");
        return NULL;
    }
    PyObject *name = args[1];
    PyObject *seq = PySequence_Fast(args[0], "items_of: owners must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    size_t cap = 64, used = 0;
    PyObject **seen = PyMem_Calloc(cap, sizeof(PyObject *));
    if (out == NULL || seen == NULL) {
        if (seen == NULL) {
            PyErr_NoMemory();
        }
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *o = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        PyObject *d = dict_of(o), *own = NULL, *it = NULL;
        int r = d == NULL ? -1 : 0;
        PyObject *coll = d == NULL ? NULL : dict_get(d, name, &own);
        if (coll == NULL) {
            r = PyErr_Occurred() ? -1 : 0;
        }
        else {
            Py_INCREF(coll);
            it = PyObject_GetIter(coll);
            Py_DECREF(coll);
            r = it == NULL ? -1 : 0;
        }
        PyObject *item;
        while (it != NULL && (item = PyIter_Next(it)) != NULL) {
            if (2 * (used + 1) > cap) { /* grow: rehash every address */
                size_t ncap = cap * 2;
                PyObject **next = PyMem_Calloc(ncap, sizeof(PyObject *));
                if (next == NULL) {
                    Py_DECREF(item);
                    PyErr_NoMemory();
                    r = -1;
                    break;
                }
                for (size_t k = 0; k < cap; k++) {
                    if (seen[k] != NULL) {
                        size_t h = ((size_t)seen[k] >> 4) & (ncap - 1);
                        while (next[h] != NULL) {
                            h = (h + 1) & (ncap - 1);
                        }
                        next[h] = seen[k];
                    }
                }
                PyMem_Free(seen);
                seen = next;
                cap = ncap;
            }
            size_t h = ((size_t)item >> 4) & (cap - 1);
            while (seen[h] != NULL && seen[h] != item) {
                h = (h + 1) & (cap - 1);
            }
            if (seen[h] == NULL) {
                if (PyList_Append(out, item) < 0) {
                    Py_DECREF(item);
                    r = -1;
                    break;
                }
                seen[h] = item; /* (held by ``out``) */
                used++;
            }
            Py_DECREF(item);
        }
        if (r == 0 && PyErr_Occurred()) {
            r = -1;
        }
        Py_XDECREF(it);
        Py_XDECREF(own);
        Py_XDECREF(d);
        Py_DECREF(o);
        if (r < 0) {
            goto fail;
        }
    }
    PyMem_Free(seen);
    Py_DECREF(seq);
    return out;
fail:
    PyMem_Free(seen);
    Py_XDECREF(out);
    Py_DECREF(seq);
    return NULL;
}

/* ``row[at]`` of a row (borrowed; a row is a tuple or list, else NULL with an error set). */
static inline PyObject *
row_at(PyObject *row, Py_ssize_t at)
{
    if (!PyTuple_Check(row) && !PyList_Check(row)) {
        PyErr_SetString(PyExc_TypeError, "a row must be a tuple or a list");
        return NULL;
    }
    if (at < 0 || at >= Py_SIZE(row)) {
        PyErr_SetString(PyExc_IndexError, "a row is shorter than its columns");
        return NULL;
    }
    return PySequence_Fast_GET_ITEM(row, at);
}

/* by_key(rows, at) -> {row[at]: row} (the last row of a key, keys in the order first met):
   ``dict(zip(map(itemgetter(at), rows), rows))``, ``Source.through_pivot``'s rows by item. */
static PyObject *
eager_by_key(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "by_key(rows, at) takes 2 arguments");
        return NULL;
    }
    Py_ssize_t at = PyLong_AsSsize_t(args[1]);
    if (at == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "by_key: rows must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    PyObject *out = PyDict_New();
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *row = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        PyObject *key = row_at(row, at);
        int r = key == NULL ? -1 : PyDict_SetItem(out, key, row);
        Py_DECREF(row);
        if (r < 0) {
            Py_DECREF(out);
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    return out;
}

/* link_groups(groups, rows, owner_at, item_at, items) -> None: for each row, the item
   ``items[row[item_at]]`` (KeyError where missing) appended to the list ``groups`` holds
   under ``row[owner_at]`` (a new list where none): ``Source.through_pivot``'s grouping of
   items by owner (``_group`` of the owners' and the items' columns), in one pass. */
static PyObject *
eager_link_groups(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "link_groups(groups, rows, owner_at, item_at, items) takes 5 arguments");
        return NULL;
    }
    PyObject *groups = args[0], *items = args[4];
    if (!PyDict_Check(groups) || !PyDict_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "link_groups: groups and items must be dicts");
        return NULL;
    }
    Py_ssize_t owner_at = PyLong_AsSsize_t(args[2]);
    Py_ssize_t item_at = owner_at == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[3]);
    if (item_at == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[1], "link_groups: rows must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *row = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        int r = -1;
        PyObject *owner = row_at(row, owner_at);
        PyObject *ikey = owner == NULL ? NULL : row_at(row, item_at);
        PyObject *item = ikey == NULL ? NULL : PyDict_GetItemWithError(items, ikey);
        if (item == NULL) {
            if (ikey != NULL && !PyErr_Occurred()) {
                PyObject *t = PyTuple_Pack(1, ikey);
                if (t != NULL) {
                    PyErr_SetObject(PyExc_KeyError, t);
                    Py_DECREF(t);
                }
            }
        }
        else {
            Py_INCREF(item);
            Py_INCREF(owner);
            r = group_add(groups, owner, item);
            Py_DECREF(owner);
            Py_DECREF(item);
        }
        Py_DECREF(row);
        if (r < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"ascending", (PyCFunction)(void (*)(void))ascending, METH_FASTCALL,
     "ascending(before, keys) -> whether keys ascend strictly, after before's last key."},
    {"group", (PyCFunction)(void (*)(void))eager_group, METH_FASTCALL,
     "group(groups, keys, objs) -> None: each object appended to its key's list in groups."},
    {"install", (PyCFunction)(void (*)(void))eager_install, METH_FASTCALL,
     "install(kind, relation, name, owners, groups) -> None: loaded collections on owners."},
    {"pending", (PyCFunction)(void (*)(void))eager_pending, METH_FASTCALL,
     "pending(owners, name, pk_name, auto) -> {key: owner} of owners still to load name."},
    {"items_of", (PyCFunction)(void (*)(void))eager_items_of, METH_FASTCALL,
     "items_of(owners, name) -> the items of the owners' collections, once each."},
    {"by_key", (PyCFunction)(void (*)(void))eager_by_key, METH_FASTCALL,
     "by_key(rows, at) -> {row[at]: row}, the last row of each key."},
    {"link_groups", (PyCFunction)(void (*)(void))eager_link_groups, METH_FASTCALL,
     "link_groups(groups, rows, owner_at, item_at, items) -> None: items grouped by owner."},
    {NULL, NULL, 0, NULL},
};

/* -- module --------------------------------------------------------------------------- */

static struct PyModuleDef hydrate_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "core._hydrate",
    .m_doc = "Rows -> plain objects in C: the optional accelerator of core.codec.",
    .m_size = -1,
    .m_methods = module_methods,
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
    if ((str_append = PyUnicode_InternFromString("append")) == NULL ||
        (str_dict = PyUnicode_InternFromString("__dict__")) == NULL ||
        (str_owner = PyUnicode_InternFromString("_owner")) == NULL ||
        (str_relation = PyUnicode_InternFromString("_relation")) == NULL ||
        (str_linked = PyUnicode_InternFromString("_linked")) == NULL) {
        return NULL;
    }
#if INLINE_VALUES
    inline_ok = probe_layout();
    if (inline_ok < 0) {
        return NULL;
    }
#endif
    PyObject *m = PyModule_Create(&hydrate_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Hydrator", (PyObject *)&Hydrator_Type) < 0 ||
        PyModule_AddObjectRef(m, "Stream", (PyObject *)&Stream_Type) < 0 ||
#if INLINE_VALUES
        PyModule_AddObjectRef(m, "INLINE", inline_ok ? Py_True : Py_False) < 0) {
#else
        PyModule_AddObjectRef(m, "INLINE", Py_False) < 0) {
#endif
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
