import XCTest
final class FirewallPlaceholderTests: XCTestCase { func testPlaceholder() {} }
