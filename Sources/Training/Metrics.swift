import Data
import Foundation
import NumPyIO

/// metrics.jsonl: one JSON object per line, appended and flushed as the run goes.
final class Metrics {
    let handle: FileHandle

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { try Data().write(to: URL(fileURLWithPath: path)) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw DataError("\(path): cannot open for writing") }
        handle = h
        handle.seekToEndOfFile()
    }

    func append(_ obj: [String: Any]) throws {
        let line = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
        handle.write(line + Data("\n".utf8))
    }

    /// Whether the file records a finished training step (a run that trained).
    static func hasSteps(_ path: String) -> Bool {
        guard let d = FileManager.default.contents(atPath: path) else { return false }
        return String(decoding: d, as: UTF8.self).split(separator: "\n").contains { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["type"] as? String == "step"
        }
    }

    /// Keeps the lines a resumed run would have written up to its checkpoint.
    static func truncate(_ path: String, throughStep step: Int, epochsDone: Int) throws {
        guard let d = FileManager.default.contents(atPath: path) else { return }
        let kept = String(decoding: d, as: UTF8.self).split(separator: "\n").filter { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return false }
            if o["type"] as? String == "epoch" { return (o["epoch"] as? Int ?? 0) <= epochsDone }
            return (o["step"] as? Int ?? 0) <= step
        }
        try AtomicFile.write(path, data: Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8))
    }
}
