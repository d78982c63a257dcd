#ifndef DNSAUDIT_CPCAP_SHIM_H
#define DNSAUDIT_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
