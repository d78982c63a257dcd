import XCTest
final class DNSWireTestsPlaceholder: XCTestCase { func testNothing() {} }
