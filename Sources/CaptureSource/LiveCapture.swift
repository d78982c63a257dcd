import CPcap
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Settings of a live capture.
public struct LiveCaptureOptions: Sendable {
    /// Interface name, or "any" (every interface, Linux cooked headers).
    public var interface: String
    /// BPF filter; nil: `LiveCapture.defaultFilter`; "": no filter at all.
    public var filter: String?
    public var snapLength: Int32 = 262_144
    /// Kernel capture buffer, bytes.
    public var bufferBytes: Int32 = 16 << 20
    /// Without immediate mode, the longest a packet waits in the kernel before it is delivered
    /// (TPACKET_V3 block timeout on Linux).
    public var readTimeoutMilliseconds: Int32 = 100
    /// Immediate mode: every packet delivered at once. On Linux it means the TPACKET_V2 ring, whose
    /// slots are sized by the snap length: with the default 262144 a 16 MiB buffer holds ~64 packets,
    /// and a 50k packets/s burst lost 35–55 % of its packets in our lab, where the default
    /// (TPACKET_V3, blocks of packets, delivered at least every read timeout) lost none.
    public var immediate = false
    public var promiscuous = false

    public init(interface: String) { self.interface = interface }
}

/// Why a live capture could not start; `message` is one line a person can act on.
public struct LiveCaptureError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable { case permissionDenied, noSuchInterface, interfaceDown, badFilter, other }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// libpcap's counters for a live handle (`pcap_stats`).
public struct LiveCaptureStats: Sendable, Equatable {
    /// Packets the kernel's filter accepted (on Linux: including those later dropped).
    public var received: UInt64 = 0
    /// Dropped because the capture buffer was full (the reader was too slow).
    public var dropped: UInt64 = 0
    /// Dropped by the interface or its driver (not always supported).
    public var interfaceDropped: UInt64 = 0
    public init() {}
}

/// How a live read loop ended.
public enum LiveReadEnd: Sendable, Equatable {
    /// `pcap_breakloop` (Ctrl-C, SIGTERM, the caller's stop) or the body asked to stop.
    case stopped
    /// libpcap reported an error (the interface went away, …).
    case error(String)
}

/// A live libpcap capture: `pcap_create` → snap length, immediate mode, buffer size, read
/// timeout, nanosecond timestamps → `pcap_activate` → BPF filter. Not Sendable and not
/// thread-safe: create it, read it and close it on one dedicated thread; only its `breaker`
/// may be used from other threads (to stop the read loop).
public final class LiveCapture {
    /// DNS (53), mDNS (5353), LLMNR (5355), DoT (853), TLS and QUIC (443), TCP and UDP, plus
    /// non-first IP fragments (they carry no ports: large DNS answers over UDP).
    public static let defaultFilter =
        "port 53 or port 5353 or port 5355 or port 853 or port 443 or (ip and ip[6:2] & 0x1fff != 0) or (ip6 and ip6[6] == 44)"

    private var handle: OpaquePointer?
    public let options: LiveCaptureOptions
    /// The filter in effect ("" when none).
    public let filter: String
    public let linkType: Int32
    public let snapLength: Int32
    /// Whether libpcap delivers nanosecond timestamps (else microseconds, converted).
    public let nanosecondTimestamps: Bool
    /// Warnings from activation (e.g. promiscuous mode not supported), for a note.
    public private(set) var warnings: [String] = []
    /// Use from any thread to end `forEachFrame`.
    public let breaker: LiveCaptureBreaker
    private var dump: RotatingPcapDump?

