// What doq.c and h3.c share: one ngtcp2 + GnuTLS client connection over one connected UDP socket
// (socket and path, TLS session, settings and transport parameters, the common callbacks, the
// read loop, waiting, timeout classification, closing). Private to CDoQ.
#ifndef DNSAUDIT_QUIC_COMMON_H
#define DNSAUDIT_QUIC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "dnsaudit_doq.h"

/// The connection state both clients start with: each client's struct has this as its FIRST member,
/// so the ngtcp2 user_data (the client) is also a pointer to it.
typedef struct dnsaudit_quic {
    ngtcp2_crypto_conn_ref conn_ref;
    ngtcp2_conn *conn;
    gnutls_session_t session;
    gnutls_certificate_credentials_t cred;
    int fd;
    int verify;  // the certificate is verified (0: handshake-only, no verification)
    int handshake_completed;
    int crypto_received;  // the server's CRYPTO data decrypted: it speaks QUIC
    struct sockaddr_storage local, remote;
    socklen_t local_len, remote_len;
    ngtcp2_path path;
    ngtcp2_tstamp deadline;
} dnsaudit_quic;

ngtcp2_tstamp dnsaudit_quic_now(void);
void dnsaudit_quic_fail(dnsaudit_doq_result *r, int status, const char *fmt, const char *arg);
/// The status for a socket error from send/recv on the connected socket (ICMP errors land here).
int dnsaudit_quic_socket_status(int err);
/// A handshake error: the certificate (when verified), or the handshake itself.
void dnsaudit_quic_handshake_failure(const dnsaudit_quic *q, dnsaudit_doq_result *r, const char *what);

/// Sets `q` empty (fd -1). Call before anything else; dnsaudit_quic_free after.
void dnsaudit_quic_init(dnsaudit_quic *q, int verify);
/// The connected UDP socket to `address` (an IP literal) port `port`, and the ngtcp2 path. 0, or -1 with `r` set.
int dnsaudit_quic_open_socket(dnsaudit_quic *q, const char *address, int port, dnsaudit_doq_result *r);
/// GnuTLS credentials and session (TLS 1.3, ALPN `alpn`; when verifying: trust roots and the name
/// `verify_name` or `address`), SNI `sni` if any. 0, or -1 with `r` set.
int dnsaudit_quic_tls(dnsaudit_quic *q, const char *alpn, const char *address, const char *verify_name, const char *sni,
                      const char *ca_file, int use_system_trust, dnsaudit_doq_result *r);
/// The callbacks both clients use (crypto, keys, CIDs, random, CRYPTO seen, handshake done); the
/// caller adds its stream callbacks.
void dnsaudit_quic_callbacks(ngtcp2_callbacks *cb);
/// The ngtcp2 client connection: random CIDs, the handshake timeout and idle timeout `timeout_ms`
/// (params: the caller's stream limits, set on defaults), the deadline. 0, or -1 with `r` set.
int dnsaudit_quic_connect(dnsaudit_quic *q, const ngtcp2_callbacks *cb, ngtcp2_transport_params *params, int timeout_ms,
                          void *user_data, dnsaudit_doq_result *r);
/// A failed ngtcp2 write (not a flow-control result): -1 with `r` set.
int dnsaudit_quic_write_failure(const dnsaudit_quic *q, ngtcp2_ssize n, dnsaudit_doq_result *r);
/// Sends one datagram: 1 sent, 0 would block (stop writing), -1 with `r` set.
int dnsaudit_quic_send(const dnsaudit_quic *q, const uint8_t *buf, size_t n, dnsaudit_doq_result *r);
/// Reads every waiting datagram. `finished(user)`: the exchange is complete (a close then is fine).
/// `app_failure`: the detail for an ngtcp2 callback failure after the handshake (NULL: a handshake
/// failure, as before it). 0, or -1 with `r` set.
int dnsaudit_quic_read_packets(dnsaudit_quic *q, dnsaudit_doq_result *r, int (*finished)(const void *), const void *user,
                               const char *app_failure);
/// Checks the deadline, waits for a datagram or ngtcp2's timer, reads, handles expiry.
/// `completed_late`: the detail when the handshake completed but the exchange did not.
/// 1: go on, 0: finished (per `finished`), -1 with `r` set.
int dnsaudit_quic_step(dnsaudit_quic *q, dnsaudit_doq_result *r, int (*finished)(const void *), const void *user,
                       const char *app_failure, const char *completed_late);
/// One CONNECTION_CLOSE (best effort); `app_error` non-NULL: an application close with that code.
void dnsaudit_quic_close(const dnsaudit_quic *q, const uint64_t *app_error);
void dnsaudit_quic_free(dnsaudit_quic *q);

#endif
