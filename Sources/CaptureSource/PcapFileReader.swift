import CPcap
#if canImport(Glibc)
import Glibc
#endif

/// A capture input could not be opened or read. `message` is one line a person can act on.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One frame as libpcap delivered it. `data` is borrowed and valid only inside the callback.
public struct CapturedFrame {
    /// The frame's 1-based number in its file, as tshark counts it — whatever a filter skipped
    /// (0 for live frames, which the caller numbers).
    public var number: UInt64 = 0
    public var seconds: Int64
    public var nanoseconds: UInt32
    public var captureLength: Int
    public var originalLength: Int
    public var data: UnsafeRawBufferPointer
}

/// How a read loop ended.
public enum ReadEnd: Sendable, Equatable {
    case endOfFile
    /// The file ended inside a record, or libpcap reported another read error.
    case readError(String)
    case stopped
}

/// Reads pcap and pcapng files (or standard input with "-") through libpcap, with
/// nanosecond timestamps and an optional BPF filter. Not thread-safe: one thread owns it.
public final class PcapFileReader {
    private let handle: OpaquePointer
    public let path: String
    /// DLT_* link type of the capture.
    public let linkType: Int32
    public let snapLength: Int32
    /// File size in bytes when known (not for stdin or pipes).
    public let fileSize: Int64?
    private var streamBuffer: UnsafeMutablePointer<CChar>?
    static let streamBufferSize = 64 << 10
    /// The compiled `filter`, applied to each frame as it is read (not with pcap_setfilter, so
    /// that frames keep their numbers in the file).
    private var program: UnsafeMutablePointer<bpf_program>?

    public init(path: String, filter: String? = nil) throws {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        var size: Int64? = nil
        if path != "-" {
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw CaptureError("cannot open \(path): \(String(cString: strerror(errno)))")
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw CaptureError("cannot read \(path): it is a directory; give a pcap or pcapng file")
            }
            if (st.st_mode & S_IFMT) == S_IFREG { size = Int64(st.st_size) }
            if size == 0 {
                throw CaptureError("\(path) is empty: not a pcap or pcapng capture")
            }
        }
        let opened: OpaquePointer?
        if path == "-" {
            opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
        } else {
            // Our own stream with a 64 KiB buffer: libpcap reads each record with two small
            // freads, and the default 4 KiB buffer turns a large file into ~100 k read(2) calls.
            // Not larger: a 1 MiB buffer made analysis ~7 % slower (each refill evicts the flow
            // tables from the 2 MiB L2 cache), and 16–128 KiB measured the same.
            guard let fp = fopen(path, "rb") else {
                throw CaptureError("cannot open \(path): \(String(cString: strerror(errno)))")
            }
            // glibc ignores the size unless it is given the buffer; the reader owns it and frees
            // it after pcap_close has closed the stream.
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.streamBufferSize)
            streamBuffer = buffer
            setvbuf(fp, buffer, _IOFBF, Self.streamBufferSize)
            dnsaudit_stream_single_threaded(fp)  // the reader's owner is one thread
            posix_fadvise(fileno(fp), 0, 0, POSIX_FADV_SEQUENTIAL)
            opened = pcap_fopen_offline_with_tstamp_precision(fp, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
            if opened == nil {  // libpcap closes the stream only once it owns it
                fclose(fp)
                buffer.deallocate()
                streamBuffer = nil
            }
        }
        guard let h = opened else {
            let reason = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CaptureError("cannot read \(path == "-" ? "standard input" : path) as a capture: \(reason)")
        }
        handle = h
        linkType = pcap_datalink(h)
        snapLength = pcap_snapshot(h)
        fileSize = size
        if let filter, !filter.isEmpty {
            let compiled = UnsafeMutablePointer<bpf_program>.allocate(capacity: 1)
            compiled.initialize(to: bpf_program())
            guard pcap_compile(h, compiled, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                compiled.deallocate()
                // deinit closes the handle: every stored property is set by now.
                let reason = String(cString: pcap_geterr(h))
                throw CaptureError("invalid filter \"\(filter)\": \(reason)")
            }
            program = compiled
        }
    }

    deinit {
        pcap_close(handle)
        streamBuffer?.deallocate()
        if let program {
            pcap_freecode(program)
            program.deallocate()
        }
    }

    /// Bytes consumed from the file so far (for progress), when libpcap exposes the stream.
    public var bytePosition: Int64? {
        guard let f = pcap_file(handle) else { return nil }
        let pos = ftello(f)
        return pos >= 0 ? Int64(pos) : nil
    }

    /// Calls `body` for each frame that passes the filter, until the end of the file, an error,
    /// or `body` returns false. Each frame carries its number in the file (filtered frames are
    /// counted, not delivered).
    @discardableResult
    public func forEachFrame(_ body: (CapturedFrame) -> Bool) -> ReadEnd {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        var number: UInt64 = 0
        while true {
            let rc = pcap_next_ex(handle, &header, &data)
            switch rc {
            case 1:
                guard let hp = header, let d = data else { continue }
                number += 1
                if let program, pcap_offline_filter(program, hp, d) == 0 { continue }
                let h = hp.pointee
                let frame = CapturedFrame(
                    number: number,
                    seconds: Int64(h.ts.tv_sec),
                    nanoseconds: UInt32(truncatingIfNeeded: h.ts.tv_usec),  // nanoseconds at NANO precision
                    captureLength: Int(h.caplen),
                    originalLength: Int(h.len),
                    data: UnsafeRawBufferPointer(start: d, count: Int(h.caplen)))
                if !body(frame) { return .stopped }
            case 0:
                continue  // live timeouts only
            case -2:
                return .endOfFile
            default:
                return .readError(String(cString: pcap_geterr(handle)))
            }
        }
    }
}
