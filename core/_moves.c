/* core._moves: the relation move's hot path in C, the optional accelerator of core.collection.

   Job: two loops that bench S9 (a thousand ``new_author.posts.append(post)`` on loaded
   collections, then a commit) spends its Python time in, done step for step as their pure
   Python versions do them, on the same containers:

   - ``QuickAppend(fallback, staging, attr, owner_slot, relation_slot, quick_slot,
     logged_slot)``: the ``append`` of
     ``core.collection.TrackedList``. A method descriptor (``Py_TPFLAGS_METHOD_DESCRIPTOR``:
     ``coll.append(item)`` calls it with no bound method made). It does the quick move of
     ``TrackedList.append`` (``fallback``, the pure method): ``item``, persistent and tracked by
     the owner's session, moves from a loaded owner of that session into this, the owner's
     loaded collection: the change record (``Session._changed``, ``_touched``, the hint in
     ``_moved``), the reference, the rollback log of both collections (``_coll_log``:
     ``(collection, items, {})``, once per log epoch: the collection's ``_logged`` slot holds
     the session's ``_coll_epoch``), the old owner's collection, this one; the
     session's containers are found in ``staging`` (``core.collection.STAGING``) under the
     session token. Every condition is checked before anything changes; where one fails the
     call goes to ``fallback`` with the same arguments (nothing changed here). ``owner_slot``,
     ``relation_slot`` and ``logged_slot`` are ``TrackedList``'s member descriptors of
     ``_owner``, ``_relation`` and ``_logged``, ``quick_slot`` ``RelationInfo``'s of ``quick``:
     the slots are read (and ``_logged`` written) at their offsets.
   - ``collect_moves(items, touched, removed, same, cls, pk, names, targets, keys, conv,
     check_range)``: the loop of ``EntityCodec.collect_moves`` (its generated Python is the
     reference) over ``items`` (``(id, old values)`` pairs; the session's ``_changed.items()``
     is read from the dict itself, with no pair made): per pair whose record names one reference of
     ``names``
     moved between two loaded objects of its target class (``targets``; their keys under
     ``keys``) the object, its key and the UPDATE's parameter row ``(new owner's key, key)``;
     a move back goes to ``same``. The key is sent as it is when it is exactly an ``int`` (in
     64 bits with ``check_range``), else through ``conv`` (the codec's checking converter).
     Returns ``([(objs, pks, rows) per name], others)``.

   The scan of a collection for the item is by identity (``list.index`` with ``object.__eq__``
   finds the same position; a model's own ``__eq__`` is never called, as the pure path's
   identity scan ``_index`` does not call it). Public C API of CPython 3.11 only, besides the
   member descriptor's ``d_member`` (``descrobject.h``).

   Callers: ``core.collection`` (installs ``QuickAppend``) and ``core.codec``
   (``collect_moves``). What it leaves out: everything but the quick move and the move-only
   records (sets, many-to-many, new objects, moves back and retitles are the pure path's).
   Without this module (no compiler, or ``ORMCLI_NO_SPEEDUPS=1``) the pure versions run. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* -- QuickAppend -------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *fallback;    /* the pure ``TrackedList.append`` */
    PyObject *staging;     /* dict: session token -> the session's containers */
    PyObject *attr;        /* the session attribute's name */
    PyTypeObject *owner_type; /* the class the slots belong to (TrackedList) */
    Py_ssize_t owner_off;  /* offset of the ``_owner`` slot */
    Py_ssize_t rel_off;    /* offset of the ``_relation`` slot */
    Py_ssize_t logged_off; /* offset of the ``_logged`` slot (the log epoch it was logged in) */
    PyTypeObject *rel_type; /* the relation's class (RelationInfo) */
    Py_ssize_t quick_off;  /* offset of its ``quick`` slot */
    vectorcallfunc vectorcall;
} QuickAppend;

static PyTypeObject QuickAppend_Type;

/* ``a == b`` (session tokens, keys): exact ints compared by value without a rich
   comparison; anything else by ``==``. */
