// DNS over QUIC client exchange: ngtcp2 (QUIC) + GnuTLS (TLS 1.3) from Debian, over one
// connected UDP socket. See include/dnsaudit_doq.h.
#define _GNU_SOURCE
#include "dnsaudit_doq.h"

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
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

// TLS 1.3 only, no middlebox compatibility mode (QUIC forbids it): as ngtcp2's own GnuTLS client.
static const char priority[] =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519:+GROUP-SECP384R1:+GROUP-SECP521R1";

typedef struct client {
    ngtcp2_crypto_conn_ref conn_ref;
    ngtcp2_conn *conn;
    gnutls_session_t session;
    int fd;
    int64_t stream_id;
    const uint8_t *out;  // 2-byte length + query
    size_t out_len;
    size_t out_sent;
    uint8_t *in;  // 2-byte length + answer, as received
    size_t in_cap;
    size_t in_len;
    int in_overflow;
    int stream_fin;
    int stream_closed;
    int handshake_completed;
    int crypto_received;  // the server's CRYPTO data decrypted: it speaks QUIC
} client;

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return ((client *)ref->user_data)->conn; }

static ngtcp2_tstamp now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ngtcp2_tstamp)ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp)ts.tv_nsec;
}

static void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *ctx) {
    (void)ctx;
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, destlen);
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user_data) {
    (void)conn;
    (void)user_data;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int recv_crypto_data_cb(ngtcp2_conn *conn, ngtcp2_crypto_level level, uint64_t offset, const uint8_t *data, size_t datalen,
                               void *user_data) {
    ((client *)user_data)->crypto_received = 1;
    return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, datalen, user_data);
}

static int handshake_completed_cb(ngtcp2_conn *conn, void *user_data) {
    (void)conn;
    ((client *)user_data)->handshake_completed = 1;
    return 0;
}

static int recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset, const uint8_t *data,
                               size_t datalen, void *user_data, void *stream_user_data) {
    (void)offset;
    (void)stream_user_data;
    client *c = user_data;
    if (stream_id == c->stream_id) {
        if (datalen > c->in_cap - c->in_len) {
            c->in_overflow = 1;
        } else {
            memcpy(c->in + c->in_len, data, datalen);
            c->in_len += datalen;
        }
        if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) c->stream_fin = 1;
    }
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
    ngtcp2_conn_extend_max_offset(conn, datalen);
    return 0;
}

static int stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code, void *user_data,
                           void *stream_user_data) {
    (void)conn;
    (void)flags;
    (void)app_error_code;
    (void)stream_user_data;
    client *c = user_data;
    if (stream_id == c->stream_id) c->stream_closed = 1;
    return 0;
}

static int answer_complete(const client *c) {
    if (c->in_len < 2) return 0;
    size_t need = ((size_t)c->in[0] << 8 | c->in[1]) + 2;
    return c->in_len >= need;
}

static void fail(dnsaudit_doq_result *r, int status, const char *fmt, const char *arg) {
    r->status = status;
    snprintf(r->detail, sizeof r->detail, fmt, arg ? arg : "");
}

