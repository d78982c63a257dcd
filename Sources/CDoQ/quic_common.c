// The QUIC client steps doq.c and h3.c share. See quic_common.h.
#define _GNU_SOURCE
#include "quic_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

// TLS 1.3 only, no middlebox compatibility mode (QUIC forbids it): as ngtcp2's own GnuTLS client.
static const char priority[] =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519:+GROUP-SECP384R1:+GROUP-SECP521R1";

ngtcp2_tstamp dnsaudit_quic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ngtcp2_tstamp)ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp)ts.tv_nsec;
}

void dnsaudit_quic_fail(dnsaudit_doq_result *r, int status, const char *fmt, const char *arg) {
    r->status = status;
    snprintf(r->detail, sizeof r->detail, fmt, arg ? arg : "");
}

int dnsaudit_quic_socket_status(int err) {
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

void dnsaudit_quic_handshake_failure(const dnsaudit_quic *q, dnsaudit_doq_result *r, const char *what) {
    unsigned int status = q->verify ? gnutls_session_get_verify_cert_status(q->session) : 0;
    r->verify_status = status;
    r->tls_alert = q->conn ? ngtcp2_conn_get_tls_alert(q->conn) : 0;
    if (status != 0) {
        gnutls_datum_t text = {NULL, 0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0 && text.data) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_CERT_UNTRUSTED, "certificate not trusted: %s", (const char *)text.data);
            gnutls_free(text.data);
        } else {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_CERT_UNTRUSTED, "certificate not trusted%s", "");
        }
        return;
    }
    char buf[160];
    snprintf(buf, sizeof buf, "%s (TLS alert %d)", what, r->tls_alert);
    dnsaudit_quic_fail(r, DNSAUDIT_DOQ_HANDSHAKE_FAILED, "handshake failed: %s", buf);
}

void dnsaudit_quic_init(dnsaudit_quic *q, int verify) {
    memset(q, 0, sizeof *q);
    q->fd = -1;
    q->verify = verify;
}

int dnsaudit_quic_open_socket(dnsaudit_quic *q, const char *address, int port, dnsaudit_doq_result *r) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&q->remote;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&q->remote;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        q->remote_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        q->remote_len = sizeof *v6;
    } else {
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "not an IP address: %s", address);
        return -1;
    }
    q->fd = socket(q->remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&q->remote, q->remote_len) != 0) {
        r->sys_errno = errno;
        dnsaudit_quic_fail(r, q->fd < 0 ? DNSAUDIT_DOQ_LOCAL_ERROR : dnsaudit_quic_socket_status(errno), "socket: %s", strerror(errno));
        return -1;
    }
    q->local_len = sizeof q->local;
    if (getsockname(q->fd, (struct sockaddr *)&q->local, &q->local_len) != 0) {
        r->sys_errno = errno;
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "getsockname: %s", strerror(errno));
        return -1;
    }
    q->path.local.addr = (ngtcp2_sockaddr *)&q->local;
    q->path.local.addrlen = (ngtcp2_socklen)q->local_len;
    q->path.remote.addr = (ngtcp2_sockaddr *)&q->remote;
    q->path.remote.addrlen = (ngtcp2_socklen)q->remote_len;
    q->path.user_data = NULL;
    return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return ((dnsaudit_quic *)ref->user_data)->conn; }

int dnsaudit_quic_tls(dnsaudit_quic *q, const char *alpn_id, const char *address, const char *verify_name, const char *sni,
                      const char *ca_file, int use_system_trust, dnsaudit_doq_result *r) {
    if (gnutls_certificate_allocate_credentials(&q->cred) != 0) {
        q->cred = NULL;
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "GnuTLS credentials%s", "");
        return -1;
    }
    if (q->verify) {
        if (use_system_trust) (void)gnutls_certificate_set_x509_system_trust(q->cred);
        if (ca_file && *ca_file && gnutls_certificate_set_x509_trust_file(q->cred, ca_file, GNUTLS_X509_FMT_PEM) <= 0) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "no usable CA certificate in %s", ca_file);
            return -1;
        }
    }
    if (gnutls_init(&q->session, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA) != 0) {
        q->session = NULL;
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "gnutls_init failed%s", "");
        return -1;
    }
    if (gnutls_priority_set_direct(q->session, priority, NULL) != 0 || ngtcp2_crypto_gnutls_configure_client_session(q->session) != 0
        || gnutls_credentials_set(q->session, GNUTLS_CRD_CERTIFICATE, q->cred) != 0) {
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "GnuTLS session set-up failed%s", "");
        return -1;
    }
    q->conn_ref.get_conn = get_conn;
    q->conn_ref.user_data = q;
    gnutls_session_set_ptr(q->session, &q->conn_ref);
    gnutls_datum_t alpn = {(unsigned char *)alpn_id, (unsigned int)strlen(alpn_id)};
    gnutls_alpn_set_protocols(q->session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    if (q->verify) {
        const char *name = verify_name && *verify_name ? verify_name : address;
        gnutls_session_set_verify_cert(q->session, name, 0);
    }
    if (sni && *sni) gnutls_server_name_set(q->session, GNUTLS_NAME_DNS, sni, strlen(sni));
    return 0;
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
    ((dnsaudit_quic *)user_data)->crypto_received = 1;
    return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, datalen, user_data);
}

