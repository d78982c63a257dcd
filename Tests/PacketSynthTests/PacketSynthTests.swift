import XCTest
final class PacketSynthPlaceholderTests: XCTestCase { func testNothing() {} }