/// The status for a socket error from send/recv on the connected socket (ICMP errors land here).
static int socket_status(int err) {
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

/// A handshake error: the certificate, or the handshake itself.
static void handshake_failure(client *c, dnsaudit_doq_result *r, const char *what) {
    unsigned int status = gnutls_session_get_verify_cert_status(c->session);
    r->verify_status = status;
    r->tls_alert = c->conn ? ngtcp2_conn_get_tls_alert(c->conn) : 0;
    if (status != 0) {
        gnutls_datum_t text = {NULL, 0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0 && text.data) {
            fail(r, DNSAUDIT_DOQ_CERT_UNTRUSTED, "certificate not trusted: %s", (const char *)text.data);
            gnutls_free(text.data);
        } else {
            fail(r, DNSAUDIT_DOQ_CERT_UNTRUSTED, "certificate not trusted%s", "");
        }
        return;
    }
    char buf[160];
    snprintf(buf, sizeof buf, "%s (TLS alert %d)", what, r->tls_alert);
    fail(r, DNSAUDIT_DOQ_HANDSHAKE_FAILED, "handshake failed: %s", buf);
}

/// Sends what ngtcp2 has to send (handshake, query, acknowledgements). Returns 0, or -1 with `r` set.
static int write_packets(client *c, dnsaudit_doq_result *r) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    for (;;) {
        ngtcp2_ssize consumed = -1;
        int64_t sid = -1;
        const uint8_t *data = NULL;
        size_t len = 0;
        uint32_t flags = 0;
        if (c->stream_id >= 0 && c->out_sent < c->out_len) {
            sid = c->stream_id;
            data = c->out + c->out_sent;
            len = c->out_len - c->out_sent;
            flags = NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_pkt_info pi;
        ngtcp2_ssize n = ngtcp2_conn_write_stream(c->conn, &ps.path, &pi, buf, sizeof buf, &consumed, flags, sid, data, len, now_ns());
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) return 0;
            if (n == NGTCP2_ERR_CRYPTO || n == NGTCP2_ERR_CALLBACK_FAILURE) {
                handshake_failure(c, r, ngtcp2_strerror((int)n));
                return -1;
            }
            fail(r, c->handshake_completed ? DNSAUDIT_DOQ_NO_ANSWER : DNSAUDIT_DOQ_HANDSHAKE_FAILED, "QUIC write: %s", ngtcp2_strerror((int)n));
            return -1;
        }
        if (consumed > 0) c->out_sent += (size_t)consumed;
        if (n == 0) return 0;
        if (send(c->fd, buf, (size_t)n, 0) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            r->sys_errno = errno;
            fail(r, socket_status(errno), "send: %s", strerror(errno));
            return -1;
        }
    }
}

/// Reads every waiting datagram. Returns 0, or -1 with `r` set.
static int read_packets(client *c, const ngtcp2_path *path, dnsaudit_doq_result *r) {
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            r->sys_errno = errno;
            fail(r, socket_status(errno), "recv: %s", strerror(errno));
            return -1;
        }
        r->packets_received++;
        ngtcp2_pkt_info pi = {0};
        int rv = ngtcp2_conn_read_pkt(c->conn, path, &pi, buf, (size_t)n, now_ns());
        if (rv == 0) continue;
        if (rv == NGTCP2_ERR_CRYPTO || rv == NGTCP2_ERR_CALLBACK_FAILURE) {
            handshake_failure(c, r, ngtcp2_strerror(rv));
            return -1;
        }
        if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING) {
            if (c->handshake_completed) {
                if (answer_complete(c)) return 0;
                fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the server closed the connection before answering%s", "");
            } else {
                handshake_failure(c, r, "the server closed the connection during the handshake");
            }
            return -1;
        }
        if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
            fail(r, DNSAUDIT_DOQ_HANDSHAKE_FAILED, "QUIC read: %s", ngtcp2_strerror(rv));
            return -1;
        }
        // Anything else: a packet that is not ours or not valid; ignore it (hostile input).
    }
}

