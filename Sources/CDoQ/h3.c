// DoH over HTTP/3 (ngtcp2 + GnuTLS + nghttp3 from Debian) and a handshake-only QUIC connection that
// returns the server's certificates. See include/dnsaudit_h3.h. The QUIC loop follows doq.c.
#define _GNU_SOURCE
#include "dnsaudit_h3.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

static const char h3_priority[] =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519:+GROUP-SECP384R1:+GROUP-SECP521R1";

typedef struct h3client {
    ngtcp2_crypto_conn_ref conn_ref;
    ngtcp2_conn *conn;
    gnutls_session_t session;
    nghttp3_conn *h3;
    int fd;
    int handshake_only;
    int64_t stream_id;
    uint8_t *body;
    size_t body_cap;
    size_t body_len;
    int body_overflow;
    int response_done;  // end_stream on the request stream
    int stream_closed;
    int handshake_completed;
    int crypto_received;
    int http_status;
    char content_type[96];
} h3client;

static ngtcp2_conn *h3_get_conn(ngtcp2_crypto_conn_ref *ref) { return ((h3client *)ref->user_data)->conn; }

static ngtcp2_tstamp h3_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ngtcp2_tstamp)ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp)ts.tv_nsec;
}

static void h3_rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *ctx) {
    (void)ctx;
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, destlen);
}

static int h3_new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user_data) {
    (void)conn;
    (void)user_data;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int h3_recv_crypto_data_cb(ngtcp2_conn *conn, ngtcp2_crypto_level level, uint64_t offset, const uint8_t *data,
                                  size_t datalen, void *user_data) {
    ((h3client *)user_data)->crypto_received = 1;
    return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, datalen, user_data);
}

static int h3_handshake_completed_cb(ngtcp2_conn *conn, void *user_data) {
    (void)conn;
    ((h3client *)user_data)->handshake_completed = 1;
    return 0;
}

// QUIC → HTTP/3: stream data, acknowledgements, flow control, stream ends.
static int h3_recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset, const uint8_t *data,
                                  size_t datalen, void *user_data, void *stream_user_data) {
    (void)offset;
    (void)stream_user_data;
    h3client *c = user_data;
    if (!c->h3) {
        ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
        ngtcp2_conn_extend_max_offset(conn, datalen);
        return 0;
    }
    nghttp3_ssize consumed =
        nghttp3_conn_read_stream(c->h3, stream_id, data, datalen, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) ? 1 : 0);
    if (consumed < 0) return NGTCP2_ERR_CALLBACK_FAILURE;  // a malformed HTTP/3 peer: the connection fails
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, (uint64_t)consumed);
    ngtcp2_conn_extend_max_offset(conn, (uint64_t)consumed);
    return 0;
}

