/* core._track: the tracked assignment in C, the optional accelerator of core.entity's hook.

   Job: ``TrackedSetattr(fallback, plain, keys, trackers, attr, missing)``, installed by
   ``core.entity`` as an entity class's ``__setattr__`` in place of the generated Python hook
   (``fallback``, which it keeps and calls for everything but the fast path). A method
   descriptor (``Py_TPFLAGS_METHOD_DESCRIPTOR``): ``obj.name = value`` reaches it through the
   class's ``__setattr__`` slot with no bound method made.

   The fast path is the common assignment: ``name`` (an exact ``str``) is a field stored
   straight into ``__dict__`` (``plain``: no descriptor of its own, or a JSON field's) and not
   a primary-key field (``keys``: their changes are checked by the Python hook). It does what
   the Python hook does, step for step, on the same containers: when the object's
   ``__dict__`` holds a session token under ``attr`` that ``trackers`` (``core.entity.TRACKERS``)
   maps to the session's ``(changed, touched, new)`` dicts, the field's old value (``missing``
   when unset) is recorded before the first assignment since the last commit -
   ``changed[id(obj)] = {name: old}`` and ``touched[id(obj)] = obj``, or ``old[name]`` added to
   an existing record; staged new objects (``id(obj)`` in ``new``) need none - then the value
   goes into ``__dict__``. Every condition is checked before anything changes; where one fails
   (another name, a container of another type, an object without ``__dict__``) the call goes to
   ``fallback`` with the same arguments.

   Public C API of CPython 3.11 only. Instances carry a ``__dict__`` so that the Python side
   can mark them as it marks its own hooks (``_orm_base``, ``__orm_generated__``).

   Callers: ``core.entity`` (``_make_setattr``). What it leaves out: key fields, descriptors
   (references, collections), classes with a ``__setattr__`` of their own and deletion - all
   the Python hook's. Without this module (no compiler, or ``ORMCLI_NO_SPEEDUPS=1``) the
   Python hook is installed itself and gives the same results. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *fallback; /* the generated Python hook */
    PyObject *plain;    /* frozenset: fields stored straight into __dict__ */
    PyObject *keys;     /* frozenset: primary-key fields (always the fallback's) */
    PyObject *trackers; /* dict: session token -> (changed, touched, new) */
    PyObject *attr;     /* str: the key of the session token in __dict__ */
    PyObject *missing;  /* the MISSING sentinel (an old value that was unset) */
    PyObject *dict;     /* the instance's own attributes */
    vectorcallfunc vectorcall;
} TrackedSetattr;

static PyTypeObject TrackedSetattr_Type;

static int
TrackedSetattr_init(TrackedSetattr *self, PyObject *args, PyObject *kwds)
{
    PyObject *fallback, *plain, *keys, *trackers, *attr, *missing;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "TrackedSetattr takes no keyword arguments");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OO!O!O!UO:TrackedSetattr", &fallback, &PyFrozenSet_Type,
                          &plain, &PyFrozenSet_Type, &keys, &PyDict_Type, &trackers, &attr,
                          &missing)) {
        return -1;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "TrackedSetattr: fallback must be callable");
        return -1;
    }
    Py_INCREF(fallback);
    Py_XSETREF(self->fallback, fallback);
    Py_INCREF(plain);
    Py_XSETREF(self->plain, plain);
    Py_INCREF(keys);
    Py_XSETREF(self->keys, keys);
    Py_INCREF(trackers);
    Py_XSETREF(self->trackers, trackers);
    Py_INCREF(attr);
    Py_XSETREF(self->attr, attr);
    Py_INCREF(missing);
    Py_XSETREF(self->missing, missing);
    return 0;
}

static int
TrackedSetattr_traverse(TrackedSetattr *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback);
    Py_VISIT(self->plain);
    Py_VISIT(self->keys);
    Py_VISIT(self->trackers);
    Py_VISIT(self->missing);
    Py_VISIT(self->dict);
    return 0;
}

static int
TrackedSetattr_clear(TrackedSetattr *self)
{
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->plain);
    Py_CLEAR(self->keys);
    Py_CLEAR(self->trackers);
    Py_CLEAR(self->attr);
    Py_CLEAR(self->missing);
    Py_CLEAR(self->dict);
    return 0;
}

