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
        let slots = temporaries.map { InterruptCleanup.register($0) }
        defer { for s in slots { InterruptCleanup.unregister(s) } }
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
            InterruptCleanup.faultInjection()
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

    /// Writes `data` atomically, with open(2) and write(2) so that an error names the
    /// OS's reason (Foundation said "Failed to open" and no more; issue #23 row 16).
    public static func write(_ path: String, data: Data) throws {
        try write(path) { tmp in
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw NumPyIOError(file: path, "cannot write: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let bytes = [UInt8](data)
            var done = 0
            while done < bytes.count {
                let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw NumPyIOError(file: path, "cannot write: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
    }
}

/// Removes the temporary files of writes in progress when SIGINT or SIGTERM ends the
/// process, then exits 128 + the signal (issue #23 row 14: `timeout` left a 137 MB
/// `.r.npz.PID.tmp` behind a resnet18 `init`). The handler is installed only where the
/// signal still has its default action: `pretrain` handles its own stop signals, and its
/// writes finish before it stops. Slots are C strings in static storage, because a
/// signal handler may only call async-signal-safe functions (unlink, write, _exit).
enum InterruptCleanup {
    static let capacity = 16
    nonisolated(unsafe) static let paths = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
    nonisolated(unsafe) static var installed = false
    static let lock = NSLock()

    /// Records `path` for removal on a stop signal; returns its slot (nil when full).
    static func register(_ path: String) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        if !installed {
            for i in 0..<capacity { paths[i] = nil }
            for sig in [SIGINT, SIGTERM] { installIfDefault(sig) }
            installed = true
        }
        guard let slot = (0..<capacity).first(where: { paths[$0] == nil }) else { return nil }
        paths[slot] = strdup(path)
        return slot
    }

    static func unregister(_ slot: Int?) {
        guard let slot else { return }
        lock.lock()
        defer { lock.unlock() }
        let p = paths[slot]
        paths[slot] = nil
        free(p)
    }

    static func installIfDefault(_ sig: Int32) {
        var current = sigaction()
        sigaction(sig, nil, &current)
        guard current.__sigaction_handler.sa_handler == nil else { return }  // SIG_DFL is 0: someone else handles it
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { sig in
            for i in 0..<InterruptCleanup.capacity { if let p = InterruptCleanup.paths[i] { unlink(p) } }
            _exit(ExitStatus.signalled(sig))
        }
        sigemptyset(&action.sa_mask)
        sigaction(sig, &action, nil)
    }

    /// Tests: BYOL_FAULT_SIGNAL_DURING_WRITE=TERM or INT raises that signal after the
    /// temporary files are written, before they are renamed into place.
    static func faultInjection() {
        switch ProcessInfo.processInfo.environment["BYOL_FAULT_SIGNAL_DURING_WRITE"] {
        case "TERM": raise(SIGTERM)
        case "INT": raise(SIGINT)
        default: break
        }
    }
}
