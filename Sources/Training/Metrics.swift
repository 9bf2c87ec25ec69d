import Data
import Foundation
import NumPyIO

/// metrics.jsonl: one JSON object per line, appended and flushed as the run goes.
final class Metrics {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DataError("\(path): cannot open for appending: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// One line, written with write(2) so that a full disk or an I/O error is an error
    /// naming the file and the OS reason (Foundation's FileHandle.write traps on them;
    /// issue #23 row 6). A line cut short stays in the file: `truncate` drops it on resume.
    func append(_ obj: [String: Any]) throws {
        let line = [UInt8](try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) + [UInt8(ascii: "\n")]
        var done = 0
        while done < line.count {
            let n = line[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DataError("\(path): cannot append a line: \(String(cString: strerror(errno)))") }
            done += n
        }
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