    public init(_ options: LiveCaptureOptions) throws {
        self.options = options
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let h = pcap_create(options.interface, &errbuf) else {
            throw LiveCaptureError(.other, "cannot capture on \(options.interface): \(Self.text(errbuf))")
        }
        func fail(_ kind: LiveCaptureError.Kind, _ message: String) -> LiveCaptureError {
            pcap_close(h)
            return LiveCaptureError(kind, message)
        }
        _ = pcap_set_snaplen(h, options.snapLength)
        _ = pcap_set_promisc(h, options.promiscuous ? 1 : 0)
        _ = pcap_set_timeout(h, options.readTimeoutMilliseconds)
        _ = pcap_set_immediate_mode(h, options.immediate ? 1 : 0)
        _ = pcap_set_buffer_size(h, options.bufferBytes)
        let wantNano = pcap_set_tstamp_precision(h, Int32(PCAP_TSTAMP_PRECISION_NANO)) == 0
        let rc = pcap_activate(h)
        if rc < 0 {
            let detail = String(cString: pcap_geterr(h))
            switch rc {
            case PCAP_ERROR_PERM_DENIED:
                throw fail(.permissionDenied, "live capture needs root or CAP_NET_RAW: run with sudo")
            case PCAP_ERROR_NO_SUCH_DEVICE:
                throw fail(.noSuchInterface, "no such interface '\(options.interface)': see 'ip link' for the names, or use -i any")
            case PCAP_ERROR_IFACE_NOT_UP:
                throw fail(.interfaceDown, "interface '\(options.interface)' is down: bring it up ('ip link set \(options.interface) up') or pick another")
            default:
                // Some kernels report a missing capability as a plain socket error.
                if detail.contains("Operation not permitted") {
                    throw fail(.permissionDenied, "live capture needs root or CAP_NET_RAW: run with sudo")
                }
                let reason = detail.isEmpty ? String(cString: pcap_statustostr(rc)) : detail
                throw fail(.other, "cannot capture on '\(options.interface)': \(reason)")
            }
        } else if rc > 0 {
            let detail = String(cString: pcap_geterr(h))
            warnings.append("\(options.interface): " + (detail.isEmpty ? String(cString: pcap_statustostr(rc)) : detail))
        }
        let f = options.filter ?? LiveCapture.defaultFilter
        if !f.isEmpty {
            var program = bpf_program()
            guard pcap_compile(h, &program, f, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                throw fail(.badFilter, "invalid filter \"\(f)\": \(String(cString: pcap_geterr(h)))")
            }
            defer { pcap_freecode(&program) }
            guard pcap_setfilter(h, &program) == 0 else {
                throw fail(.badFilter, "cannot apply filter \"\(f)\": \(String(cString: pcap_geterr(h)))")
            }
        }
        handle = h
        filter = f
        linkType = pcap_datalink(h)
        snapLength = pcap_snapshot(h)
        nanosecondTimestamps = wantNano && pcap_get_tstamp_precision(h) == Int32(PCAP_TSTAMP_PRECISION_NANO)
        breaker = LiveCaptureBreaker(h)
    }

    deinit { close() }

    static func text(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Saves every captured frame (as libpcap delivers it) to `path` with `pcap_dump`, starting a
    /// new file (`path.1`, `path.2`, …) when one would grow past `maxBytes` (nil: never).
    /// Call before dropping privileges: the first file is opened now; later ones when needed.
    public func startWriting(to path: String, maxBytes: Int64?) throws {
        guard let h = handle else { throw LiveCaptureError(.other, "the capture is closed") }
        dump = try RotatingPcapDump(handle: h, path: path, maxBytes: maxBytes)
    }

    /// Files written so far (the first, then each rotation), and the write error that stopped writing, if any.
    public var writtenFiles: [String] { dump?.files ?? [] }
    public var writeError: String? { dump?.error }

    /// Reads frames until the breaker is used, `body` returns false, or an error. `idle` runs after
    /// every packet and at least every `tick` seconds when none arrive (libpcap's read timeout does
    /// not return an idle TPACKET ring on Linux, so a timer wakes the read with pcap_breakloop);
    /// returning false from it stops too. Frames are borrowed: valid only inside `body`.
    public func forEachFrame(tick: Double = 0.25, _ body: (CapturedFrame) -> Bool, idle: () -> Bool) -> LiveReadEnd {
        guard let h = handle else { return .stopped }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let nano = nanosecondTimestamps
        let ticker = DispatchSource.makeTimerSource(queue: .global())
        let breaker = self.breaker
        ticker.schedule(deadline: .now() + tick, repeating: tick, leeway: .milliseconds(20))
        ticker.setEventHandler { breaker.wake() }
        ticker.resume()
        defer { ticker.cancel() }
        while true {
            if breaker.isStopRequested { return .stopped }
            // Cleared before each call: libpcap's TPACKET_V3 reader can hand a packet to
            // pcap_next_ex and then report the break (our wake-up timer) instead of success; a
            // filled-in header after PCAP_ERROR_BREAK is a packet, not nothing.
            header = nil
            data = nil
            var rc = pcap_next_ex(h, &header, &data)
            if rc == PCAP_ERROR_BREAK && header != nil && data != nil {
                rc = 1
            }
            switch rc {
            case 1:
                guard let hdr = header, let d = data else { continue }
                dump?.write(hdr, d)
                let ts = hdr.pointee.ts
                let frame = CapturedFrame(
                    seconds: Int64(ts.tv_sec),
                    nanoseconds: nano ? UInt32(truncatingIfNeeded: ts.tv_usec) : UInt32(truncatingIfNeeded: ts.tv_usec) &* 1000,
                    captureLength: Int(hdr.pointee.caplen),
                    originalLength: Int(hdr.pointee.len),
                    data: UnsafeRawBufferPointer(start: d, count: Int(hdr.pointee.caplen)))
                if !body(frame) { return .stopped }
                if !idle() { return .stopped }
            case 0:
                if !idle() { return .stopped }
            case PCAP_ERROR_BREAK:
                if breaker.isStopRequested { return .stopped }
                if !idle() { return .stopped }  // woken by the ticker
            default:
                if breaker.isStopRequested { return .stopped }
                return .error(String(cString: pcap_geterr(h)))
            }
        }
    }

    /// Makes what was written so far readable by others (`pcap_dump_flush`).
    public func flushWrites() { dump?.flush() }

    /// `pcap_stats`: packets received and dropped so far.
    public func stats() -> LiveCaptureStats? {
        guard let h = handle else { return nil }
        var s = pcap_stat()
        guard pcap_stats(h, &s) == 0 else { return nil }
        var out = LiveCaptureStats()
        out.received = UInt64(s.ps_recv)
        out.dropped = UInt64(s.ps_drop)
        out.interfaceDropped = UInt64(s.ps_ifdrop)
        return out
    }

    /// Flushes and closes the dump files and the handle. Idempotent.
    public func close() {
        dump?.close()
        dump = nil
        guard let h = handle else { return }
        breaker.detach()  // no pcap_breakloop on a closed handle
        handle = nil
        pcap_close(h)
    }
}

/// The one part of a live capture another thread may touch: asks the read loop to stop
/// (a flag, plus `pcap_breakloop`, which wakes a blocked read). Safe to call at any time,
/// also after the capture closed.
public final class LiveCaptureBreaker: @unchecked Sendable {
    // The handle is only passed to pcap_breakloop (documented as callable from another thread),
    // under the lock, and cleared under the lock before pcap_close.
    private var handle: OpaquePointer?
    private var stopRequested = false
    private let lock = PthreadLock()

