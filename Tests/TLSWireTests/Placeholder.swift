import XCTest
final class TLSWireTestsPlaceholder: XCTestCase { func testNothing() {} }
