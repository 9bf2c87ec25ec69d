import Foundation

// What every fuzz target shares. Each target is built by ci/fuzz with libFuzzer
// (-sanitize=fuzzer,address) together with the modules it reads through; this folder is
// no SwiftPM target, so `swift build` and `swift test` never compile it.

/// A per-process scratch file in memory-backed storage: the readers take paths.
func scratchPath(_ name: String) -> String {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return "\(dir)/byol-fuzz-\(getpid())-\(name)"
}

func writeScratch(_ data: UnsafePointer<UInt8>, _ size: Int, to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot write \(path)")
    var done = 0
    while done < size {
        let n = write(fd, data + done, size - done)
        precondition(n > 0, "cannot write \(path)")
        done += n
    }
    close(fd)
}

/// A property every input must keep; on a violation says which before aborting, so
/// that the log shows it whatever the optimization level (-O drops precondition texts).
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        FileHandle.standardError.write(("fuzz property violated: " + message() + "\n").data(using: .utf8)!)
        abort()
    }
}

func violated(_ message: String) -> Never {
    require(false, message)
    fatalError()
}

/// `load()`'s value, or nil when it refused the input, after checking the refusal's
/// message (one line naming `path`).
func loadOrRefuse<T>(_ path: String, _ load: () throws -> T) -> T? {
    do {
        return try load()
    } catch {
        checkErrorMessage(error, mentions: path)
        return nil
    }
}

/// The contract for a refused input: one line that names the file it read.
func checkErrorMessage(_ error: Error, mentions path: String) {
    let text = "\(error)"
    require(!text.contains("\n"), "multi-line error: \(text)")
    require(text.contains(path), "error does not name the file: \(text)")
}
