import XCTest
final class PacketDecodeTestsPlaceholder: XCTestCase { func testNothing() {} }
