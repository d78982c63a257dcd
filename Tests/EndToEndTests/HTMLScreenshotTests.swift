import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Root only (headless Chromium runs inside a network namespace this test creates, `gx-html-<pid>`,
/// with nothing but its loopback: the browser cannot reach any network). Renders the HTML report
/// of each demo capture, a ruleset-only report and the demo capture tied to a hijacking ruleset
/// (confirmed findings: path sketches) to PNG screenshots in `$DNSAUDIT_SCREENSHOTS` (default
/// `/tmp/dnsaudit-html-screenshots`, kept for people to look at), and checks the pages hold what
/// the pictures need. Skipped with the reason printed without root or chromium.
final class HTMLScreenshotTests: XCTestCase {
    func testDemoReportsRenderInHeadlessChromium() throws {
        try Requirements.requireRoot("HTMLScreenshotTests", "needs root (the browser runs in a network namespace of its own)")
        let tools = try Requirements.requireTools("HTMLScreenshotTests", [("ip", "iproute2"), ("chromium", "chromium")])
        let ip = tools["ip"]!, chromium = tools["chromium"]!
        let out = URL(fileURLWithPath: ProcessInfo.processInfo.environment["DNSAUDIT_SCREENSHOTS"] ?? "/tmp/dnsaudit-html-screenshots")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)

        let root = TestPaths.root
        let injection = root.appendingPathComponent("captures/dns-injection.pcap").path
        let dnat = root.appendingPathComponent("rules/examples/router-dns-dnat.rules").path
        var pages: [(name: String, args: [String])] = []
        for c in ["dns-clean", "dns-injection", "dns-tcp-fragments"] {
            pages.append((c, ["analyze", root.appendingPathComponent("captures/\(c).pcap").path]))
        }
        pages.append(("ruleset-only", ["rules", "--file", dnat]))
        pages.append(("injection-with-ruleset", ["analyze", "--ruleset", dnat, injection]))

        let ns = "gx-html-\(getpid())"
        let added = try runBounded(ip, ["netns", "add", ns], timeout: 15)
        guard added.status == 0 else { throw XCTSkip("HTMLScreenshotTests: cannot create a network namespace: \(added.output)") }
        defer { _ = try? runBounded(ip, ["netns", "delete", ns], timeout: 15) }
        _ = try runBounded(ip, ["-n", ns, "link", "set", "lo", "up"], timeout: 15)
        let routes = try runBounded(ip, ["-n", ns, "route", "show"], timeout: 15)
        XCTAssertEqual(routes.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "", "the browser's namespace has no route anywhere")

        for page in pages {
            let html = out.appendingPathComponent("\(page.name).html"), png = out.appendingPathComponent("\(page.name).png")
            try? FileManager.default.removeItem(at: png)
            let r = try runBounded(TestPaths.dnsaudit.path, page.args + ["--format", "html", "--output", html.path], timeout: 120)
            XCTAssertTrue([0, 1].contains(r.status), "\(page.name): \(r.stderr)")
            let text = (try? String(contentsOf: html, encoding: .utf8)) ?? ""
            switch page.name {
            case "dns-injection":
                XCTAssertTrue(text.contains("<svg") && text.contains("Timeline: the query and each answer"), "a race timeline")
            case "injection-with-ruleset":
                XCTAssertTrue(text.contains("Path sketch of this confirmed finding"), "a path sketch for the confirmed findings")
            case "ruleset-only":
                XCTAssertFalse(text.contains("<th>Packets</th>"), "no packet table without packets")
                XCTAssertFalse(text.contains("`"), "no literal backticks")
            default: break
            }
            let shot = try runBounded(ip, ["netns", "exec", ns, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                           "--screenshot=\(png.path)", "--window-size=1200,2400", "file://\(html.path)"], timeout: 120)
            let data = (try? Data(contentsOf: png)) ?? Data()
            XCTAssertGreaterThan(data.count, 10_000, "\(page.name): chromium wrote a screenshot: \(shot.output.suffix(600))")
            XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "\(page.name): a PNG")
            print("HTMLScreenshotTests: \(page.name): \(png.path) (\(data.count) bytes)")
        }
    }
}
