import Foundation

/// Writes a file so that it either appears whole or not at all: `body` writes to a
/// temporary path in the same directory, which is then renamed over the target. On any
/// error the temporary file is removed and the target is untouched.
public enum AtomicFile {
    public static func write(_ path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw NumPyIOError(file: path, "cannot write: directory \(dir) does not exist")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw NumPyIOError(file: path, "cannot write: is a directory")
        }
        let tmp = dir + "/." + url.lastPathComponent + ".\(getpid()).tmp"
        do {
            try body(tmp)
            // Flush to disk before the rename so that a crash cannot leave a renamed but
            // empty file.
            let fd = open(tmp, O_RDONLY)
            guard fd >= 0 else { throw NumPyIOError(file: path, "cannot write: \(String(cString: strerror(errno)))") }
            fsync(fd)
            close(fd)
            guard rename(tmp, path) == 0 else {
                throw NumPyIOError(file: path, "cannot write: \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Writes `data` atomically.
    public static func write(_ path: String, data: Data) throws {
        try write(path) { tmp in
            // Data.write says why it failed, where FileManager.createFile only returns
            // false; atomicity comes from the rename below.
            do { try data.write(to: URL(fileURLWithPath: tmp)) } catch {
                throw NumPyIOError(file: path, "cannot write: \(error.localizedDescription)")
            }
        }
    }
}
