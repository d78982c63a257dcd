import Foundation
import IntegrationSupport
import XCTest

/// EVE and ECS outputs against the shared public schemas (`../shared/schemas`): every line of
/// `decode --format eve` and `analyze --format eve` (Suricata's `etc/schema.json`, DNS v3) and
/// every ECS-named field of `analyze --format jsonl` (Elastic's `ecs_flat.yml`: the field exists,
/// its value has the field's type, `allowed_values` respected), for every capture in `captures/`
/// and `../shared/captures-real/`. The validator is python3 with `jsonschema` and `yaml` (Debian:
/// python3-jsonschema, python3-yaml); skipped with a printed reason when missing.
final class OutputSchemaTests: XCTestCase {
    static let validator = #"""
import json, sys, ipaddress, re
import yaml, jsonschema
mode, schema_path = sys.argv[1], sys.argv[2]
files = sys.argv[3:]
errors = []
count = 0
if mode == "eve":
    schema = json.load(open(schema_path))
    v = jsonschema.Draft202012Validator(schema)
    for fn in files:
        for n, line in enumerate(open(fn, encoding="utf-8"), 1):
            if not line.strip():
                continue
            count += 1
            try:
                o = json.loads(line)
            except Exception as e:
                errors.append(f"{fn}:{n}: not JSON: {e}"); continue
            for e in v.iter_errors(o):
                errors.append(f"{fn}:{n}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
            for k in ("timestamp", "event_type"):
                if k not in o: errors.append(f"{fn}:{n}: no {k}")
            if o.get("event_type") in ("dns", "tls", "quic"):
                for k in ("flow_id", "pcap_cnt", "src_ip", "src_port", "dest_ip", "dest_port", "proto"):
                    if k not in o: errors.append(f"{fn}:{n}: {o['event_type']} record without {k}")
            if o.get("event_type") == "dns" and o["dns"].get("version") != 3:
                errors.append(f"{fn}:{n}: dns version is not 3")
else:
    ecs = yaml.load(open(schema_path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    own = {"event_type", "generated_at", "finding", "summary", "notes"}
    strings = {"keyword", "text", "wildcard", "constant_keyword", "match_only_text"}
    numbers = {"long", "integer", "short", "byte", "float", "half_float", "scaled_float", "double", "unsigned_long"}
    date_re = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
    def check_value(name, t, val, where):
        if t in strings: ok = isinstance(val, str)
        elif t in numbers: ok = isinstance(val, (int, float)) and not isinstance(val, bool)
        elif t == "boolean": ok = isinstance(val, bool)
        elif t == "ip":
            try: ipaddress.ip_address(val); ok = True
            except Exception: ok = False
        elif t == "date": ok = isinstance(val, str) and bool(date_re.match(val))
        else: ok = False
        if not ok: errors.append(f"{where}: {name} = {val!r} is not an ECS {t}")
    def walk(prefix, o, where):
        for k, val in o.items():
            name = prefix + k
            if not prefix and k in own: continue
            if name in ecs:
                d = ecs[name]; t = d["type"]
                if isinstance(val, list):
                    for x in val: check_value(name, t, x, where)
                else:
                    check_value(name, t, val, where)
                allowed = d.get("allowed_values")
                if allowed:
                    names = {a["name"] for a in allowed}
                    for x in (val if isinstance(val, list) else [val]):
                        if x not in names: errors.append(f"{where}: {name} = {x!r} is not an allowed value")
            elif isinstance(val, dict):
                walk(name + ".", val, where)
            else:
                errors.append(f"{where}: {name} is not an ECS field")
    for fn in files:
        for n, line in enumerate(open(fn, encoding="utf-8"), 1):
            if not line.strip(): continue
            count += 1
            o = json.loads(line)
            walk("", o, f"{fn}:{n}")
            if o.get("event_type") == "finding":
                if "@timestamp" not in o or "created" not in o.get("event", {}):
                    errors.append(f"{fn}:{n}: finding without @timestamp or event.created")
print(f"{mode}: {count} lines in {len(files)} files, {len(errors)} problems")
for e in errors[:60]: print(e)
sys.exit(1 if errors else 0)
"""#

    static var schemas: URL { TestPaths.root.deletingLastPathComponent().appendingPathComponent("shared/schemas") }

    func python() throws -> String {
        for p in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: p) {
            if let r = try? runBounded(p, ["-c", "import jsonschema, yaml"], timeout: 30), r.status == 0 { return p }
        }
        let reason = "OutputSchemaTests: no python3 with jsonschema and yaml (apt-get install -y python3-jsonschema python3-yaml)"
        print("SKIP " + reason)
        throw XCTSkip(reason)
    }

    func captures() -> [URL] {
        var out: [URL] = []
        let fm = FileManager.default
        for base in [TestPaths.root.appendingPathComponent("captures"), TestPaths.realCaptures].compactMap({ $0 }) {
            guard let e = fm.enumerator(at: base, includingPropertiesForKeys: nil) else { continue }
            for case let u as URL in e where ["pcap", "pcapng", "cap"].contains(u.pathExtension) { out.append(u) }
        }
        if TestPaths.realCaptures == nil { print("OutputSchemaTests: ../shared/captures-real is absent: only captures/ is checked") }
        return out.sorted { $0.path < $1.path }
    }

    /// Runs dnsaudit with `args` + capture for every capture, all lines into one file.
    func collect(_ args: [String], into file: URL) throws -> Int {
        var all = Data()
        var n = 0
        for c in captures() {
            let r = try runBounded(TestPaths.dnsaudit.path, args + [c.path], timeout: 120)
            XCTAssertTrue([0, 1].contains(r.status), "dnsaudit \(args.joined(separator: " ")) \(c.lastPathComponent): exit \(r.status) \(r.stderr.prefix(300))")
            all += r.stdoutData
            n += 1
        }
        try all.write(to: file)
        return n
    }

    func validate(_ mode: String, schema: String, _ files: [URL]) throws {
        let py = try python()
        let schemaFile = Self.schemas.appendingPathComponent(schema)
        guard FileManager.default.fileExists(atPath: schemaFile.path) else {
            throw XCTSkip("OutputSchemaTests: \(schemaFile.path) is absent")
        }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-schema-check-\(UUID().uuidString).py")
        try Self.validator.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let r = try runBounded(py, [script.path, mode, schemaFile.path] + files.map(\.path), timeout: 300)
        print(r.stdout.split(separator: "\n").first.map(String.init) ?? "")
        XCTAssertEqual(r.status, 0, "\(mode) validation:\n\(r.output.prefix(6000))")
    }

    func testEVEDecodeAndAlertLinesValidateAgainstSuricataSchema() throws {
        _ = try python()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-eve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let decode = dir.appendingPathComponent("decode.eve.json"), alerts = dir.appendingPathComponent("alerts.eve.json")
        let n = try collect(["decode", "--format", "eve"], into: decode)
        _ = try collect(["analyze", "--format", "eve", "--fail-on", "critical"], into: alerts)
        let lines = (try String(contentsOf: decode, encoding: .utf8)).split(separator: "\n")
        let types = Set(lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }.compactMap { $0["event_type"] as? String })
        print("OutputSchemaTests: \(n) captures, \(lines.count) EVE decode lines, event types \(types.sorted())")
        XCTAssertTrue(types.isSuperset(of: ["dns"]), "\(types)")
        if TestPaths.realCaptures != nil { XCTAssertTrue(types.isSuperset(of: ["dns", "tls", "quic"]), "\(types)") }
        let alertLines = (try String(contentsOf: alerts, encoding: .utf8)).split(separator: "\n")
        XCTAssertFalse(alertLines.isEmpty, "the demo injection gives alert records")
        try validate("eve", schema: "suricata-eve.schema.json", [decode, alerts])
    }

    func testECSFieldsOfJSONLinesExistWithTheirTypes() throws {
        _ = try python()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-ecs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let lines = dir.appendingPathComponent("report.jsonl")
        _ = try collect(["analyze", "--format", "jsonl", "--fail-on", "critical"], into: lines)
        try validate("ecs", schema: "ecs_flat.yml", [lines])
        // @timestamp is the event's time (the demo capture's packets, January 2026), event.created the report's.
        let demo = try runBounded(TestPaths.dnsaudit.path, ["analyze", "--format", "jsonl", TestPaths.root.appendingPathComponent("captures/dns-injection.pcap").path], timeout: 60)
        let first = try XCTUnwrap(demo.stdout.split(separator: "\n").first.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] })
        // The injection's evidence stamps its time: the injected answer's frame 12 (tshark: 1768467601.002137000).
        XCTAssertEqual(first["@timestamp"] as? String, "2026-01-15T09:00:01.002137000Z", "the packet's time, not the report's")
        XCTAssertEqual((first["event"] as? [String: Any])?["created"] as? String, first["generated_at"] as? String)
    }

    /// The validator itself rejects what it should (so a pass means something).
    func testValidatorRejectsBadLines() throws {
        let py = try python()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("check.py")
        try Self.validator.write(to: script, atomically: true, encoding: .utf8)
        let badEVE = dir.appendingPathComponent("bad.eve"), badECS = dir.appendingPathComponent("bad.jsonl")
        try #"{"timestamp":"2026-01-01T00:00:00Z","event_type":"dns","dns":{"version":3,"bogus":1}}"#.write(to: badEVE, atomically: true, encoding: .utf8)
        try #"{"@timestamp":"x","event":{"severity":"high","kind":"nonsense","created":"2026-01-01T00:00:00Z"},"made.up":1,"event_type":"finding"}"#.write(to: badECS, atomically: true, encoding: .utf8)
        let e = try runBounded(py, [script.path, "eve", Self.schemas.appendingPathComponent("suricata-eve.schema.json").path, badEVE.path], timeout: 60)
        XCTAssertNotEqual(e.status, 0, e.output)
        XCTAssertTrue(e.stdout.contains("bogus") && e.stdout.contains("timestamp"), e.output)
        let c = try runBounded(py, [script.path, "ecs", Self.schemas.appendingPathComponent("ecs_flat.yml").path, badECS.path], timeout: 60)
        XCTAssertNotEqual(c.status, 0, c.output)
        for needle in ["@timestamp", "event.severity", "event.kind", "made"] { XCTAssertTrue(c.stdout.contains(needle), "\(needle): \(c.output)") }
    }
}
