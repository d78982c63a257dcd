// PcapWriter — a pure Swift writer of classic pcap files (nanosecond magic 0xa1b23c4d).
//
// Records are assembled in a large in-memory buffer and handed to write(2) only when the buffer
// fills up (or on flush/close), so writing millions of packets costs a few thousand syscalls.
// All multi-byte fields are written little-endian, so the output is byte-identical on every host.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Link-layer header types (the `network` field of the pcap global header; see tcpdump.org
/// "LINK-LAYER HEADER TYPES").
public struct PcapLinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BSD loopback / null encapsulation.
    public static let null = PcapLinkType(rawValue: 0)
    /// Ethernet II (DLT_EN10MB).
    public static let ethernet = PcapLinkType(rawValue: 1)
    /// Raw IPv4 or IPv6, no link header (LINKTYPE_RAW).
    public static let rawIP = PcapLinkType(rawValue: 101)
    /// Linux "cooked" capture v1 (SLL), as `tcpdump -i any` writes.
    public static let linuxSLL = PcapLinkType(rawValue: 113)
    /// Raw IPv4 only.
    public static let ipv4 = PcapLinkType(rawValue: 228)
    /// Raw IPv6 only.
    public static let ipv6 = PcapLinkType(rawValue: 229)
    /// Linux "cooked" capture v2 (SLL2).
    public static let linuxSLL2 = PcapLinkType(rawValue: 276)

    public var description: String { "linktype \(rawValue)" }
}

public enum PcapWriterError: Error, CustomStringConvertible, Equatable {
    case openFailed(path: String, errno: Int32)
    case writeFailed(errno: Int32)
    case closeFailed(errno: Int32)
    case alreadyClosed
    case timestampOutOfRange(seconds: Int64)

    public var description: String {
        switch self {
        case let .openFailed(path, err): return "cannot open \(path) for writing: \(PcapWriterError.message(err))"
        case let .writeFailed(err): return "pcap write failed: \(PcapWriterError.message(err))"
        case let .closeFailed(err): return "pcap close failed: \(PcapWriterError.message(err))"
        case .alreadyClosed: return "pcap writer already closed"
        case let .timestampOutOfRange(s): return "timestamp \(s) s does not fit a classic pcap record (0...4294967295)"
        }
    }

    static func message(_ err: Int32) -> String {
        guard let cString = strerror(err) else { return "errno \(err)" }
        return String(cString: cString)
    }
}

/// Writes a classic pcap file with nanosecond timestamps.
///
/// Not thread-safe: use one writer from one thread (it is deliberately not `Sendable`).
public final class PcapFileWriter {
    /// The nanosecond-resolution classic pcap magic.
    public static let magicNanoseconds: UInt32 = 0xa1b2_3c4d
    public static let defaultSnaplen: UInt32 = 262_144
    public static let defaultBufferSize = 4 << 20

    public let linkType: PcapLinkType
    public let snaplen: UInt32
    /// Packets written so far (buffered ones included).
    public private(set) var packetsWritten: Int = 0
    /// Bytes of file produced so far (global header and record headers included; buffered ones too).
    public private(set) var bytesWritten: Int = 0

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private var used = 0
    private var closed = false

