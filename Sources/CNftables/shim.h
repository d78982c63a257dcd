#ifndef DNSAUDIT_CNFTABLES_SHIM_H
#define DNSAUDIT_CNFTABLES_SHIM_H
#include <nftables/libnftables.h>
#endif