static int
same_token(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        int overflow_a, overflow_b;
        long long x = PyLong_AsLongLongAndOverflow(a, &overflow_a);
        long long y = PyLong_AsLongLongAndOverflow(b, &overflow_b);
        if (!overflow_a && !overflow_b) { /* (no error is set for an exact int) */
            return x == y;
        }
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

/* The offset of an object slot (a member descriptor of ``__slots__``) and its class, which
   ``*owner`` must be when already set. */
static int
slot_offset(PyObject *descr, PyTypeObject **owner, Py_ssize_t *off)
{
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_SetString(PyExc_TypeError, "QuickAppend: a slot's member descriptor expected");
        return -1;
    }
    PyMemberDescrObject *m = (PyMemberDescrObject *)descr;
    if (m->d_member->type != T_OBJECT_EX || (m->d_member->flags & READONLY)) {
        PyErr_SetString(PyExc_TypeError, "QuickAppend: an object slot expected");
        return -1;
    }
    if (*owner != NULL && *owner != PyDescr_TYPE(descr)) {
        PyErr_SetString(PyExc_TypeError, "QuickAppend: both slots of one class expected");
        return -1;
    }
    *owner = PyDescr_TYPE(descr);
    *off = m->d_member->offset;
    return 0;
}

static int
QuickAppend_init(QuickAppend *self, PyObject *args, PyObject *kwds)
{
    PyObject *fallback, *staging, *attr, *owner_slot, *rel_slot, *quick_slot, *logged_slot;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "QuickAppend takes no keyword arguments");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OO!UOOOO:QuickAppend", &fallback, &PyDict_Type, &staging,
                          &attr, &owner_slot, &rel_slot, &quick_slot, &logged_slot)) {
        return -1;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "QuickAppend: fallback must be callable");
        return -1;
    }
    PyTypeObject *owner = NULL, *rel_type = NULL;
    Py_ssize_t owner_off, rel_off, quick_off, logged_off;
    if (slot_offset(owner_slot, &owner, &owner_off) < 0 ||
        slot_offset(rel_slot, &owner, &rel_off) < 0 ||
        slot_offset(logged_slot, &owner, &logged_off) < 0 ||
        slot_offset(quick_slot, &rel_type, &quick_off) < 0) {
        return -1;
    }
    if (!PyType_IsSubtype(owner, &PyList_Type)) {
        PyErr_SetString(PyExc_TypeError, "QuickAppend: the slots of a list subclass expected");
        return -1;
    }
    Py_INCREF(fallback);
    Py_XSETREF(self->fallback, fallback);
    Py_INCREF(staging);
    Py_XSETREF(self->staging, staging);
    Py_INCREF(attr);
    Py_XSETREF(self->attr, attr);
    Py_INCREF(owner);
    Py_XSETREF(self->owner_type, owner);
    Py_INCREF(rel_type);
    Py_XSETREF(self->rel_type, rel_type);
    self->owner_off = owner_off;
    self->rel_off = rel_off;
    self->quick_off = quick_off;
    self->logged_off = logged_off;
    return 0;
}

static int
QuickAppend_traverse(QuickAppend *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback);
    Py_VISIT(self->staging);
    Py_VISIT(self->owner_type);
    Py_VISIT(self->rel_type);
    return 0;
}

static int
QuickAppend_clear(QuickAppend *self)
{
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->staging);
    Py_CLEAR(self->attr);
    Py_CLEAR(self->owner_type);
    Py_CLEAR(self->rel_type);
    return 0;
}

static void
QuickAppend_dealloc(QuickAppend *self)
{
    PyObject_GC_UnTrack(self);
    QuickAppend_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Whether ``item`` itself is in ``list``: its index, or -1. */
static Py_ssize_t
index_of(PyObject *list, PyObject *item)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    PyObject **items = ((PyListObject *)list)->ob_item;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i] == item) {
            return i;
        }
    }
    return -1;
}