    /// Creates (or truncates) `path` and writes the pcap global header.
    public convenience init(path: String, linkType: PcapLinkType = .ethernet,
                            snaplen: UInt32 = PcapFileWriter.defaultSnaplen,
                            bufferSize: Int = PcapFileWriter.defaultBufferSize) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw PcapWriterError.openFailed(path: path, errno: errno) }
        try self.init(descriptor: fd, owns: true, linkType: linkType, snaplen: snaplen, bufferSize: bufferSize)
    }

    /// Writes to an already-open descriptor (e.g. `STDOUT_FILENO`). The descriptor is closed by
    /// `close()` only when `closeWhenDone` is true.
    public convenience init(fileDescriptor: Int32, closeWhenDone: Bool = false,
                            linkType: PcapLinkType = .ethernet,
                            snaplen: UInt32 = PcapFileWriter.defaultSnaplen,
                            bufferSize: Int = PcapFileWriter.defaultBufferSize) throws {
        try self.init(descriptor: fileDescriptor, owns: closeWhenDone, linkType: linkType,
                      snaplen: snaplen, bufferSize: bufferSize)
    }

    /// A writer on standard output (not closed by `close()`).
    public static func standardOutput(linkType: PcapLinkType = .ethernet,
                                      snaplen: UInt32 = PcapFileWriter.defaultSnaplen) throws -> PcapFileWriter {
        try PcapFileWriter(fileDescriptor: STDOUT_FILENO, closeWhenDone: false, linkType: linkType, snaplen: snaplen)
    }

    private init(descriptor: Int32, owns: Bool, linkType: PcapLinkType, snaplen: UInt32, bufferSize: Int) throws {
        self.fd = descriptor
        self.ownsDescriptor = owns
        self.linkType = linkType
        self.snaplen = snaplen == 0 ? PcapFileWriter.defaultSnaplen : snaplen
        self.capacity = max(bufferSize, 4096)
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        put32(PcapFileWriter.magicNanoseconds)
        put16(2)          // version major
        put16(4)          // version minor
        put32(0)          // thiszone
        put32(0)          // sigfigs
        put32(self.snaplen)
        put32(linkType.rawValue)
        bytesWritten = 24
        do {
            try flush()   // an unwritable descriptor shows up at once
        } catch {
            if owns { _ = posixClose(descriptor) }
            closed = true
            throw error
        }
    }

    deinit {
        if !closed {
            try? flush()
            if ownsDescriptor { _ = posixClose(fd) }
        }
        buffer.deallocate()
    }

    // MARK: Writing records

    /// Appends one record. `originalLength` defaults to `frame.count`; frames longer than the
    /// snaplen are truncated to it (the record keeps the original length).
    public func write(seconds: UInt32, nanoseconds: UInt32, frame: [UInt8], originalLength: UInt32? = nil) throws {
        try frame.withUnsafeBytes { raw in
            try writeRecord(seconds: seconds, nanoseconds: nanoseconds, bytes: raw, originalLength: originalLength)
        }
    }

    /// Appends one record; the seconds (after nanoseconds ≥ 1e9 carry into them) must fit 0...UInt32.max.
    public func write(seconds: Int64, nanoseconds: UInt32, frame: [UInt8], originalLength: UInt32? = nil) throws {
        let carried = seconds + Int64(nanoseconds / 1_000_000_000)
        guard carried >= 0, carried <= Int64(UInt32.max) else {
            throw PcapWriterError.timestampOutOfRange(seconds: carried)
        }
        try write(seconds: UInt32(carried), nanoseconds: nanoseconds % 1_000_000_000, frame: frame,
                  originalLength: originalLength)
    }

    /// Appends one record; this overload lets integer literals and `Int` values pick a
    /// timestamp type without ambiguity (`write(seconds: 1_700_000_000, nanoseconds: 0, frame: f)`).
    public func write(seconds: Int, nanoseconds: UInt32, frame: [UInt8], originalLength: UInt32? = nil) throws {
        try write(seconds: Int64(seconds), nanoseconds: nanoseconds, frame: frame, originalLength: originalLength)
    }

    /// Appends one record stamped with nanoseconds since the Unix epoch.
    public func write(nanosecondsSinceEpoch ns: Int64, frame: [UInt8], originalLength: UInt32? = nil) throws {
        guard ns >= 0 else { throw PcapWriterError.timestampOutOfRange(seconds: ns / 1_000_000_000 - 1) }
        try write(seconds: ns / 1_000_000_000, nanoseconds: UInt32(ns % 1_000_000_000), frame: frame,
                  originalLength: originalLength)
    }

    /// Appends one record from raw bytes (no intermediate array).
    public func write(seconds: UInt32, nanoseconds: UInt32, bytes: UnsafeRawBufferPointer,
                      originalLength: UInt32? = nil) throws {
        try writeRecord(seconds: seconds, nanoseconds: nanoseconds, bytes: bytes, originalLength: originalLength)
    }

    private func writeRecord(seconds: UInt32, nanoseconds: UInt32, bytes: UnsafeRawBufferPointer,
                             originalLength: UInt32?) throws {
        guard !closed else { throw PcapWriterError.alreadyClosed }
        var sec = seconds
        var nsec = nanoseconds
        if nsec >= 1_000_000_000 {
            let (sum, overflow) = sec.addingReportingOverflow(nsec / 1_000_000_000)
            guard !overflow else {
                throw PcapWriterError.timestampOutOfRange(seconds: Int64(sec) + Int64(nsec / 1_000_000_000))
            }
            sec = sum
            nsec %= 1_000_000_000
        }
        let caplen = min(bytes.count, Int(snaplen))
        let origLen = max(originalLength ?? UInt32(clamping: bytes.count), UInt32(caplen))
        let recordSize = 16 + caplen
        if used + recordSize > capacity { try flush() }
        put32(sec)
        put32(nsec)
        put32(UInt32(caplen))
        put32(origLen)
        if caplen > 0, let base = bytes.baseAddress {
            if caplen <= capacity - used {
                (buffer + used).copyMemory(from: base, byteCount: caplen)
                used += caplen
            } else {
                // Larger than the whole buffer: write it through.
                try flush()
                try writeAll(UnsafeRawBufferPointer(start: base, count: caplen))
            }
        }
        packetsWritten += 1
        bytesWritten += recordSize
    }

    // MARK: Flushing and closing

    /// Hands every buffered byte to the kernel.
    public func flush() throws {
        guard used > 0 else { return }
        let pending = UnsafeRawBufferPointer(start: buffer, count: used)
        used = 0
        try writeAll(pending)
    }

    /// Flushes and closes (the descriptor only if the writer owns it). A second call throws `alreadyClosed`.
    public func close() throws {
        guard !closed else { throw PcapWriterError.alreadyClosed }
        defer { closed = true }
        var firstError: Error?
        do { try flush() } catch { firstError = error }
        if ownsDescriptor, posixClose(fd) != 0, firstError == nil {
            firstError = PcapWriterError.closeFailed(errno: errno)
        }
        if let firstError { throw firstError }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let n = posixWrite(fd, p, remaining)
            if n < 0 {
                if errno == EINTR { continue }
                throw PcapWriterError.writeFailed(errno: errno)
            }
            p += n
            remaining -= n
        }
    }

    @inline(__always) private func put32(_ v: UInt32) {
        buffer.storeBytes(of: v.littleEndian, toByteOffset: used, as: UInt32.self)
        used += 4
    }

    @inline(__always) private func put16(_ v: UInt16) {
        buffer.storeBytes(of: v.littleEndian, toByteOffset: used, as: UInt16.self)
        used += 2
    }
}

// Inside the class, `close` and `write` name the methods; these reach the C functions.
@inline(__always) private func posixClose(_ fd: Int32) -> Int32 { close(fd) }
@inline(__always) private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