int dnsaudit_doq_exchange(const char *address, int port, const char *verify_name, const char *sni, const char *ca_file,
                          int use_system_trust, const uint8_t *query, size_t query_len, int timeout_ms, uint8_t *answer,
                          size_t answer_cap, dnsaudit_doq_result *r) {
    memset(r, 0, sizeof *r);
    r->status = DNSAUDIT_DOQ_LOCAL_ERROR;
    if (!address || !query || query_len < 12 || query_len > 65535 || !answer || port <= 0 || port > 65535) {
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "bad arguments%s", "");
        return r->status;
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
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "not an IP address: %s", address);
        return r->status;
    }

    client c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.stream_id = -1;
    c.in_cap = answer_cap + 2;
    c.in = malloc(c.in_cap);
    uint8_t *out = malloc(query_len + 2);
    gnutls_certificate_credentials_t cred = NULL;
    if (!c.in || !out) {
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "out of memory%s", "");
        goto done;
    }
    out[0] = (uint8_t)(query_len >> 8);
    out[1] = (uint8_t)query_len;
    memcpy(out + 2, query, query_len);
    out[2] = 0;  // RFC 9250 §4.2.1: the DNS Message ID is 0
    out[3] = 0;
    c.out = out;
    c.out_len = query_len + 2;

    c.fd = socket(remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&remote, remote_len) != 0) {
        r->sys_errno = errno;
        fail(r, c.fd < 0 ? DNSAUDIT_DOQ_LOCAL_ERROR : socket_status(errno), "socket: %s", strerror(errno));
        goto done;
    }
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local;
    if (getsockname(c.fd, (struct sockaddr *)&local, &local_len) != 0) {
        r->sys_errno = errno;
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "getsockname: %s", strerror(errno));
        goto done;
    }

    // TLS: trust roots, the name to verify, ALPN "doq".
    if (gnutls_certificate_allocate_credentials(&cred) != 0) {
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "GnuTLS credentials%s", "");
        goto done;
    }
    if (use_system_trust) (void)gnutls_certificate_set_x509_system_trust(cred);
    if (ca_file && *ca_file && gnutls_certificate_set_x509_trust_file(cred, ca_file, GNUTLS_X509_FMT_PEM) <= 0) {
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "no usable CA certificate in %s", ca_file);
        goto done;
    }
    if (gnutls_init(&c.session, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA) != 0) {
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "gnutls_init failed%s", "");
        goto done;
    }
    if (gnutls_priority_set_direct(c.session, priority, NULL) != 0 || ngtcp2_crypto_gnutls_configure_client_session(c.session) != 0
        || gnutls_credentials_set(c.session, GNUTLS_CRD_CERTIFICATE, cred) != 0) {
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "GnuTLS session set-up failed%s", "");
        goto done;
    }
    c.conn_ref.get_conn = get_conn;
    c.conn_ref.user_data = &c;
    gnutls_session_set_ptr(c.session, &c.conn_ref);
    gnutls_datum_t alpn = {(unsigned char *)"doq", 3};
    gnutls_alpn_set_protocols(c.session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    const char *name = verify_name && *verify_name ? verify_name : address;
    gnutls_session_set_verify_cert(c.session, name, 0);
    if (sni && *sni) gnutls_server_name_set(c.session, GNUTLS_NAME_DNS, sni, strlen(sni));

    // QUIC.
    ngtcp2_path path = {
        .local = {(ngtcp2_sockaddr *)&local, (ngtcp2_socklen)local_len},
        .remote = {(ngtcp2_sockaddr *)&remote, (ngtcp2_socklen)remote_len},
        .user_data = NULL,
    };
    ngtcp2_callbacks callbacks = {
        .client_initial = ngtcp2_crypto_client_initial_cb,
        .recv_crypto_data = recv_crypto_data_cb,
        .handshake_completed = handshake_completed_cb,
        .encrypt = ngtcp2_crypto_encrypt_cb,
        .decrypt = ngtcp2_crypto_decrypt_cb,
        .hp_mask = ngtcp2_crypto_hp_mask_cb,
        .recv_stream_data = recv_stream_data_cb,
        .stream_close = stream_close_cb,
        .recv_retry = ngtcp2_crypto_recv_retry_cb,
        .rand = rand_cb,
        .get_new_connection_id = new_cid_cb,
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
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "random source failed%s", "");
        goto done;
    }
    ngtcp2_tstamp start = now_ns();
    ngtcp2_tstamp deadline = start + (ngtcp2_tstamp)timeout_ms * NGTCP2_MILLISECONDS;
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = start;
    settings.handshake_timeout = (ngtcp2_duration)timeout_ms * NGTCP2_MILLISECONDS;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_uni = 0;
    params.initial_max_streams_bidi = 0;
    params.initial_max_stream_data_bidi_local = 128 * 1024;
    params.initial_max_data = 1024 * 1024;
    params.max_idle_timeout = (ngtcp2_duration)timeout_ms * NGTCP2_MILLISECONDS;
    int rv = ngtcp2_conn_client_new(&c.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &callbacks, &settings, &params, NULL, &c);
    if (rv != 0) {
        fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "ngtcp2_conn_client_new: %s", ngtcp2_strerror(rv));
        goto done;
    }
    ngtcp2_conn_set_tls_native_handle(c.conn, c.session);

    for (;;) {
        if (c.handshake_completed && c.stream_id < 0) {
            rv = ngtcp2_conn_open_bidi_stream(c.conn, &c.stream_id, NULL);
            if (rv != 0 && rv != NGTCP2_ERR_STREAM_ID_BLOCKED) {
                fail(r, DNSAUDIT_DOQ_NO_ANSWER, "cannot open a stream: %s", ngtcp2_strerror(rv));
                goto done;
            }
        }
        if (write_packets(&c, r) != 0) goto done;
        if (answer_complete(&c) || c.in_overflow) break;
        if (c.stream_closed || c.stream_fin) {
            fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the stream ended without a complete answer%s", "");
            goto done;
        }
        ngtcp2_tstamp now = now_ns();
        if (now >= deadline) {
            if (r->packets_received == 0) {
                fail(r, DNSAUDIT_DOQ_TIMEOUT_SILENT, "no packet from the server in %s", "the time allowed");
            } else if (!c.crypto_received) {
                fail(r, DNSAUDIT_DOQ_NOT_QUIC, "%s", "datagrams came back, none of them a QUIC handshake packet for this connection");
            } else {
                fail(r, c.handshake_completed ? DNSAUDIT_DOQ_TIMEOUT_PARTIAL : DNSAUDIT_DOQ_TIMEOUT_PARTIAL,
                     c.handshake_completed ? "handshake completed, no answer in time%s" : "the handshake did not complete in time%s", "");
            }
            goto done;
        }
        ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(c.conn);
        ngtcp2_tstamp wake = expiry < deadline ? expiry : deadline;
        int wait_ms = wake > now ? (int)((wake - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS) : 0;
        struct pollfd pfd = {c.fd, POLLIN, 0};
        int pr = poll(&pfd, 1, wait_ms);
        if (pr < 0 && errno != EINTR) {
            r->sys_errno = errno;
            fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "poll: %s", strerror(errno));
            goto done;
        }
        if (pr > 0) {
            if (read_packets(&c, &path, r) != 0) goto done;
            if (answer_complete(&c)) break;
        }
        rv = ngtcp2_conn_handle_expiry(c.conn, now_ns());
        if (rv != 0) {
            if (r->packets_received == 0) {
                fail(r, DNSAUDIT_DOQ_TIMEOUT_SILENT, "no packet from the server (%s)", ngtcp2_strerror(rv));
            } else if (!c.crypto_received) {
                fail(r, DNSAUDIT_DOQ_NOT_QUIC, "%s", "datagrams came back, none of them a QUIC handshake packet for this connection");
            } else {
                fail(r, DNSAUDIT_DOQ_TIMEOUT_PARTIAL, "timed out (%s)", ngtcp2_strerror(rv));
            }
            goto done;
        }
    }

    r->handshake_completed = c.handshake_completed;
    if (c.in_overflow || !answer_complete(&c)) {
        fail(r, DNSAUDIT_DOQ_NO_ANSWER, "answer larger than the buffer%s", "");
        goto done;
    }
    {
        size_t len = (size_t)c.in[0] << 8 | c.in[1];
        memcpy(answer, c.in + 2, len);
        r->answer_len = len;
        r->status = DNSAUDIT_DOQ_OK;
        r->detail[0] = 0;
    }
    // Close politely (best effort): one CONNECTION_CLOSE with NO_ERROR.
    {
        uint8_t buf[1500];
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_connection_close_error ccerr;
        ngtcp2_connection_close_error_default(&ccerr);
        ngtcp2_pkt_info pi;
        ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c.conn, &ps.path, &pi, buf, sizeof buf, &ccerr, now_ns());
        if (n > 0) (void)send(c.fd, buf, (size_t)n, 0);
    }

done:
    r->handshake_completed = c.handshake_completed;
    if (c.conn) ngtcp2_conn_del(c.conn);
    if (c.session) gnutls_deinit(c.session);
    if (cred) gnutls_certificate_free_credentials(cred);
    if (c.fd >= 0) close(c.fd);
    free(c.in);
    free(out);
    return r->status;
}