static int handshake_completed_cb(ngtcp2_conn *conn, void *user_data) {
    (void)conn;
    ((dnsaudit_quic *)user_data)->handshake_completed = 1;
    return 0;
}

void dnsaudit_quic_callbacks(ngtcp2_callbacks *cb) {
    memset(cb, 0, sizeof *cb);
    cb->client_initial = ngtcp2_crypto_client_initial_cb;
    cb->recv_crypto_data = recv_crypto_data_cb;
    cb->handshake_completed = handshake_completed_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb->rand = rand_cb;
    cb->get_new_connection_id = new_cid_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
}

int dnsaudit_quic_connect(dnsaudit_quic *q, const ngtcp2_callbacks *cb, ngtcp2_transport_params *params, int timeout_ms,
                          void *user_data, dnsaudit_doq_result *r) {
    ngtcp2_cid dcid, scid;
    dcid.datalen = NGTCP2_MIN_INITIAL_DCIDLEN + 8;
    scid.datalen = 8;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0 || gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "random source failed%s", "");
        return -1;
    }
    ngtcp2_tstamp start = dnsaudit_quic_now();
    q->deadline = start + (ngtcp2_tstamp)timeout_ms * NGTCP2_MILLISECONDS;
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = start;
    settings.handshake_timeout = (ngtcp2_duration)timeout_ms * NGTCP2_MILLISECONDS;
    params->max_idle_timeout = (ngtcp2_duration)timeout_ms * NGTCP2_MILLISECONDS;
    int rv = ngtcp2_conn_client_new(&q->conn, &dcid, &scid, &q->path, NGTCP2_PROTO_VER_V1, cb, &settings, params, NULL, user_data);
    if (rv != 0) {
        q->conn = NULL;
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "ngtcp2_conn_client_new: %s", ngtcp2_strerror(rv));
        return -1;
    }
    ngtcp2_conn_set_tls_native_handle(q->conn, q->session);
    return 0;
}

int dnsaudit_quic_write_failure(const dnsaudit_quic *q, ngtcp2_ssize n, dnsaudit_doq_result *r) {
    if (n == NGTCP2_ERR_CRYPTO || n == NGTCP2_ERR_CALLBACK_FAILURE) {
        dnsaudit_quic_handshake_failure(q, r, ngtcp2_strerror((int)n));
        return -1;
    }
    dnsaudit_quic_fail(r, q->handshake_completed ? DNSAUDIT_DOQ_NO_ANSWER : DNSAUDIT_DOQ_HANDSHAKE_FAILED, "QUIC write: %s",
                       ngtcp2_strerror((int)n));
    return -1;
}

int dnsaudit_quic_send(const dnsaudit_quic *q, const uint8_t *buf, size_t n, dnsaudit_doq_result *r) {
    if (send(q->fd, buf, n, 0) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        r->sys_errno = errno;
        dnsaudit_quic_fail(r, dnsaudit_quic_socket_status(errno), "send: %s", strerror(errno));
        return -1;
    }
    return 1;
}

