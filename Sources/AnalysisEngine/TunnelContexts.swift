import Findings
import NetTypes
import PacketDecode

/// Which frames travelled inside tunnels (or VLAN tags), and which: runs of consecutive frames
/// with the same layers, per input, so that a finding's evidence can say on which link its
/// packets were ("seen inside GRE key 42 from 10.0.0.1 to 10.0.0.2"). Fed only with tunnelled or
/// tagged frames (the plain packet path never comes here). Bounded: at most `maxRuns` runs and
/// `maxPaths` distinct layer lists; frames past that are counted in `unrecorded`.
final class TunnelContexts {
    struct Run {
        var first: UInt64
        var last: UInt64
        var path: Int32
    }

    static let maxRuns = 1 << 20
    static let maxPaths = 4096

    private(set) var paths: [[TunnelHop]] = []
    private var pathIndex: [[TunnelHop]: Int32] = [:]
    /// Per input index, in frame order.
    private var runs: [[Run]] = []
    private var runCount = 0
    private(set) var unrecorded = 0

    var isEmpty: Bool { runCount == 0 }

    /// The layers of the frame being noted (kept with its capacity: no allocation per frame).
    private var scratch: [TunnelHop] = []
    /// The last two paths noted: consecutive frames of one tunnel share one (or two: the outer
    /// endpoints swap with the direction), so they are matched against them by equality before
    /// the path dictionary is hashed.
    private var lastPath: Int32 = -1
    private var previousPath: Int32 = -1

    /// One tunnelled or tagged frame.
    func note(_ data: UnsafeRawBufferPointer, link: LinkType, frame: UInt64, input: Int) {
        PacketDecoder.tunnelTrace(data, linkType: link, into: &scratch)
        guard !scratch.isEmpty, input >= 0 else { return }
        let index: Int32
        if lastPath >= 0, paths[Int(lastPath)] == scratch {
            index = lastPath
        } else if previousPath >= 0, paths[Int(previousPath)] == scratch {
            index = previousPath
        } else if let i = pathIndex[scratch] {
            index = i
        } else {
            guard paths.count < TunnelContexts.maxPaths else { unrecorded += 1; return }
            index = Int32(paths.count)
            pathIndex[scratch] = index
            paths.append(scratch)
        }
        if index != lastPath {
            previousPath = lastPath
            lastPath = index
        }
        while runs.count <= input { runs.append([]) }
        if let last = runs[input].last, last.path == index, last.last &+ 1 == frame {
            runs[input][runs[input].count - 1].last = frame
            return
        }
        if let last = runs[input].last, frame <= last.last { return }  // frames only grow within an input
        guard runCount < TunnelContexts.maxRuns else { unrecorded += 1; return }
        runs[input].append(Run(first: frame, last: frame, path: index))
        runCount += 1
    }

    /// The layers frame `frame` of input `input` travelled inside, nil for a plain frame.
    func hops(input: Int, frame: UInt64) -> [TunnelHop]? {
        guard input >= 0, input < runs.count else { return nil }
        let r = runs[input]
        var lo = 0, hi = r.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if r[mid].last < frame { lo = mid + 1 } else { hi = mid }
        }
        guard lo < r.count, r[lo].first <= frame else { return nil }
        return paths[Int(r[lo].path)]
    }

    /// Adds the tunnel facts to the capture evidence of `findings` whose frames were tunnelled:
    /// `tunnel` (every layer, outermost first), `tunnel_kind`, the innermost IP tunnel's
    /// `tunnel_src` / `tunnel_dst`, and each id present (`tunnel_vni`, `tunnel_key`, `tunnel_teid`,
    /// `tunnel_vlan`, …, the outermost of each kind), as the first tunnelled frame it cites travelled
    /// (its answers come back through the same links the other way); the detail says "seen inside
    /// …". When other cited frames travelled on other links, `tunnel_other` lists them with their frames.
    func annotate(_ findings: inout [Finding], inputIndex: (String?) -> Int?) {
        guard !isEmpty else { return }
        for f in findings.indices {
            for e in findings[f].evidence.indices where findings[f].evidence[e].source == .capture {
                let ev = findings[f].evidence[e]
                guard !ev.frames.isEmpty, !ev.facts.contains(where: { $0.0 == "tunnel" }), let input = inputIndex(ev.input) else { continue }
                var first: [TunnelHop]?
                var others: [(UInt64, [TunnelHop]?)] = []
                for frame in ev.frames {
                    let h = hops(input: input, frame: frame)
                    if first == nil, let h { first = h; continue }
                    if let fst = first, !TunnelContexts.sameLinks(h, fst) { others.append((frame, h)) }
                }
                guard let hops = first else { continue }
                findings[f].evidence[e].facts += TunnelContexts.facts(hops)
                if !others.isEmpty {
                    let text = others.prefix(4).map { "frame \($0.0): " + ($0.1.map(TunnelContexts.text) ?? "no tunnel") }.joined(separator: "; ")
                    findings[f].evidence[e].facts.append(("tunnel_other", .string(text)))
                }
                findings[f].evidence[e].detail += " (seen inside " + TunnelContexts.text(hops) + ")"
            }
        }
    }

    /// The same layers, each in either direction (a query and its answer through one tunnel).
    static func sameLinks(_ a: [TunnelHop]?, _ b: [TunnelHop]) -> Bool {
        guard let a, a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            var r = y
            swap(&r.outerSource, &r.outerDestination)
            return x == y || x == r
        }
    }

    static func text(_ hops: [TunnelHop]) -> String { hops.map(\.text).joined(separator: " › ") }

    static func facts(_ hops: [TunnelHop]) -> [(String, SubjectValue)] {
        var out: [(String, SubjectValue)] = [("tunnel", .string(text(hops))),
                                             ("tunnel_kind", .string(hops.map(\.kind.rawValue).joined(separator: "/")))]
        if let ip = hops.last(where: { $0.outerSource != nil }), let s = ip.outerSource, let d = ip.outerDestination {
            out.append(("tunnel_src", .string(s.description)))
            out.append(("tunnel_dst", .string(d.description)))
        }
        var named = Set<String>()
        for h in hops {
            guard let id = h.id, let name = h.idName, named.insert(name).inserted else { continue }
            out.append(("tunnel_" + name, .int(Int(id))))
        }
        return out
    }
}
