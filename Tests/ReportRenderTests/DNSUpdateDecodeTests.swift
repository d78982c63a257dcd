import DNSWire
import Foundation
import ReportRender
import XCTest

/// Issue 17 item 6: a DNS UPDATE (opcode 5) decode line names its sections as RFC 2136 §2.2 does —
/// zone, prerequisite, update, additional — next to the generic names every opcode keeps.
final class DNSUpdateDecodeTests: XCTestCase {
    func name(_ s: String) -> [UInt8] {
        s.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    func rr(_ n: String, type: UInt16, cls: UInt16, ttl: UInt32, rdata: [UInt8]) -> [UInt8] {
        name(n) + [UInt8(type >> 8), UInt8(type & 0xff), UInt8(cls >> 8), UInt8(cls & 0xff),
                   UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xff), UInt8((ttl >> 8) & 0xff), UInt8(ttl & 0xff),
                   UInt8(rdata.count >> 8), UInt8(rdata.count & 0xff)] + rdata
    }

    func decodeLine(_ bytes: [UInt8]) throws -> [String: Any] {
        guard case .success(let m) = DNSMessage.parse(bytes) else { throw XCTSkip("does not parse") }
        var w = JSONWriter()
        writeDNSObject(m, into: &w)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
    }

    func testUpdateSectionsNamed() throws {
        // id 0x1234, opcode 5; ZOCOUNT 1, PRCOUNT 1, UPCOUNT 2, ADCOUNT 0.
        var m: [UInt8] = [0x12, 0x34, 5 << 3, 0, 0, 1, 0, 1, 0, 2, 0, 0]
        m += name("example.com") + [0, 6, 0, 1]                                        // zone: example.com SOA IN
        m += rr("host.example.com", type: 255, cls: 254, ttl: 0, rdata: [])             // prerequisite: name not in use
        m += rr("host.example.com", type: 1, cls: 1, ttl: 300, rdata: [192, 0, 2, 7])   // update: add an A
        m += rr("old.example.com", type: 255, cls: 255, ttl: 0, rdata: [])              // update: delete all RRsets
        let o = try decodeLine(m)
        XCTAssertEqual(o["opcode"] as? Int, 5)
        XCTAssertEqual(o["opcode_name"] as? String, "UPDATE")
        let zone = try XCTUnwrap(o["zone"] as? [[String: Any]])
        XCTAssertEqual(zone.map { $0["name"] as? String }, ["example.com."])
        XCTAssertEqual(zone.first?["type"] as? String, "SOA")
        let pre = try XCTUnwrap(o["prerequisite"] as? [[String: Any]])
        XCTAssertEqual(pre.map { $0["name"] as? String }, ["host.example.com."])
        XCTAssertEqual(pre.first?["class"] as? String, "NONE")
        let upd = try XCTUnwrap(o["update"] as? [[String: Any]])
        XCTAssertEqual(upd.map { $0["name"] as? String }, ["host.example.com.", "old.example.com."])
        XCTAssertEqual(upd.first?["data"] as? String, "192.0.2.7")
        XCTAssertEqual(upd.last?["class"] as? String, "ANY")
        XCTAssertEqual((o["additional"] as? [Any])?.count, 0)
        // The generic names stay (the contract keeps old names working).
        XCTAssertEqual((o["questions"] as? [Any])?.count, 1)
        XCTAssertEqual((o["authority"] as? [Any])?.count, 2)
    }

    func testQueryHasNoUpdateNames() throws {
        let q: [UInt8] = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + name("example.com") + [0, 1, 0, 1]
        let o = try decodeLine(q)
        XCTAssertNil(o["zone"])
        XCTAssertNil(o["opcode_name"])
    }
}