int dnsaudit_quic_read_packets(dnsaudit_quic *q, dnsaudit_doq_result *r, int (*finished)(const void *), const void *user,
                               const char *app_failure) {
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = recv(q->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            r->sys_errno = errno;
            dnsaudit_quic_fail(r, dnsaudit_quic_socket_status(errno), "recv: %s", strerror(errno));
            return -1;
        }
        r->packets_received++;
        ngtcp2_pkt_info pi = {0};
        int rv = ngtcp2_conn_read_pkt(q->conn, &q->path, &pi, buf, (size_t)n, dnsaudit_quic_now());
        if (rv == 0) continue;
        if (rv == NGTCP2_ERR_CALLBACK_FAILURE && app_failure && q->handshake_completed) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "%s", app_failure);
            return -1;
        }
        if (rv == NGTCP2_ERR_CRYPTO || rv == NGTCP2_ERR_CALLBACK_FAILURE) {
            dnsaudit_quic_handshake_failure(q, r, ngtcp2_strerror(rv));
            return -1;
        }
        if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING) {
            if (q->handshake_completed) {
                if (finished(user)) return 0;
                dnsaudit_quic_fail(r, DNSAUDIT_DOQ_NO_ANSWER, "the server closed the connection before answering%s", "");
            } else {
                dnsaudit_quic_handshake_failure(q, r, "the server closed the connection during the handshake");
            }
            return -1;
        }
        if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_HANDSHAKE_FAILED, "QUIC read: %s", ngtcp2_strerror(rv));
            return -1;
        }
        // Anything else: a packet that is not ours or not valid; ignore it (hostile input).
    }
}

int dnsaudit_quic_step(dnsaudit_quic *q, dnsaudit_doq_result *r, int (*finished)(const void *), const void *user,
                       const char *app_failure, const char *completed_late) {
    ngtcp2_tstamp now = dnsaudit_quic_now();
    if (now >= q->deadline) {
        if (r->packets_received == 0) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_TIMEOUT_SILENT, "no packet from the server in %s", "the time allowed");
        } else if (!q->crypto_received) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_NOT_QUIC, "%s", "datagrams came back, none of them a QUIC handshake packet for this connection");
        } else {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_TIMEOUT_PARTIAL, "%s",
                               q->handshake_completed ? completed_late : "the handshake did not complete in time");
        }
        return -1;
    }
    ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(q->conn);
    ngtcp2_tstamp wake = expiry < q->deadline ? expiry : q->deadline;
    int wait_ms = wake > now ? (int)((wake - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS) : 0;
    struct pollfd pfd = {q->fd, POLLIN, 0};
    int pr = poll(&pfd, 1, wait_ms);
    if (pr < 0 && errno != EINTR) {
        r->sys_errno = errno;
        dnsaudit_quic_fail(r, DNSAUDIT_DOQ_LOCAL_ERROR, "poll: %s", strerror(errno));
        return -1;
    }
    if (pr > 0) {
        if (dnsaudit_quic_read_packets(q, r, finished, user, app_failure) != 0) return -1;
        if (finished(user)) return 0;
    }
    int rv = ngtcp2_conn_handle_expiry(q->conn, dnsaudit_quic_now());
    if (rv != 0) {
        if (r->packets_received == 0) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_TIMEOUT_SILENT, "no packet from the server (%s)", ngtcp2_strerror(rv));
        } else if (!q->crypto_received) {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_NOT_QUIC, "%s", "datagrams came back, none of them a QUIC handshake packet for this connection");
        } else {
            dnsaudit_quic_fail(r, DNSAUDIT_DOQ_TIMEOUT_PARTIAL, "timed out (%s)", ngtcp2_strerror(rv));
        }
        return -1;
    }
    return 1;
}

void dnsaudit_quic_close(const dnsaudit_quic *q, const uint64_t *app_error) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    if (app_error) ngtcp2_connection_close_error_set_application_error(&ccerr, *app_error, NULL, 0);
    ngtcp2_pkt_info pi;
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(q->conn, &ps.path, &pi, buf, sizeof buf, &ccerr, dnsaudit_quic_now());
    if (n > 0) (void)send(q->fd, buf, (size_t)n, 0);
}

void dnsaudit_quic_free(dnsaudit_quic *q) {
    if (q->conn) ngtcp2_conn_del(q->conn);
    if (q->session) gnutls_deinit(q->session);
    if (q->cred) gnutls_certificate_free_credentials(q->cred);
    if (q->fd >= 0) close(q->fd);
    q->conn = NULL;
    q->session = NULL;
    q->cred = NULL;
    q->fd = -1;
}