static int h3_acked_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset, uint64_t datalen, void *user_data,
                       void *stream_user_data) {
    (void)conn;
    (void)offset;
    (void)stream_user_data;
    h3client *c = user_data;
    if (c->h3 && nghttp3_conn_add_ack_offset(c->h3, stream_id, datalen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int h3_extend_max_stream_data_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t max_data, void *user_data,
                                        void *stream_user_data) {
    (void)conn;
    (void)max_data;
    (void)stream_user_data;
    h3client *c = user_data;
    if (c->h3 && nghttp3_conn_unblock_stream(c->h3, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int h3_stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code, void *user_data,
                              void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) app_error_code = NGHTTP3_H3_NO_ERROR;
    if (c->h3) {
        int rv = nghttp3_conn_close_stream(c->h3, stream_id, app_error_code);
        if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int h3_stream_reset_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size, uint64_t app_error_code,
                              void *user_data, void *stream_user_data) {
    (void)conn;
    (void)final_size;
    (void)app_error_code;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    if (c->h3 && nghttp3_conn_shutdown_stream_read(c->h3, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

// HTTP/3 callbacks: the response's status, content-type, body and end.
static int h3_recv_header_cb(nghttp3_conn *conn, int64_t stream_id, int32_t token, nghttp3_rcbuf *name, nghttp3_rcbuf *value,
                             uint8_t flags, void *user_data, void *stream_user_data) {
    (void)conn;
    (void)flags;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id != c->stream_id) return 0;
    nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
    if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
        int s = 0;
        for (size_t i = 0; i < v.len && i < 3; i++) {
            if (v.base[i] < '0' || v.base[i] > '9') return 0;
            s = s * 10 + (v.base[i] - '0');
        }
        if (v.len == 3) c->http_status = s;
    } else if (token == NGHTTP3_QPACK_TOKEN_CONTENT_TYPE) {
        size_t n = v.len < sizeof c->content_type - 1 ? v.len : sizeof c->content_type - 1;
        memcpy(c->content_type, v.base, n);
        c->content_type[n] = 0;
    }
    (void)name;
    return 0;
}

static int h3_recv_data_cb(nghttp3_conn *conn, int64_t stream_id, const uint8_t *data, size_t datalen, void *user_data,
                           void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) {
        if (datalen > c->body_cap - c->body_len) {
            c->body_overflow = 1;
        } else {
            memcpy(c->body + c->body_len, data, datalen);
            c->body_len += datalen;
        }
    }
    ngtcp2_conn_extend_max_stream_offset(c->conn, stream_id, datalen);
    ngtcp2_conn_extend_max_offset(c->conn, datalen);
    return 0;
}

static int h3_deferred_consume_cb(nghttp3_conn *conn, int64_t stream_id, size_t consumed, void *user_data,
                                  void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    ngtcp2_conn_extend_max_stream_offset(c->conn, stream_id, consumed);
    ngtcp2_conn_extend_max_offset(c->conn, consumed);
    return 0;
}

static int h3_end_stream_cb(nghttp3_conn *conn, int64_t stream_id, void *user_data, void *stream_user_data) {
    (void)conn;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->response_done = 1;
    return 0;
}

static int h3_http_stream_close_cb(nghttp3_conn *conn, int64_t stream_id, uint64_t app_error_code, void *user_data,
                                   void *stream_user_data) {
    (void)conn;
    (void)app_error_code;
    (void)stream_user_data;
    h3client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    return 0;
}

static void h3_fail(dnsaudit_h3_result *r, int status, const char *fmt, const char *arg) {
    r->quic.status = status;
    snprintf(r->quic.detail, sizeof r->quic.detail, fmt, arg ? arg : "");
}

static int h3_socket_status(int err) {
    switch (err) {
    case ECONNREFUSED: return DNSAUDIT_DOQ_REFUSED;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENONET: return DNSAUDIT_DOQ_UNREACHABLE;
    case EPERM:
    case EACCES: return DNSAUDIT_DOQ_BLOCKED_LOCALLY;
    default: return DNSAUDIT_DOQ_LOCAL_ERROR;
    }
}

static void h3_handshake_failure(h3client *c, dnsaudit_h3_result *r, const char *what) {
    unsigned int status = c->handshake_only ? 0 : gnutls_session_get_verify_cert_status(c->session);
    r->quic.verify_status = status;
    r->quic.tls_alert = c->conn ? ngtcp2_conn_get_tls_alert(c->conn) : 0;
    if (status != 0) {
        gnutls_datum_t text = {NULL, 0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0 && text.data) {
            h3_fail(r, DNSAUDIT_DOQ_CERT_UNTRUSTED, "certificate not trusted: %s", (const char *)text.data);
            gnutls_free(text.data);
        } else {
            h3_fail(r, DNSAUDIT_DOQ_CERT_UNTRUSTED, "certificate not trusted%s", "");
        }
        return;
    }
    char buf[160];
    snprintf(buf, sizeof buf, "%s (TLS alert %d)", what, r->quic.tls_alert);
    h3_fail(r, DNSAUDIT_DOQ_HANDSHAKE_FAILED, "handshake failed: %s", buf);
}

/// Sends what ngtcp2 and nghttp3 have to send. Returns 0, or -1 with `r` set.
static int h3_write_packets(h3client *c, dnsaudit_h3_result *r) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    for (int rounds = 0; rounds < 4096; rounds++) {
        int64_t sid = -1;
        int fin = 0;
        nghttp3_vec vec[16];
        nghttp3_ssize veccnt = 0;
        if (c->h3 && ngtcp2_conn_get_max_data_left(c->conn) > 0) {
            veccnt = nghttp3_conn_writev_stream(c->h3, &sid, &fin, vec, 16);
            if (veccnt < 0) {
                h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "HTTP/3: %s", nghttp3_strerror((int)veccnt));
                return -1;
            }
        }
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        ngtcp2_ssize datalen = -1;
        ngtcp2_pkt_info pi;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, buf, sizeof buf, &datalen, flags, sid,
                                                   (const ngtcp2_vec *)vec, (size_t)veccnt, h3_now());
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
                nghttp3_conn_block_stream(c->h3, sid);
                continue;
            }
            if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
                nghttp3_conn_shutdown_stream_write(c->h3, sid);
                continue;
            }
            if (n == NGTCP2_ERR_WRITE_MORE) {
                if (c->h3 && nghttp3_conn_add_write_offset(c->h3, sid, (size_t)datalen) != 0) {
                    h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "HTTP/3 write offset%s", "");
                    return -1;
                }
                continue;
            }
            if (n == NGTCP2_ERR_CRYPTO || n == NGTCP2_ERR_CALLBACK_FAILURE) {
                h3_handshake_failure(c, r, ngtcp2_strerror((int)n));
                return -1;
            }
            h3_fail(r, c->handshake_completed ? DNSAUDIT_DOQ_NO_ANSWER : DNSAUDIT_DOQ_HANDSHAKE_FAILED, "QUIC write: %s",
                    ngtcp2_strerror((int)n));
            return -1;
        }
        if (datalen >= 0 && c->h3 && nghttp3_conn_add_write_offset(c->h3, sid, (size_t)datalen) != 0) {
            h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "HTTP/3 write offset%s", "");
            return -1;
        }
        if (n == 0) return 0;
        if (send(c->fd, buf, (size_t)n, 0) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            r->quic.sys_errno = errno;
            h3_fail(r, h3_socket_status(errno), "send: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int h3_finished(const h3client *c) { return c->handshake_only ? c->handshake_completed : c->response_done; }

/// Reads every waiting datagram. Returns 0, or -1 with `r` set.
static int h3_read_packets(h3client *c, const ngtcp2_path *path, dnsaudit_h3_result *r) {
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            r->quic.sys_errno = errno;
            h3_fail(r, h3_socket_status(errno), "recv: %s", strerror(errno));
            return -1;
        }
        r->quic.packets_received++;
        ngtcp2_pkt_info pi = {0};
        int rv = ngtcp2_conn_read_pkt(c->conn, path, &pi, buf, (size_t)n, h3_now());
        if (rv == 0) continue;
        if (rv == NGTCP2_ERR_CRYPTO || (rv == NGTCP2_ERR_CALLBACK_FAILURE && !c->handshake_completed)) {
            h3_handshake_failure(c, r, ngtcp2_strerror(rv));
            return -1;
        }
        if (rv == NGTCP2_ERR_CALLBACK_FAILURE) {
            h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the server's HTTP/3 is malformed%s", "");
            return -1;
        }
        if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING) {
            if (c->handshake_completed) {
                if (h3_finished(c)) return 0;
                h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the server closed the connection before answering%s", "");
            } else {
                h3_handshake_failure(c, r, "the server closed the connection during the handshake");
            }
            return -1;
        }
        if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
            h3_fail(r, DNSAUDIT_DOQ_HANDSHAKE_FAILED, "QUIC read: %s", ngtcp2_strerror(rv));
            return -1;
        }
        // Anything else: not ours or not valid; ignore it (hostile input).
    }
}

