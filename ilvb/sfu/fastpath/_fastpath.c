/*
 * ilvb.sfu.fastpath._fastpath: the SFU's per-packet fan-out in one C call.
 *
 * For ONE incoming (decrypted) RTP packet and the list of its consumers, forward() builds each
 * consumer's packet (new payload type, sequence number, timestamp and SSRC; V, P, CC and the
 * marker kept, CSRCs copied, header extensions dropped, payload and padding untouched: the same
 * bytes as ilvb.sfu.rtp.packet.rewrite_rtp), protects it with the consumer transport's SRTP
 * context (libsrtp2) and sends all of them with sendmmsg(2) on the worker's UDP socket.
 *
 * Tx is one outbound SRTP context (SSRC_ANY_OUTBOUND, allow_repeat_tx, replay window 1024, as
 * ilvb/sfu/dtls.py keys pylibsrtp). ALL outgoing RTP of a transport must go through one Tx
 * (libsrtp keeps the rollover counter per SSRC inside it), so retransmissions use Tx.protect().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <srtp2/srtp.h>

#define BATCH 64
#define SLOT_LEN (1500 + SRTP_MAX_TRAILER_LEN + 16)

typedef struct {
    PyObject_HEAD
    srtp_t session;
    PyObject *addr_obj; /* the last address tuple seen (identity cache) */
    struct sockaddr_in6 addr; /* a sockaddr_in or a sockaddr_in6 */
    socklen_t addr_len;
    int profile;
} TxObject;

static PyObject *FastpathError;
static PyTypeObject TxType;

/* per-call scratch space: one packet buffer, one iovec, one msghdr, one sockaddr per slot */
static unsigned char bufs[BATCH][SLOT_LEN];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];
static struct sockaddr_in6 addrs[BATCH];

/* ---------------------------------------------------------------------------------- Tx */

static int Tx_init(TxObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"profile", "key", NULL};
    int profile;
    Py_buffer key;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*", kwlist, &profile, &key)) return -1;
    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, (srtp_profile_t)profile) !=
            srtp_err_status_ok ||
        srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, (srtp_profile_t)profile) !=
            srtp_err_status_ok) {
        PyBuffer_Release(&key);
        PyErr_Format(FastpathError, "unsupported SRTP profile %d", profile);
        return -1;
    }
    size_t need = (size_t)srtp_profile_get_master_key_length((srtp_profile_t)profile) +
                  (size_t)srtp_profile_get_master_salt_length((srtp_profile_t)profile);
    if ((size_t)key.len != need) {
        PyBuffer_Release(&key);
        PyErr_Format(FastpathError, "key+salt must be %zu bytes, got %zd", need, key.len);
        return -1;
    }
    unsigned char keybuf[64];
    memcpy(keybuf, key.buf, need);
    PyBuffer_Release(&key);
    policy.ssrc.type = ssrc_any_outbound;
    policy.key = keybuf;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 1;
    policy.next = NULL;
    if (self->session != NULL) {
        srtp_dealloc(self->session);
        self->session = NULL;
    }
    srtp_err_status_t st = srtp_create(&self->session, &policy);
    memset(keybuf, 0, sizeof(keybuf));
    if (st != srtp_err_status_ok) {
        self->session = NULL;
        PyErr_Format(FastpathError, "srtp_create failed (%d)", (int)st);
        return -1;
    }
    self->profile = profile;
    return 0;
}

static void Tx_dealloc(TxObject *self) {
    if (self->session != NULL) srtp_dealloc(self->session);
    Py_XDECREF(self->addr_obj);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Protect one plain RTP packet (e.g. a NACK retransmission) with this context. */
static PyObject *Tx_protect(TxObject *self, PyObject *arg) {
    Py_buffer pkt;
    if (self->session == NULL) {
        PyErr_SetString(FastpathError, "Tx is not keyed");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &pkt, PyBUF_SIMPLE) < 0) return NULL;
    if (pkt.len < 12 || pkt.len > 1500) {
        PyBuffer_Release(&pkt);
        PyErr_SetString(FastpathError, "packet length out of range");
        return NULL;
    }
    unsigned char buf[SLOT_LEN];
    int len = (int)pkt.len;
    memcpy(buf, pkt.buf, pkt.len);
    PyBuffer_Release(&pkt);
    srtp_err_status_t st = srtp_protect(self->session, buf, &len);
    if (st != srtp_err_status_ok) {
        PyErr_Format(FastpathError, "srtp_protect failed (%d)", (int)st);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)buf, len);
}