/* ``Session._log_collection``'s steps for a one-to-many collection (a ``TrackedList``, its
   ``_logged`` slot at ``off``): once per log epoch (``epoch``: the session's current one),
   ``(coll, list(coll), {})`` appended to the log and the collection marked with the epoch. */
static int
log_collection(PyObject *coll, PyObject *epoch, PyObject *log, Py_ssize_t off)
{
    PyObject **mark = (PyObject **)((char *)coll + off);
    if (*mark == epoch) {
        return 0;
    }
    PyObject *items = PyList_GetSlice(coll, 0, PyList_GET_SIZE(coll));
    if (items == NULL) {
        return -1;
    }
    PyObject *links = PyDict_New();
    if (links == NULL) {
        Py_DECREF(items);
        return -1;
    }
    PyObject *entry = PyTuple_Pack(3, coll, items, links);
    Py_DECREF(items);
    Py_DECREF(links);
    if (entry == NULL) {
        return -1;
    }
    int r = PyList_Append(log, entry);
    Py_DECREF(entry);
    if (r == 0) {
        Py_INCREF(epoch);
        Py_XSETREF(*(PyObject **)((char *)coll + off), epoch);
    }
    return r;
}

/* The quick move: 1 done, 0 it does not apply (nothing changed), -1 an error. */
static int
quick_move(QuickAppend *qa, PyObject *self, PyObject *item)
{
    if (!PyObject_TypeCheck(self, qa->owner_type)) {
        return 0;
    }
    PyObject *rel = *(PyObject **)((char *)self + qa->rel_off);
    PyObject *owner = *(PyObject **)((char *)self + qa->owner_off);
    if (rel == NULL || owner == NULL) {
        return 0;
    }
    if (!PyObject_TypeCheck(rel, qa->rel_type)) {
        return 0;
    }
    int result = 0;
    PyObject *quick, *d = NULL, *owner_d = NULL, *old_d = NULL, *oid = NULL;
    quick = *(PyObject **)((char *)rel + qa->quick_off);
    if (quick == NULL) {
        return 0; /* (the pure path says what is wrong) */
    }
    Py_INCREF(quick);
    if (!PyTuple_CheckExact(quick) || PyTuple_GET_SIZE(quick) != 6 ||
        (PyObject *)Py_TYPE(item) != PyTuple_GET_ITEM(quick, 0)) {
        goto done;
    }
    PyObject *name = PyTuple_GET_ITEM(quick, 1);
    PyObject *cname = PyTuple_GET_ITEM(quick, 2);
    PyObject *owner_cls = PyTuple_GET_ITEM(quick, 4);
    /* (``obj.__dict__`` as Python's attribute gives it: made from inline values if need be.) */
    d = PyObject_GenericGetDict(item, NULL);
    if (d == NULL || !PyDict_Check(d)) {
        goto not_here;
    }
    PyObject *old = PyDict_GetItemWithError(d, name);
    if (old == NULL || (PyObject *)Py_TYPE(old) != owner_cls || old == owner) {
        goto not_here;
    }
    PyObject *token = PyDict_GetItemWithError(d, qa->attr);
    if (token == NULL) {
        goto not_here;
    }
    owner_d = PyObject_GenericGetDict(owner, NULL);
    if (owner_d == NULL || !PyDict_Check(owner_d)) {
        goto not_here;
    }
    PyObject *v = PyDict_GetItemWithError(owner_d, qa->attr);
    if (v == NULL) {
        goto not_here;
    }
    int eq = same_token(v, token);
    if (eq <= 0) {
        goto not_here;
    }
    if (PyDict_GetItemWithError(owner_d, cname) != self) {
        goto not_here;
    }
    old_d = PyObject_GenericGetDict(old, NULL);
    if (old_d == NULL || !PyDict_Check(old_d)) {
        goto not_here;
    }
    v = PyDict_GetItemWithError(old_d, qa->attr);
    if (v == NULL) {
        goto not_here;
    }
    eq = same_token(v, token);
    if (eq <= 0) {
        goto not_here;
    }
    PyObject *state = PyDict_GetItemWithError(qa->staging, token);
    if (state == NULL || !PyTuple_CheckExact(state) || PyTuple_GET_SIZE(state) != 6) {
        goto not_here;
    }
    PyObject *changed = PyTuple_GET_ITEM(state, 0);
    PyObject *touched = PyTuple_GET_ITEM(state, 1);
    PyObject *new = PyTuple_GET_ITEM(state, 2);
    PyObject *epoch = PyTuple_GET_ITEM(state, 3);
    PyObject *log = PyTuple_GET_ITEM(state, 4);
    PyObject *moved = PyTuple_GET_ITEM(state, 5);
    if (!PyDict_CheckExact(changed) || !PyDict_CheckExact(touched) || !PyDict_CheckExact(new) ||
        !PyList_CheckExact(log) || !PyList_CheckExact(moved)) {
        goto not_here;
    }
    oid = PyLong_FromVoidPtr(item);
    if (oid == NULL) {
        goto error;
    }
    if (PyDict_GET_SIZE(new)) {
        int in = PyDict_Contains(new, oid);
        if (in != 0) {
            if (in < 0) {
                goto error;
            }
            goto done; /* (a new object: staged by the general path) */
        }
    }
    PyObject *was = PyDict_GetItemWithError(old_d, cname);
    if (was == NULL) {
        if (PyErr_Occurred()) {
            goto error;
        }
        was = Py_None;
    }
    if (was != Py_None && !PyObject_TypeCheck(was, qa->owner_type)) {
        goto done; /* (not a collection: the pure path says what is wrong) */
    }
    /* Every condition holds: the move. What it uses is held (an allocation below may run
       the cyclic collector, and with it finalizers: a session collected then would take
       its containers out of ``staging``). */
    Py_INCREF(old);
    Py_INCREF(was);
    Py_INCREF(token);
    Py_INCREF(owner);
    Py_INCREF(state);
    int r = -1;
    PyObject *record = PyDict_GetItemWithError(changed, oid);
    if (record == NULL) {
        if (PyErr_Occurred()) {
            goto move_error;
        }
        PyObject *fresh = PyDict_New();
        if (fresh == NULL) {
            goto move_error;
        }
        if (PyDict_SetItem(fresh, name, old) < 0 || PyDict_SetItem(changed, oid, fresh) < 0) {
            Py_DECREF(fresh);
            goto move_error;
        }
        Py_DECREF(fresh);
        if (PyDict_SetItem(touched, oid, item) < 0 || PyList_Append(moved, item) < 0) {
            goto move_error;
        }
    }
    else {
        Py_INCREF(record);
        int in = PySequence_Contains(record, name);
        if (in == 0) {
            in = PyObject_SetItem(record, name, old);
        }
        Py_DECREF(record);
        if (in < 0) {
            goto move_error;
        }
    }
    if (PyDict_SetItem(d, name, owner) < 0) {
        goto move_error;
    }
    int left = 0; /* (taken out of its old owner's loaded collection) */
    if (was != Py_None) {
        Py_ssize_t i = index_of(was, item);
        if (i >= 0) {
            if (log_collection(was, epoch, log, qa->logged_off) < 0) {
                goto move_error;
            }
            i = index_of(was, item); /* (the log made no call into Python: still there) */
            if (i >= 0) {
                if (PyList_SetSlice(was, i, i + 1, NULL) < 0) {
                    goto move_error;
                }
                left = 1;
            }
        }
    }
    /* (Taken out of its old owner's collection, it is not in this one.) */
    if (left || index_of(self, item) < 0) {
        if (log_collection(self, epoch, log, qa->logged_off) < 0 ||
            PyList_Append(self, item) < 0) {
            goto move_error;
        }
    }
    r = 0;
move_error:
    Py_DECREF(old);
    Py_DECREF(was);
    Py_DECREF(token);
    Py_DECREF(owner);
    Py_DECREF(state);
    if (r < 0) {
        goto error;
    }
    result = 1;
    goto done;
not_here:
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_KeyError) && !PyErr_ExceptionMatches(PyExc_TypeError) &&
            !PyErr_ExceptionMatches(PyExc_AttributeError)) {
            goto error;
        }
        PyErr_Clear(); /* (the pure path meets it again and says so) */
    }
    goto done;
