import Foundation

/// Writes files so that each either appears whole or not at all: `body` writes to a
/// temporary path in the same directory, which is then renamed over the target. On any
/// error the temporary files are removed and the targets are untouched.
public enum AtomicFile {
    public static func write(_ path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
        try withoutActuallyEscaping(body) { try writeTogether([(path, $0)]) }
    }

    /// Several outputs of one command (a next state and its gradients): every target is
    /// checked and every temporary file written before the first rename, so that a
    /// failure on any of them (a missing directory, a full disk) leaves none behind.
    public static func writeTogether(_ files: [(path: String, body: (_ temporaryPath: String) throws -> Void)]) throws {
        for f in files { try checkWritable(f.path) }
        let temporaries = files.map { temporaryPath(for: $0.path) }
        do {
            for (f, tmp) in zip(files, temporaries) {
                try f.body(tmp)
                // Flush to disk before the rename so that a crash cannot leave a renamed
                // but empty file.
                let fd = open(tmp, O_RDONLY)
                guard fd >= 0 else { throw NumPyIOError(file: f.path, "cannot write: \(String(cString: strerror(errno)))") }
                fsync(fd)
                close(fd)
            }
            for (f, tmp) in zip(files, temporaries) {
                guard rename(tmp, f.path) == 0 else {
                    throw NumPyIOError(file: f.path, "cannot write: \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            for tmp in temporaries { unlink(tmp) }
            throw error
        }
    }

    /// Throws the one-line error a later write to `path` would hit (missing directory,
    /// a directory in the way), so that commands can fail before long work. An output only
    /// ever replaces a regular file: a device, FIFO, socket or symbolic link in its place is
    /// refused (the rename replaced /dev/full with a file; issue #23 row 8).
    public static func checkWritable(_ path: String) throws {
        guard !path.isEmpty else { throw NumPyIOError(file: path, "an empty path is no file to write") }
        var st = stat()
        if lstat(path, &st) == 0 {
            let type: String?
            switch st.st_mode & S_IFMT {
            case S_IFREG: type = nil
            case S_IFDIR: type = "a directory"
            case S_IFCHR: type = "a character device"
            case S_IFBLK: type = "a block device"
            case S_IFIFO: type = "a FIFO"
            case S_IFSOCK: type = "a socket"
            case S_IFLNK: type = "a symbolic link"
            default: type = "not a regular file"
            }
            if let type { throw NumPyIOError(file: path, "cannot write: is \(type); an output only replaces a regular file") }
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw NumPyIOError(file: path, "cannot write: directory \(dir) does not exist")
        }
    }

    static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".\(getpid()).tmp"
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
