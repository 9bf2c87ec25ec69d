import Foundation

/// Paths of the repository, found from this file's location (Tests/TestSupport/).
public enum Repo {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func fixture(_ relative: String) -> String {
        root.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
    }
}

/// A fresh temporary directory, removed when the value is released.
public final class TemporaryDirectory {
    public let path: String

    public init() {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("byol-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    public func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

public func readBytes(_ path: String) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: path) ?? Data())
}

public func writeBytes(_ bytes: [UInt8], _ path: String) {
    try! Data(bytes).write(to: URL(fileURLWithPath: path))
}