error:
    result = -1;
done:
    Py_XDECREF(quick);
    Py_XDECREF(d);
    Py_XDECREF(owner_d);
    Py_XDECREF(old_d);
    Py_XDECREF(oid);
    return result;
}

static PyObject *
QuickAppend_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                       PyObject *kwnames)
{
    QuickAppend *qa = (QuickAppend *)callable;
    if (qa->fallback == NULL) {
        PyErr_SetString(PyExc_TypeError, "QuickAppend was not initialised");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && nargs == 2) {
        int r = quick_move(qa, args[0], args[1]);
        if (r < 0) {
            return NULL;
        }
        if (r > 0) {
            Py_RETURN_NONE;
        }
    }
    return PyObject_Vectorcall(qa->fallback, args, nargsf, kwnames);
}

static PyObject *
QuickAppend_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    QuickAppend *self = (QuickAppend *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->vectorcall = QuickAppend_vectorcall;
    }
    return (PyObject *)self;
}

static PyObject *
QuickAppend_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static PyObject *
QuickAppend_get_fallback(QuickAppend *self, void *closure)
{
    PyObject *f = self->fallback != NULL ? self->fallback : Py_None;
    Py_INCREF(f);
    return f;
}

static PyGetSetDef QuickAppend_getset[] = {
    {"__wrapped__", (getter)QuickAppend_get_fallback, NULL, "the pure method", NULL},
    {NULL},
};

