#ifndef DNSAUDIT_CPCAP_SHIM_H
#define DNSAUDIT_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <stdio.h>
#if defined(__GLIBC__)
#include <stdio_ext.h>
#endif

/// A capture file's stream is read by one thread only: tell glibc not to lock it on every
/// fread (libpcap calls fread twice per packet). A no-op elsewhere.
static inline void dnsaudit_stream_single_threaded(FILE *fp) {
#if defined(__GLIBC__)
    __fsetlocking(fp, FSETLOCKING_BYCALLER);
#else
    (void)fp;
#endif
}
#endif