/* Resolve an (ip, port[, flowinfo, scope_id]) tuple into self->addr (IPv4 or IPv6, as the
   worker's socket reports them); cached by object identity. */
static int Tx_set_addr(TxObject *self, PyObject *addr) {
    if (addr == self->addr_obj) return 0;
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    if (!PyTuple_Check(addr) || !PyArg_ParseTuple(addr, "si|II", &host, &port, &flowinfo,
                                                  &scope_id)) {
        PyErr_Clear();
        PyErr_SetString(FastpathError, "address must be an (ip, port) tuple");
        return -1;
    }
    if (port < 0 || port > 65535) {
        PyErr_Format(FastpathError, "bad port %d", port);
        return -1;
    }
    struct sockaddr_in6 sa6;
    memset(&sa6, 0, sizeof(sa6));
    if (strchr(host, ':') != NULL) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)port);
        sa6.sin6_flowinfo = htonl(flowinfo);
        sa6.sin6_scope_id = scope_id;
        if (inet_pton(AF_INET6, host, &sa6.sin6_addr) != 1) {
            PyErr_Format(FastpathError, "not an IP address: %s", host);
            return -1;
        }
        self->addr_len = sizeof(struct sockaddr_in6);
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&sa6;
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
            PyErr_Format(FastpathError, "not an IP address: %s", host);
            return -1;
        }
        self->addr_len = sizeof(struct sockaddr_in);
    }
    self->addr = sa6;
    Py_INCREF(addr);
    Py_XSETREF(self->addr_obj, addr);
    return 0;
}