    init(_ h: OpaquePointer) { handle = h }

    public func stop() {
        lock.locked {
            stopRequested = true
            if let h = handle { pcap_breakloop(h) }
        }
    }

    public var isStopRequested: Bool { lock.locked { stopRequested } }

    /// Wakes a blocked read without stopping: the loop runs its idle work and reads on.
    public func wake() {
        lock.locked {
            if let h = handle { pcap_breakloop(h) }
        }
    }

    func detach() { lock.locked { handle = nil } }
}

/// A plain mutex (no Foundation in this module).
final class PthreadLock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }
    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

/// `pcap_dump` to FILE, FILE.1, FILE.2, … (a new file when the next packet would pass `maxBytes`,
/// like tcpdump -C). Every file is a complete pcap that `dnsaudit analyze` reads.
final class RotatingPcapDump {
    private let handle: OpaquePointer
    let path: String
    let maxBytes: Int64?
    private var dumper: OpaquePointer?
    private var bytes: Int64 = 0
    private(set) var files: [String] = []
    private(set) var error: String?

    init(handle: OpaquePointer, path: String, maxBytes: Int64?) throws {
        self.handle = handle
        self.path = path
        self.maxBytes = maxBytes
        guard let d = pcap_dump_open(handle, path) else {
            throw LiveCaptureError(.other, "cannot write \(path): \(String(cString: pcap_geterr(handle)))")
        }
        dumper = d
        files.append(path)
        bytes = 24
    }

    func write(_ hdr: UnsafeMutablePointer<pcap_pkthdr>, _ data: UnsafePointer<UInt8>) {
        guard dumper != nil else { return }
        let record = 16 + Int64(hdr.pointee.caplen)
        if let max = maxBytes, bytes > 24, bytes + record > max { rotate() }
        guard let d = dumper else { return }
        pcap_dump(UnsafeMutableRawPointer(d).assumingMemoryBound(to: UInt8.self), hdr, data)
        bytes += record
    }

    private func rotate() {
        if let d = dumper { pcap_dump_close(d) }
        dumper = nil
        let next = "\(path).\(files.count)"
        guard let d = pcap_dump_open(handle, next) else {
            error = "cannot write \(next): \(String(cString: pcap_geterr(handle))); stopped writing the capture"
            return
        }
        dumper = d
        files.append(next)
        bytes = 24
    }

    func flush() {
        if let d = dumper { _ = pcap_dump_flush(d) }
    }

    func close() {
        if let d = dumper { pcap_dump_close(d) }
        dumper = nil
    }
}

/// Runs `body` on a new dedicated POSIX thread (never the Swift concurrency pool) and waits for
/// it. The calling thread blocks meanwhile, so whatever `body` uses is touched by one thread at a
/// time: ownership passes to the new thread and comes back with the result.
public func runOnDedicatedThread<T>(_ body: @escaping () -> T) -> T {
    let box = ThreadHandoff(body)
    let ctx = Unmanaged<ThreadEntry>.passRetained(box).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        guard let raw else { return nil }
        Unmanaged<ThreadEntry>.fromOpaque(raw).takeUnretainedValue().enter()
        return nil
    }, ctx)
    Unmanaged<ThreadEntry>.fromOpaque(ctx).release()  // `box` keeps it alive until the join
    if rc != 0 {
        box.enter()  // no thread to be had: run here rather than not at all
    } else {
        pthread_join(thread, nil)
    }
    guard let result = box.result else { fatalError("dedicated thread ended without a result") }
    return result
}

class ThreadEntry: @unchecked Sendable {
    func enter() {}
}

/// `result` is written by the new thread only, and read by the caller only after pthread_join.
final class ThreadHandoff<T>: ThreadEntry, @unchecked Sendable {
    let body: () -> T
    var result: T?
    init(_ body: @escaping () -> T) { self.body = body }
    override func enter() { result = body() }
}
