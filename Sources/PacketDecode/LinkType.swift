/// Link-layer header types as libpcap reports them (`pcap_datalink`, DLT_* values).
public enum LinkType: Sendable, Hashable {
    case ethernet          // DLT_EN10MB 1
    case null              // DLT_NULL 0: 4-byte address family in host byte order
    case loop              // DLT_LOOP 108: 4-byte address family in network byte order
    case raw               // DLT_RAW 12 (Linux), 14 (OpenBSD), LINKTYPE_RAW 101
    case ipv4              // LINKTYPE_IPV4 228
    case ipv6              // LINKTYPE_IPV6 229
    case linuxSLL          // DLT_LINUX_SLL 113
    case linuxSLL2         // DLT_LINUX_SLL2 276
    case nflog             // DLT_NFLOG 239
    case ppp               // DLT_PPP 9: PPP, with or without HDLC-like framing (0xFF 0x03)
    case pppSerial         // DLT_PPP_SERIAL 50: PPP in HDLC-like framing, or Cisco HDLC
    case pppEther          // DLT_PPP_ETHER 51: PPPoE session header, then PPP
    case cHDLC             // DLT_C_HDLC 104: Cisco HDLC (address, control, EtherType)
    case unsupported(Int32)

    public init(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 0: self = .null
        case 108: self = .loop
        case 12, 14, 101: self = .raw
        case 228: self = .ipv4
        case 229: self = .ipv6
        case 113: self = .linuxSLL
        case 276: self = .linuxSLL2
        case 239: self = .nflog
        case 9: self = .ppp
        case 50: self = .pppSerial
        case 51: self = .pppEther
        case 104: self = .cHDLC
        default: self = .unsupported(dlt)
        }
    }

    public var name: String {
        switch self {
        case .ethernet: return "ethernet"
        case .null: return "null"
        case .loop: return "loop"
        case .raw: return "raw"
        case .ipv4: return "ipv4"
        case .ipv6: return "ipv6"
        case .linuxSLL: return "linux-sll"
        case .linuxSLL2: return "linux-sll2"
        case .nflog: return "nflog"
        case .ppp: return "ppp"
        case .pppSerial: return "ppp-serial"
        case .pppEther: return "ppp-ether"
        case .cHDLC: return "c-hdlc"
        case .unsupported(let v): return "dlt-\(v)"
        }
    }
}