static PyTypeObject QuickAppend_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "core._moves.QuickAppend",
    .tp_basicsize = sizeof(QuickAppend),
    .tp_dealloc = (destructor)QuickAppend_dealloc,
    .tp_vectorcall_offset = offsetof(QuickAppend, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "TrackedList.append with the quick move in C (core._moves).",
    .tp_traverse = (traverseproc)QuickAppend_traverse,
    .tp_clear = (inquiry)QuickAppend_clear,
    .tp_getset = QuickAppend_getset,
    .tp_descr_get = QuickAppend_get,
    .tp_init = (initproc)QuickAppend_init,
    .tp_new = QuickAppend_new,
};

/* -- collect_moves ------------------------------------------------------------------------- */

/* ``d[key]`` of ``obj.__dict__``: a new reference to the dict in ``*dict_out`` (to release),
   the borrowed value, NULL with no error when missing (or no dict). */
static PyObject *
dict_value(PyObject *obj, PyObject *key, PyObject **dict_out)
{
    PyObject *d = PyObject_GenericGetDict(obj, NULL);
    *dict_out = d;
    if (d == NULL) {
        return NULL;
    }
    if (!PyDict_Check(d)) {
        return NULL;
    }
    return PyDict_GetItemWithError(d, key);
}

typedef struct {
    PyObject *touched, *removed, *same, *cls, *pk, *names, *targets, *keys, *conv, *made;
    Py_ssize_t nrefs;
    int check_range;
    int any_removed;
    int others;
} Collecting;

/* ``ov[name]`` when ``name in ov``: a new reference, or NULL (``*found`` 0: not there;
   -1: an error). */
static PyObject *
record_value(PyObject *ov, PyObject *name, int *found)
{
    if (PyDict_CheckExact(ov)) {
        PyObject *v = PyDict_GetItemWithError(ov, name);
        *found = v != NULL ? 1 : (PyErr_Occurred() ? -1 : 0);
        Py_XINCREF(v);
        return v;
    }
    int in = PySequence_Contains(ov, name);
    if (in <= 0) {
        *found = in;
        return NULL;
    }
    PyObject *v = PyObject_GetItem(ov, name);
    *found = v != NULL ? 1 : -1;
    return v;
}

