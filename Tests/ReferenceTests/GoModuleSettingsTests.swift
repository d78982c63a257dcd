import Probes
import XCTest

/// `--goproxy`'s reading of the Go module settings (GOPROXY, GOSUMDB, GONOSUMDB, GONOPROXY,
/// GOPRIVATE) and the plan of what a module fetch contacts. Pure: no network.
final class GoModuleSettingsTests: XCTestCase {
    func testDefaultsAndPrecedence() throws {
        let d = GoModuleSettings.resolve(environment: [:])
        XCTAssertEqual(d.goproxy, "https://proxy.golang.org,direct")
        XCTAssertEqual(d.gosumdb, "sum.golang.org")
        XCTAssertEqual(d.gonosumdb, "")
        // The environment wins over `go env`, which wins over the defaults; empty values do not count.
        let s = GoModuleSettings.resolve(environment: ["GOPROXY": "https://a.example", "GOSUMDB": ""],
                                         goEnv: ["GOPROXY": "https://b.example", "GOSUMDB": "sum.golang.google.cn"])
        XCTAssertEqual(s.goproxy, "https://a.example")
        XCTAssertEqual(s.gosumdb, "sum.golang.google.cn")
        // GONOSUMDB and GONOPROXY default to GOPRIVATE; set explicitly, they do not.
        let p = GoModuleSettings.resolve(environment: ["GOPRIVATE": "corp.example/*", "GONOPROXY": "none.example"])
        XCTAssertEqual(p.gonosumdb, "corp.example/*")
        XCTAssertEqual(p.gonoproxy, "none.example")
    }

    func testSumDBForms() throws {
        XCTAssertEqual(try GoModuleSettings(gosumdb: "sum.golang.org").sumDB(),
                       GoModuleSettings.SumDB(name: "sum.golang.org", key: nil, url: "https://sum.golang.org"))
        let keyed = try GoModuleSettings(gosumdb: "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8").sumDB()
        XCTAssertEqual(keyed?.name, "sum.golang.org")
        XCTAssertEqual(keyed?.key, "033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8")
        XCTAssertEqual(keyed?.url, "https://sum.golang.org")
        let withURL = try GoModuleSettings(gosumdb: "sum.lab.test+abc https://198.18.60.20:8443/sumdb").sumDB()
        XCTAssertEqual(withURL, GoModuleSettings.SumDB(name: "sum.lab.test", key: "abc", url: "https://198.18.60.20:8443/sumdb"))
        XCTAssertNil(try GoModuleSettings(gosumdb: "off").sumDB())
        XCTAssertThrowsError(try GoModuleSettings(gosumdb: "off now").sumDB())
        XCTAssertThrowsError(try GoModuleSettings(gosumdb: "a b c").sumDB())
        XCTAssertThrowsError(try GoModuleSettings(gosumdb: "sum.lab.test ftp://x").sumDB())
        XCTAssertThrowsError(try GoModuleSettings(gosumdb: "bad/name").sumDB())
    }

    func testPrefixPatterns() {
        // Go's module.MatchPrefixPatterns: a glob per comma-separated pattern, matched against the
        // module path's first as-many elements.
        XCTAssertTrue(GoModuleSettings.matches("corp.example/team/mod", patterns: "corp.example"))
        XCTAssertTrue(GoModuleSettings.matches("corp.example/team/mod", patterns: "other.example, *.example/team"))
        XCTAssertTrue(GoModuleSettings.matches("git.corp.example/x", patterns: "*.corp.example"))
        XCTAssertFalse(GoModuleSettings.matches("corp.example.evil/x", patterns: "corp.example"))
        XCTAssertFalse(GoModuleSettings.matches("golang.org/x/text", patterns: "golang.org/x/tools"))
        XCTAssertTrue(GoModuleSettings.matches("golang.org/x/text", patterns: "*"), "one element, golang.org: GOPRIVATE=* covers everything")
        XCTAssertFalse(GoModuleSettings.matches("golang.org/x/text", patterns: "golang.org*text"), "a one-element pattern meets golang.org only")
        XCTAssertTrue(GoModuleSettings.matches("golang.org/x/text", patterns: "golang.org/?/te?t"))
        XCTAssertFalse(GoModuleSettings.matches("golang.org", patterns: "golang.org/x"), "a pattern longer than the path")
        XCTAssertFalse(GoModuleSettings.matches("golang.org/x/text", patterns: ", ,"))
    }

    func testPlanOrderAndFallback() throws {
        let s = GoModuleSettings(goproxy: "https://proxy.lab.test/go,https://b.example|direct", gosumdb: "sum.lab.test https://198.18.60.20")
        let plan = try s.plan()
        XCTAssertEqual(plan.steps.map(\.role), [.proxy, .proxy, .direct, .checksumDatabase])
        XCTAssertEqual(plan.steps.map(\.target.path), ["/go/golang.org/x/text/@v/list", "/golang.org/x/text/@v/list", "/x/text?go-get=1", "/latest"])
        XCTAssertEqual(plan.steps.map(\.fallsBackOnAnyError), [false, true, false, false])
        XCTAssertEqual(plan.steps[2].target.host, "golang.org")
        XCTAssertEqual(plan.steps[3].target.host, "198.18.60.20")
        XCTAssertEqual(plan.sumDBName, "sum.lab.test")

        func works(_ ok: Set<String>) -> (ProbeTarget) -> Bool { { ok.contains($0.host) } }
        // Everything works: nothing fails.
        XCTAssertNil(plan.firstFailure(works(["proxy.lab.test", "b.example", "golang.org", "198.18.60.20"])))
        // The first proxy is broken and ',' follows it: the fetch fails there.
        XCTAssertEqual(plan.firstFailure(works(["b.example", "golang.org", "198.18.60.20"]))?.target.host, "proxy.lab.test")
        // Proxy works, the checksum database does not.
        XCTAssertEqual(plan.firstFailure(works(["proxy.lab.test"]))?.role, .checksumDatabase)

        // '|' falls through on any error: the second proxy broken, direct works.
        let piped = try GoModuleSettings(goproxy: "https://a.example|https://b.example|direct", gosumdb: "off").plan()
        XCTAssertNil(piped.firstFailure(works(["golang.org"])))
        XCTAssertEqual(piped.firstFailure(works([]))?.target.host, "a.example", "the first broken entry is named")
        XCTAssertTrue(piped.notes.contains { $0.contains("GOSUMDB=off") })
        XCTAssertFalse(piped.steps.contains { $0.role == .checksumDatabase })
    }

    func testPrivateModulesSkipProxyAndSumDB() throws {
        let s = GoModuleSettings.resolve(environment: ["GOPRIVATE": "golang.org/x"])
        let plan = try s.plan()
        XCTAssertEqual(plan.steps.map(\.role), [.direct], "GONOPROXY and GONOSUMDB default to GOPRIVATE")
        XCTAssertEqual(plan.notes.count, 2, "\(plan.notes)")
        // GOPROXY=off stops the fetch stage; the checksum database is still listed.
        let off = try GoModuleSettings(goproxy: "off").plan()
        XCTAssertEqual(off.steps.map(\.role), [.checksumDatabase])
        XCTAssertThrowsError(try GoModuleSettings(goproxy: "ftp://x").plan())
    }
}