/// The HTTP/3 session once the handshake is done: control and QPACK streams, then the GET.
static int h3_start(h3client *c, const char *authority, const char *path, dnsaudit_h3_result *r) {
    nghttp3_callbacks cb = {
        .stream_close = h3_http_stream_close_cb,
        .recv_data = h3_recv_data_cb,
        .deferred_consume = h3_deferred_consume_cb,
        .recv_header = h3_recv_header_cb,
        .end_stream = h3_end_stream_cb,
    };
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    if (nghttp3_conn_client_new(&c->h3, &cb, &settings, NULL, c) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "nghttp3_conn_client_new failed%s", "");
        return -1;
    }
    int64_t ctrl, qenc, qdec;
    if (ngtcp2_conn_open_uni_stream(c->conn, &ctrl, NULL) != 0 || ngtcp2_conn_open_uni_stream(c->conn, &qenc, NULL) != 0
        || ngtcp2_conn_open_uni_stream(c->conn, &qdec, NULL) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the server allows too few unidirectional streams for HTTP/3%s", "");
        return -1;
    }
    if (nghttp3_conn_bind_control_stream(c->h3, ctrl) != 0 || nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "HTTP/3 stream set-up failed%s", "");
        return -1;
    }
    if (ngtcp2_conn_open_bidi_stream(c->conn, &c->stream_id, NULL) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "cannot open a request stream%s", "");
        return -1;
    }
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP3_NV_FLAG_NONE}
    const nghttp3_nv nva[] = {
        NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", authority), NV(":path", path),
        NV("accept", "application/dns-message"), NV("user-agent", "dnsaudit"),
    };