/* One ``(id, old values)`` pair, as one turn of the generated loop: 0, or -1 on an error. */
static int
take(Collecting *c, PyObject *oid, PyObject *ov)
{
    PyObject *o = NULL, *d = NULL, *od = NULL, *nd = NULL, *v1 = NULL, *row = NULL;
    PyObject *obj = NULL, *key = NULL, *k = NULL; /* (held: the converter runs Python code) */
    int failed = 0, found;
    Py_ssize_t len = PyDict_CheckExact(ov) ? PyDict_GET_SIZE(ov) : PyObject_Length(ov);
    if (len < 0) {
        return -1;
    }
    if (len != 1) {
        return 0;
    }
    Py_ssize_t ref = -1;
    if (c->nrefs == 1) {
        o = record_value(ov, PyTuple_GET_ITEM(c->names, 0), &found);
        if (found <= 0) {
            return found;
        }
        ref = 0;
    }
    obj = PyDict_GetItemWithError(c->touched, oid);
    if (obj == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, oid);
        }
        failed = 1;
        goto next;
    }
    Py_INCREF(obj);
    if ((PyObject *)Py_TYPE(obj) != c->cls) {
        c->others = 1;
        goto next;
    }
    if (c->any_removed) {
        int in = PySequence_Contains(c->removed, oid);
        if (in != 0) {
            failed = in < 0;
            goto next;
        }
    }
    key = dict_value(obj, c->pk, &d);
    if (key == NULL) {
        goto missing;
    }
    Py_INCREF(key);
    if (ref < 0) {
        for (Py_ssize_t i = 0; i < c->nrefs; i++) {
            o = record_value(ov, PyTuple_GET_ITEM(c->names, i), &found);
            if (found != 0) {
                if (found < 0) {
                    failed = 1;
                    goto next;
                }
                ref = i;
                break;
            }
        }
        if (ref < 0) {
            goto next;
        }
    }
    PyObject *name = PyTuple_GET_ITEM(c->names, ref);
    PyObject *target = PyTuple_GET_ITEM(c->targets, ref);
    PyObject *key_name = PyTuple_GET_ITEM(c->keys, ref);
    PyObject *n = PyDict_GetItemWithError(d, name);
    if (n == NULL) {
        goto missing;
    }
    if ((PyObject *)Py_TYPE(o) != target || (PyObject *)Py_TYPE(n) != target) {
        goto next;
    }
    k = dict_value(n, key_name, &nd);
    if (k == NULL) {
        goto missing;
    }
    Py_INCREF(k);
    if (!PyLong_CheckExact(k)) {
        goto next;
    }
    int nonzero = PyObject_IsTrue(k);
    if (nonzero <= 0) {
        failed = nonzero < 0;
        goto next;
    }
    PyObject *ok = dict_value(o, key_name, &od);
    if (ok == NULL) {
        goto missing;
    }
    int eq = same_token(ok, k); /* (``==``: ints compared by value) */
    if (eq != 0) {
        if (eq < 0 || PyList_Append(c->same, obj) < 0) {
            failed = 1;
        }
        goto next; /* (moved back: the same row) */
    }
    /* The key as ``rows`` sends it (the generated ``_convert_line``). */
    int exact = PyLong_CheckExact(key);
    if (exact && c->check_range) {
        int overflow;
        (void)PyLong_AsLongLongAndOverflow(key, &overflow);
        exact = overflow == 0;
    }
    if (exact) {
        Py_INCREF(key);
        v1 = key;
    }
    else {
        v1 = PyObject_CallOneArg(c->conv, key);
        if (v1 == NULL) {
            failed = 1;
            goto next;
        }
    }
    row = PyTuple_Pack(2, k, v1);
    PyObject *lists = PyList_GET_ITEM(c->made, ref);
    if (row == NULL || PyList_Append(PyTuple_GET_ITEM(lists, 0), obj) < 0 ||
        PyList_Append(PyTuple_GET_ITEM(lists, 1), key) < 0 ||
        PyList_Append(PyTuple_GET_ITEM(lists, 2), row) < 0) {
        failed = 1;
    }
    goto next;
missing: /* (a KeyError of the generated code: left to the generic diff) */
    if (PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
        }
        else {
            failed = 1;
        }
    }
