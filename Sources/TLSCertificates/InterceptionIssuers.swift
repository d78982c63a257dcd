/// The built-in list of TLS interception-product issuers: the text of rules/tls-interception-issuers.txt,
/// kept identical by TLSCertificatesTests (edit both together).
public enum InterceptionIssuers {
    public static let builtInText = #"""
# Certificate issuers of TLS interception products: firewalls, secure web gateways, antivirus
# "web shields" and debugging proxies that decrypt TLS by presenting certificates from their own CA.
#
# dnsaudit matches each pattern, case-insensitively, as a substring of the issuer's distinguished
# name (RFC 4514 form, e.g. "CN=FortiGate CA,O=Fortinet,C=US") and of the names of the CAs above
# it in the presented chain. A certificate that does not chain to a trusted root and matches one
# of these is reported as tls.untrusted-certificate with high severity and the product named.
# One pattern per line; '#' starts a comment. The list is compiled into dnsaudit
# (Sources/TLSCertificates/InterceptionIssuers.swift holds the same text, and a test keeps the two
# equal). Keep patterns specific: a word that also appears in public CAs' names does not belong here.

# Fortinet FortiGate / FortiProxy (SSL deep inspection)
FortiGate
Fortinet
FortiProxy
# Palo Alto Networks (SSL forward proxy)
Palo Alto Networks
PAN-FW
# Zscaler
Zscaler
# Blue Coat / Symantec ProxySG, Broadcom Edge SWG
Blue Coat
BlueCoat
ProxySG
Edge SWG
# Cisco Umbrella, Cisco Firepower / WSA
Cisco Umbrella
OpenDNS
Cisco Firepower
IronPort
# Sophos (UTM, XG, Web Appliance)
Sophos
# Kaspersky web anti-virus
Kaspersky
# Avast / AVG web shield
Avast
AVG Technologies
AVG Web
# ESET SSL filter
ESET SSL Filter
ESET, spol
# Bitdefender
Bitdefender
# Debugging and attack proxies
mitmproxy
Charles Proxy
DO_NOT_TRUST
FiddlerRoot
PortSwigger
Burp Suite
HTTP Toolkit
Proxyman
# Netskope
Netskope
# Barracuda
Barracuda
# WatchGuard
WatchGuard
# Check Point (HTTPS inspection)
Check Point
CheckPoint
# Forcepoint / Websense
Forcepoint
Websense
# SonicWall DPI-SSL
SonicWall
SonicWALL
# Sophos Cyberoam
Cyberoam
# McAfee / Skyhigh Web Gateway
McAfee Web Gateway
Skyhigh
# Trend Micro InterScan
InterScan
# Untangle, Smoothwall, Lightspeed, iboss, Securly, GoGuardian, ContentKeeper, Menlo Security
Untangle
Smoothwall
Lightspeed Systems
iboss
Securly
GoGuardian
ContentKeeper
Menlo Security
# Adware that intercepted TLS
Superfish
PrivDog
Komodia
"""#

    /// The patterns of the built-in list.
    public static let builtIn = InterceptionIssuerList(text: builtInText)
}