#undef NV
    if (nghttp3_conn_submit_request(c->h3, c->stream_id, nva, sizeof nva / sizeof nva[0], NULL, NULL) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "cannot submit the request%s", "");
        return -1;
    }
    return 0;
}

static int h3_run(const char *address, int port, const char *verify_name, const char *sni, const char *ca_file,
                  int use_system_trust, const char *alpn_id, const char *authority, const char *path, int timeout_ms,
                  uint8_t *out, size_t out_cap, size_t *out_len, dnsaudit_h3_result *r) {
    int handshake_only = authority == NULL;
    memset(r, 0, sizeof *r);
    r->quic.status = DNSAUDIT_DOQ_LOCAL_ERROR;
    if (out_len) *out_len = 0;
    if (!address || !alpn_id || !*alpn_id || strlen(alpn_id) > 255 || !out || !out_len || port <= 0 || port > 65535
        || (!handshake_only && (!path || strlen(path) > 4096 || strlen(authority) > 512))) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "bad arguments%s", "");
        return r->quic.status;
    }
    if (timeout_ms < 100) timeout_ms = 100;

    struct sockaddr_storage remote;
    memset(&remote, 0, sizeof remote);
    socklen_t remote_len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&remote;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&remote;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        remote_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        remote_len = sizeof *v6;
    } else {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "not an IP address: %s", address);
        return r->quic.status;
    }

    h3client c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.stream_id = -1;
    c.handshake_only = handshake_only;
    c.body = out;
    c.body_cap = out_cap;
    gnutls_certificate_credentials_t cred = NULL;

    c.fd = socket(remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&remote, remote_len) != 0) {
        r->quic.sys_errno = errno;
        h3_fail(r, c.fd < 0 ? DNSAUDIT_DOQ_LOCAL_ERROR : h3_socket_status(errno), "socket: %s", strerror(errno));
        goto done;
    }
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local;
    if (getsockname(c.fd, (struct sockaddr *)&local, &local_len) != 0) {
        r->quic.sys_errno = errno;
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "getsockname: %s", strerror(errno));
        goto done;
    }

    if (gnutls_certificate_allocate_credentials(&cred) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "GnuTLS credentials%s", "");
        goto done;
    }
    if (!handshake_only) {
        if (use_system_trust) (void)gnutls_certificate_set_x509_system_trust(cred);
        if (ca_file && *ca_file && gnutls_certificate_set_x509_trust_file(cred, ca_file, GNUTLS_X509_FMT_PEM) <= 0) {
            h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "no usable CA certificate in %s", ca_file);
            goto done;
        }
    }
    if (gnutls_init(&c.session, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "gnutls_init failed%s", "");
        goto done;
    }
    if (gnutls_priority_set_direct(c.session, h3_priority, NULL) != 0 || ngtcp2_crypto_gnutls_configure_client_session(c.session) != 0
        || gnutls_credentials_set(c.session, GNUTLS_CRD_CERTIFICATE, cred) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "GnuTLS session set-up failed%s", "");
        goto done;
    }
    c.conn_ref.get_conn = h3_get_conn;
    c.conn_ref.user_data = &c;
    gnutls_session_set_ptr(c.session, &c.conn_ref);
    gnutls_datum_t alpn = {(unsigned char *)alpn_id, (unsigned int)strlen(alpn_id)};
    gnutls_alpn_set_protocols(c.session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    if (!handshake_only) {
        const char *name = verify_name && *verify_name ? verify_name : address;
        gnutls_session_set_verify_cert(c.session, name, 0);
    }
    if (sni && *sni) gnutls_server_name_set(c.session, GNUTLS_NAME_DNS, sni, strlen(sni));

    ngtcp2_path npath = {
        .local = {(ngtcp2_sockaddr *)&local, (ngtcp2_socklen)local_len},
        .remote = {(ngtcp2_sockaddr *)&remote, (ngtcp2_socklen)remote_len},
        .user_data = NULL,
    };
    ngtcp2_callbacks callbacks = {
        .client_initial = ngtcp2_crypto_client_initial_cb,
        .recv_crypto_data = h3_recv_crypto_data_cb,
        .handshake_completed = h3_handshake_completed_cb,
        .encrypt = ngtcp2_crypto_encrypt_cb,
        .decrypt = ngtcp2_crypto_decrypt_cb,
        .hp_mask = ngtcp2_crypto_hp_mask_cb,
        .recv_stream_data = h3_recv_stream_data_cb,
        .acked_stream_data_offset = h3_acked_cb,
        .stream_close = h3_stream_close_cb,
        .stream_reset = h3_stream_reset_cb,
        .extend_max_stream_data = h3_extend_max_stream_data_cb,
        .recv_retry = ngtcp2_crypto_recv_retry_cb,
        .rand = h3_rand_cb,
        .get_new_connection_id = h3_new_cid_cb,
        .update_key = ngtcp2_crypto_update_key_cb,
        .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
        .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
        .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
        .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
    };
    ngtcp2_cid dcid, scid;
    dcid.datalen = NGTCP2_MIN_INITIAL_DCIDLEN + 8;
    scid.datalen = 8;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0 || gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "random source failed%s", "");
        goto done;
    }
    ngtcp2_tstamp start = h3_now();
    ngtcp2_tstamp deadline = start + (ngtcp2_tstamp)timeout_ms * NGTCP2_MILLISECONDS;
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = start;
    settings.handshake_timeout = (ngtcp2_duration)timeout_ms * NGTCP2_MILLISECONDS;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_uni = 3;  // the server's control and QPACK streams
    params.initial_max_streams_bidi = 0;
    params.initial_max_stream_data_bidi_local = 256 * 1024;
    params.initial_max_stream_data_uni = 64 * 1024;
    params.initial_max_data = 1024 * 1024;
    params.max_idle_timeout = (ngtcp2_duration)timeout_ms * NGTCP2_MILLISECONDS;
    int rv = ngtcp2_conn_client_new(&c.conn, &dcid, &scid, &npath, NGTCP2_PROTO_VER_V1, &callbacks, &settings, &params, NULL, &c);
    if (rv != 0) {
        h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "ngtcp2_conn_client_new: %s", ngtcp2_strerror(rv));
        goto done;
    }
    ngtcp2_conn_set_tls_native_handle(c.conn, c.session);

    for (;;) {
        if (c.handshake_completed && !handshake_only && !c.h3) {
            if (h3_start(&c, authority, path, r) != 0) goto done;
        }
        if (h3_write_packets(&c, r) != 0) goto done;
        if (h3_finished(&c)) break;
        if (c.stream_closed) {
            h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the request stream ended without a complete response%s", "");
            goto done;
        }
        ngtcp2_tstamp now = h3_now();
        if (now >= deadline) {
            if (r->quic.packets_received == 0) {
                h3_fail(r, DNSAUDIT_DOQ_TIMEOUT_SILENT, "no packet from the server in %s", "the time allowed");
            } else if (!c.crypto_received) {
                h3_fail(r, DNSAUDIT_DOQ_NOT_QUIC, "%s", "datagrams came back, none of them a QUIC handshake packet for this connection");
            } else {
                h3_fail(r, DNSAUDIT_DOQ_TIMEOUT_PARTIAL,
                        c.handshake_completed ? "handshake completed, no response in time%s" : "the handshake did not complete in time%s", "");
            }
            goto done;
        }
        ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(c.conn);
        ngtcp2_tstamp wake = expiry < deadline ? expiry : deadline;
        int wait_ms = wake > now ? (int)((wake - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS) : 0;
        struct pollfd pfd = {c.fd, POLLIN, 0};
        int pr = poll(&pfd, 1, wait_ms);
        if (pr < 0 && errno != EINTR) {
            r->quic.sys_errno = errno;
            h3_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "poll: %s", strerror(errno));
            goto done;
        }
        if (pr > 0) {
            if (h3_read_packets(&c, &npath, r) != 0) goto done;
            if (h3_finished(&c)) break;
        }
        rv = ngtcp2_conn_handle_expiry(c.conn, h3_now());
        if (rv != 0) {
            if (r->quic.packets_received == 0) {
                h3_fail(r, DNSAUDIT_DOQ_TIMEOUT_SILENT, "no packet from the server (%s)", ngtcp2_strerror(rv));
            } else if (!c.crypto_received) {
                h3_fail(r, DNSAUDIT_DOQ_NOT_QUIC, "%s", "datagrams came back, none of them a QUIC handshake packet for this connection");
            } else {
                h3_fail(r, DNSAUDIT_DOQ_TIMEOUT_PARTIAL, "timed out (%s)", ngtcp2_strerror(rv));
            }
            goto done;
        }
    }

    if (handshake_only) {
        unsigned int n = 0;
        const gnutls_datum_t *certs = gnutls_certificate_get_peers(c.session, &n);
        size_t used = 0;
        for (unsigned int i = 0; certs && i < n && i < 16; i++) {
            if (certs[i].size == 0 || certs[i].size > 0xFFFFFF || certs[i].size + 3 > out_cap - used) break;
            out[used] = (uint8_t)(certs[i].size >> 16);
            out[used + 1] = (uint8_t)(certs[i].size >> 8);
            out[used + 2] = (uint8_t)certs[i].size;
            memcpy(out + used + 3, certs[i].data, certs[i].size);
            used += certs[i].size + 3;
            r->certificates++;
        }
        *out_len = used;
    } else {
        if (c.body_overflow) {
            h3_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "response body larger than the buffer%s", "");
            goto done;
        }
        *out_len = c.body_len;
        r->http_status = c.http_status;
        memcpy(r->content_type, c.content_type, sizeof r->content_type);
    }
    r->quic.status = DNSAUDIT_DOQ_OK;
    r->quic.detail[0] = 0;
    {
        uint8_t buf[1500];
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_connection_close_error ccerr;
        ngtcp2_connection_close_error_default(&ccerr);
        if (c.h3) ngtcp2_connection_close_error_set_application_error(&ccerr, NGHTTP3_H3_NO_ERROR, NULL, 0);
        ngtcp2_pkt_info pi;
        ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c.conn, &ps.path, &pi, buf, sizeof buf, &ccerr, h3_now());
        if (n > 0) (void)send(c.fd, buf, (size_t)n, 0);
    }