next:
    Py_XDECREF(obj);
    Py_XDECREF(key);
    Py_XDECREF(k);
    Py_XDECREF(o);
    Py_XDECREF(d);
    Py_XDECREF(od);
    Py_XDECREF(nd);
    Py_XDECREF(v1);
    Py_XDECREF(row);
    return failed ? -1 : 0;
}

static PyObject *
collect_moves(PyObject *module, PyObject *args)
{
    PyObject *items;
    Collecting c;
    if (!PyArg_ParseTuple(args, "OO!OO!OUO!O!O!Op:collect_moves", &items, &PyDict_Type,
                          &c.touched, &c.removed, &PyList_Type, &c.same, &c.cls, &c.pk,
                          &PyTuple_Type, &c.names, &PyTuple_Type, &c.targets, &PyTuple_Type,
                          &c.keys, &c.conv, &c.check_range)) {
        return NULL;
    }
    c.nrefs = PyTuple_GET_SIZE(c.names);
    if (c.nrefs < 1 || PyTuple_GET_SIZE(c.targets) != c.nrefs ||
        PyTuple_GET_SIZE(c.keys) != c.nrefs) {
        PyErr_SetString(PyExc_ValueError, "collect_moves: one target and key a name expected");
        return NULL;
    }
    c.any_removed = PyObject_IsTrue(c.removed);
    if (c.any_removed < 0) {
        return NULL;
    }
    c.others = 0;
    c.made = PyList_New(c.nrefs);
    if (c.made == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < c.nrefs; i++) {
        PyObject *t = Py_BuildValue("([][][])");
        if (t == NULL) {
            Py_DECREF(c.made);
            return NULL;
        }
        PyList_SET_ITEM(c.made, i, t);
    }
    if (PyDictItems_Check(items) && ((_PyDictViewObject *)items)->dv_dict != NULL &&
        PyDict_CheckExact(((_PyDictViewObject *)items)->dv_dict)) {
        items = (PyObject *)((_PyDictViewObject *)items)->dv_dict; /* (``d.items()``: ``d``) */
    }
    if (PyDict_CheckExact(items)) { /* (the session's ``_changed`` itself: no pair made) */
        Py_ssize_t pos = 0;
        PyObject *oid, *ov;
        while (PyDict_Next(items, &pos, &oid, &ov)) {
            Py_INCREF(oid);
            Py_INCREF(ov);
            int r = take(&c, oid, ov);
            Py_DECREF(oid);
            Py_DECREF(ov);
            if (r < 0) {
                goto error;
            }
        }
    }
    else {
        PyObject *it = PyObject_GetIter(items);
        if (it == NULL) {
            goto error;
        }
        PyObject *pair;
        while ((pair = PyIter_Next(it)) != NULL) {
            int r;
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                PyErr_SetString(PyExc_TypeError, "collect_moves: (id, old values) pairs expected");
                r = -1;
            }
            else {
                r = take(&c, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
            }
            Py_DECREF(pair);
            if (r < 0) {
                Py_DECREF(it);
                goto error;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) {
            goto error;
        }
    }
    return Py_BuildValue("(NO)", c.made, c.others ? Py_True : Py_False);
error:
    Py_DECREF(c.made);
    return NULL;
}

static PyMethodDef moves_methods[] = {
    {"collect_moves", collect_moves, METH_VARARGS,
     "The loop of EntityCodec.collect_moves: ([(objs, pks, rows) per name], others)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moves_module = {
    PyModuleDef_HEAD_INIT,
    "core._moves",
    "The relation move's hot path in C (optional accelerator of core.collection).",
    -1,
    moves_methods,
};

PyMODINIT_FUNC
PyInit__moves(void)
{
    if (PyType_Ready(&QuickAppend_Type) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&moves_module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&QuickAppend_Type);
    if (PyModule_AddObject(m, "QuickAppend", (PyObject *)&QuickAppend_Type) < 0) {
        Py_DECREF(&QuickAppend_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