static void
TrackedSetattr_dealloc(TrackedSetattr *self)
{
    PyObject_GC_UnTrack(self);
    TrackedSetattr_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The fast path of ``obj.name = value``: 1 done, 0 not taken (nothing changed), -1 error. */
static int
tracked_set(TrackedSetattr *ts, PyObject *obj, PyObject *name, PyObject *value)
{
    if (!PyUnicode_CheckExact(name)) {
        return 0;
    }
    int r = PySet_Contains(ts->plain, name);
    if (r <= 0) {
        return r;
    }
    r = PySet_Contains(ts->keys, name);
    if (r != 0) {
        return r < 0 ? -1 : 0;
    }
    PyObject *d = PyObject_GenericGetDict(obj, NULL); /* (makes an inline-values dict real) */
    if (d == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return -1;
        }
        PyErr_Clear(); /* (no __dict__: the fallback says so) */
        return 0;
    }
    if (!PyDict_CheckExact(d)) {
        Py_DECREF(d);
        return 0;
    }
    int result = -1;
    PyObject *oid = NULL, *record = NULL;
    PyObject *token = PyDict_GetItemWithError(d, ts->attr); /* borrowed */
    if (token == NULL && PyErr_Occurred()) {
        goto done;
    }
    if (token != NULL && token != Py_None) {
        /* (``name in names``: every plain name is a field's) */
        PyObject *tracker = PyDict_GetItemWithError(ts->trackers, token); /* borrowed */
        if (tracker == NULL && PyErr_Occurred()) {
            goto done;
        }
        if (tracker != NULL) {
            if (!PyTuple_CheckExact(tracker) || PyTuple_GET_SIZE(tracker) != 3) {
                result = 0;
                goto done;
            }
            PyObject *changed = PyTuple_GET_ITEM(tracker, 0);
            PyObject *touched = PyTuple_GET_ITEM(tracker, 1);
            PyObject *new = PyTuple_GET_ITEM(tracker, 2);
            if (!PyDict_CheckExact(changed) || !PyDict_CheckExact(touched) ||
                !PyDict_CheckExact(new)) {
                result = 0;
                goto done;
            }
            oid = PyLong_FromVoidPtr(obj);
            if (oid == NULL) {
                goto done;
            }
            PyObject *old = PyDict_GetItemWithError(changed, oid); /* borrowed */
            if (old == NULL && PyErr_Occurred()) {
                goto done;
            }
            if (old != NULL && !PyDict_CheckExact(old)) {
                result = 0;
                goto done;
            }
            int record_it;
            if (old == NULL) {
                record_it = PyDict_Contains(new, oid);
                if (record_it < 0) {
                    goto done;
                }
                record_it = !record_it;
            }
            else {
                record_it = PyDict_Contains(old, name);
                if (record_it < 0) {
                    goto done;
                }
                record_it = !record_it;
            }
            if (record_it) {
                PyObject *current = PyDict_GetItemWithError(d, name); /* borrowed */
                if (current == NULL) {
                    if (PyErr_Occurred()) {
                        goto done;
                    }
                    current = ts->missing;
                }
                if (old == NULL) {
                    record = PyDict_New();
                    if (record == NULL || PyDict_SetItem(record, name, current) < 0 ||
                        PyDict_SetItem(changed, oid, record) < 0 ||
                        PyDict_SetItem(touched, oid, obj) < 0) {
                        goto done;
                    }
                }
                else if (PyDict_SetItem(old, name, current) < 0) {
                    goto done;
                }
            }
        }
    }
    if (PyDict_SetItem(d, name, value) < 0) {
        goto done;
    }
    result = 1;
done:
    Py_XDECREF(record);
    Py_XDECREF(oid);
    Py_DECREF(d);
    return result;
}

static PyObject *
TrackedSetattr_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames)
{
    TrackedSetattr *ts = (TrackedSetattr *)callable;
    if (ts->fallback == NULL) {
        PyErr_SetString(PyExc_TypeError, "TrackedSetattr was not initialised");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && nargs == 3) {
        int r = tracked_set(ts, args[0], args[1], args[2]);
        if (r < 0) {
            return NULL;
        }
        if (r > 0) {
            Py_RETURN_NONE;
        }
    }
    return PyObject_Vectorcall(ts->fallback, args, nargsf, kwnames);
}

static PyObject *
TrackedSetattr_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    TrackedSetattr *self = (TrackedSetattr *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->vectorcall = TrackedSetattr_vectorcall;
    }
    return (PyObject *)self;
}

static PyObject *
TrackedSetattr_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static PyObject *
TrackedSetattr_get_fallback(TrackedSetattr *self, void *closure)
{
    PyObject *f = self->fallback != NULL ? self->fallback : Py_None;
    Py_INCREF(f);
    return f;
}

static PyGetSetDef TrackedSetattr_getset[] = {
    {"__wrapped__", (getter)TrackedSetattr_get_fallback, NULL, "the Python hook", NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL},
};

static PyTypeObject TrackedSetattr_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "core._track.TrackedSetattr",
    .tp_basicsize = sizeof(TrackedSetattr),
    .tp_dealloc = (destructor)TrackedSetattr_dealloc,
    .tp_vectorcall_offset = offsetof(TrackedSetattr, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_getattro = PyObject_GenericGetAttr,
    .tp_setattro = PyObject_GenericSetAttr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "An entity's __setattr__ with the tracked assignment in C (core._track).",
    .tp_traverse = (traverseproc)TrackedSetattr_traverse,
    .tp_clear = (inquiry)TrackedSetattr_clear,
    .tp_getset = TrackedSetattr_getset,
    .tp_descr_get = TrackedSetattr_get,
    .tp_dictoffset = offsetof(TrackedSetattr, dict),
    .tp_init = (initproc)TrackedSetattr_init,
    .tp_new = TrackedSetattr_new,
};

static struct PyModuleDef track_module = {
    PyModuleDef_HEAD_INIT,
    "core._track",
    "The tracked assignment in C (optional accelerator of core.entity's __setattr__ hook).",
    -1,
    NULL,
};

PyMODINIT_FUNC
PyInit__track(void)
{
    if (PyType_Ready(&TrackedSetattr_Type) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&track_module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&TrackedSetattr_Type);
    if (PyModule_AddObject(m, "TrackedSetattr", (PyObject *)&TrackedSetattr_Type) < 0) {
        Py_DECREF(&TrackedSetattr_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