done:
    r->quic.handshake_completed = c.handshake_completed;
    if (c.h3) nghttp3_conn_del(c.h3);
    if (c.conn) ngtcp2_conn_del(c.conn);
    if (c.session) gnutls_deinit(c.session);
    if (cred) gnutls_certificate_free_credentials(cred);
    if (c.fd >= 0) close(c.fd);
    return r->quic.status;
}

int dnsaudit_doh3_get(const char *address, int port, const char *verify_name, const char *sni, const char *ca_file,
                      int use_system_trust, const char *authority, const char *path, int timeout_ms, uint8_t *body,
                      size_t body_cap, size_t *body_len, dnsaudit_h3_result *result) {
    if (!authority) {
        memset(result, 0, sizeof *result);
        h3_fail(result, DNSAUDIT_DOQ_LOCAL_ERROR, "no authority%s", "");
        return result->quic.status;
    }
    return h3_run(address, port, verify_name, sni, ca_file, use_system_trust, "h3", authority, path, timeout_ms, body, body_cap,
                  body_len, result);
}

int dnsaudit_quic_peer_chain(const char *address, int port, const char *sni, const char *alpn, int timeout_ms, uint8_t *chain,
                             size_t chain_cap, size_t *chain_len, dnsaudit_h3_result *result) {
    return h3_run(address, port, NULL, sni, NULL, 0, alpn, NULL, NULL, timeout_ms, chain, chain_cap, chain_len, result);
}