static PyMethodDef Tx_methods[] = {
    {"protect", (PyCFunction)Tx_protect, METH_O,
     "protect(packet) -> bytes: SRTP-protect one plain RTP packet with this context."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ilvb.sfu.fastpath._fastpath.Tx",
    .tp_basicsize = sizeof(TxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Tx(profile, key): one outbound SRTP context (libsrtp2 profile number, key+salt).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Tx_init,
    .tp_dealloc = (destructor)Tx_dealloc,
    .tp_methods = Tx_methods,
};

/* ---------------------------------------------------------------------------- forward */

/* sendmmsg the first n prepared messages; returns how many the kernel took. */
static int flush(int fd, int n) {
    int done = 0;
    while (done < n) {
        int r = sendmmsg(fd, msgs + done, (unsigned int)(n - done), 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* EAGAIN / ENOBUFS / ICMP-reported error: the message at `done` is lost, like a
               full send buffer in the Python path; skip it and keep going */
            done++;
            continue;
        }
        if (r == 0) break;
        done += r;
    }
    return done;
}

static PyObject *forward(PyObject *mod, PyObject *args) {
    int fd;
    Py_buffer data;
    Py_ssize_t header_len;
    PyObject *items;
    if (!PyArg_ParseTuple(args, "iy*nO!", &fd, &data, &header_len, &PyList_Type, &items))
        return NULL;
    const unsigned char *in = (const unsigned char *)data.buf;
    Py_ssize_t in_len = data.len;
    int cc = in_len >= 12 ? (in[0] & 0x0F) : 0;
    if (in_len < 12 || header_len < 12 + 4 * cc || header_len > in_len ||
        12 + 4 * cc + (in_len - header_len) > 1500) {
        PyBuffer_Release(&data);
        PyErr_SetString(FastpathError, "malformed RTP packet or header_len");
        return NULL;
    }
    const Py_ssize_t body = in_len - header_len;
    const int hdr = 12 + 4 * cc;
    Py_ssize_t count = PyList_GET_SIZE(items);
    long sent = 0, failed = 0;
    int n = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *it = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 6 ||
            !PyObject_TypeCheck(PyTuple_GET_ITEM(it, 0), &TxType)) {
            PyErr_SetString(FastpathError, "items must be (Tx, addr, pt, seq, ts, ssrc) tuples");
            goto error;
        }
        TxObject *tx = (TxObject *)PyTuple_GET_ITEM(it, 0);
        if (tx->session == NULL) {
            failed++;
            continue;
        }
        if (Tx_set_addr(tx, PyTuple_GET_ITEM(it, 1)) < 0) goto error;
        unsigned long pt = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 2));
        unsigned long seq = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 3));
        unsigned long ts = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 4));
        unsigned long ssrc = PyLong_AsUnsignedLongMask(PyTuple_GET_ITEM(it, 5));
        if (PyErr_Occurred()) goto error;
        unsigned char *out = bufs[n];
        out[0] = in[0] & 0xEF; /* V, P, CC kept; X cleared: extensions dropped */
        out[1] = (unsigned char)((in[1] & 0x80) | (pt & 0x7F));
        out[2] = (unsigned char)(seq >> 8);
        out[3] = (unsigned char)seq;
        out[4] = (unsigned char)(ts >> 24);
        out[5] = (unsigned char)(ts >> 16);
        out[6] = (unsigned char)(ts >> 8);
        out[7] = (unsigned char)ts;
        out[8] = (unsigned char)(ssrc >> 24);
        out[9] = (unsigned char)(ssrc >> 16);
        out[10] = (unsigned char)(ssrc >> 8);
        out[11] = (unsigned char)ssrc;
        if (cc) memcpy(out + 12, in + 12, (size_t)(4 * cc));
        memcpy(out + hdr, in + header_len, (size_t)body);
        int len = hdr + (int)body;
        if (srtp_protect(tx->session, out, &len) != srtp_err_status_ok) {
            failed++;
            continue;
        }
        iovs[n].iov_base = out;
        iovs[n].iov_len = (size_t)len;
        addrs[n] = tx->addr;
        memset(&msgs[n].msg_hdr, 0, sizeof(struct msghdr));
        msgs[n].msg_hdr.msg_name = &addrs[n];
        msgs[n].msg_hdr.msg_namelen = tx->addr_len;
        msgs[n].msg_hdr.msg_iov = &iovs[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
        n++;
        if (n == BATCH) {
            int ok = flush(fd, n);
            sent += ok;
            failed += n - ok;
            n = 0;
        }
    }
    if (n) {
        int ok = flush(fd, n);
        sent += ok;
        failed += n - ok;
    }
    PyBuffer_Release(&data);
    return Py_BuildValue("(ll)", sent, failed);
error:
    if (n) flush(fd, n); /* what was protected must go out: the SRTP index advanced */
    PyBuffer_Release(&data);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"forward", forward, METH_VARARGS,
     "forward(fd, data, header_len, items) -> (sent, failed).\n\n"
     "items: list of (Tx, (ip, port), payload_type, seq, timestamp, ssrc). For each, rewrite\n"
     "the header of the plain RTP packet `data` (payload starts at header_len), SRTP-protect\n"
     "it with Tx and send everything with sendmmsg on socket fd."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastpath",
    "Rewrite + SRTP protect + sendmmsg for one packet and its consumers (libsrtp2).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (srtp_init() != srtp_err_status_ok) {
        PyErr_SetString(PyExc_ImportError, "srtp_init failed");
        return NULL;
    }
    if (PyType_Ready(&TxType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    FastpathError = PyErr_NewException("ilvb.sfu.fastpath._fastpath.Error", NULL, NULL);
    Py_INCREF(FastpathError);
    PyModule_AddObject(m, "Error", FastpathError);
    Py_INCREF(&TxType);
    PyModule_AddObject(m, "Tx", (PyObject *)&TxType);
    PyModule_AddIntConstant(m, "BATCH", BATCH);
    return m;
}
