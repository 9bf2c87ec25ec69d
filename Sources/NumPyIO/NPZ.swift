import CArchive
import Foundation

/// `.npz` files: zip archives of `.npy` members, read and written through libarchive.
///
/// Reading accepts what `numpy.savez` (stored, ZIP64 extra fields) and
/// `numpy.savez_compressed` (deflate) write. Writing stores members uncompressed in the
/// order given, with every timestamp and owner fixed, so the same arrays give the same
/// bytes; the file appears atomically (temporary file, then rename).
public enum NPZ {
    /// Reads every member, in archive order. Member names lose their `.npy` suffix.
    public static func read(_ path: String) throws -> [(name: String, array: NDArray)] {
        try readWithDTypes(path).members
    }

    /// The members, and each member's dtype as its `.npy` header states it.
    static func readWithDTypes(_ path: String) throws -> (members: [(name: String, array: NDArray)], descrs: [String: String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw NumPyIOError(file: path, "no such file")
        }
        guard !isDir.boolValue else { throw NumPyIOError(file: path, "is a directory, not an .npz file") }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        // No member can hold more than its archive's bytes inflated at deflate's largest
        // ratio (1032:1): a larger declared or delivered size is corruption, refused
        // before it is allocated.
        let maxMemberBytes = fileBytes * 1032 + (1 << 16)
        guard let a = archive_read_new() else { throw NumPyIOError(file: path, "libarchive: out of memory") }
        defer { archive_read_free(a) }
        // The seekable reader works from the central directory, so a file cut anywhere
        // (even after its last member's data) is rejected.
        archive_read_support_format_zip_seekable(a)
        archive_read_support_filter_none(a)
        guard archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK else {
            // A zip of no members is its end record alone (numpy.savez with no arrays and our
            // own writer give one); libarchive does not recognize it.
            if fileBytes == 22, let h = FileHandle(forReadingAtPath: path), let end = try? h.read(upToCount: 22),
                end.starts(with: [0x50, 0x4B, 0x05, 0x06]), end[8...11].allSatisfy({ $0 == 0 })
            {
                return ([], [:])
            }
            // A zip that starts like one but has no readable central directory at its end
            // was cut short (or its end overwritten): say so rather than libarchive's
            // "Unrecognized archive format".
            if let h = FileHandle(forReadingAtPath: path), let head = try? h.read(upToCount: 4), head == Data([0x50, 0x4B, 0x03, 0x04]) {
                let size = (try? h.seekToEnd()) ?? 0
                throw NumPyIOError(file: path, "truncated or damaged zip (.npz) file: no central directory at the end of its \(size) bytes")
            }
            throw NumPyIOError(file: path, "not a readable zip (.npz) file: \(message(a))")
        }
        var members: [(name: String, array: NDArray)] = []
        var descrs: [String: String] = [:]
        var entry: OpaquePointer?
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry else {
                let what = members.isEmpty ? "not a valid zip (.npz) file" : "corrupt zip after member '\(members[members.count - 1].name)'"
                throw NumPyIOError(file: path, "\(what): \(message(a))")
            }
            let rawName = archive_entry_pathname(entry).map { String(cString: $0) } ?? "?"
            let name = rawName.hasSuffix(".npy") ? String(rawName.dropLast(4)) : rawName
            let declared = archive_entry_size_is_set(entry) != 0 ? Int(archive_entry_size(entry)) : nil
            if let declared, declared < 0 || declared > maxMemberBytes {
                throw NumPyIOError(file: path, array: name, "member declares \(declared) bytes, impossible in a \(fileBytes)-byte archive")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(declared ?? 0)
            while true {
                let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
                if n == 0 { break }
                guard n > 0 else {
                    throw NumPyIOError(file: path, array: name, "truncated or corrupt member: \(message(a))")
                }
                bytes += chunk[0..<n]
                guard bytes.count <= (declared ?? maxMemberBytes) else {
                    throw NumPyIOError(
                        file: path, array: name,
                        "member data longer than \(declared.map { "its declared \($0)" } ?? "possible in a \(fileBytes)-byte archive") bytes")
                }
            }
            if archive_entry_size_is_set(entry) != 0, Int64(bytes.count) != archive_entry_size(entry) {
                throw NumPyIOError(file: path, array: name, "truncated member: \(bytes.count) of \(archive_entry_size(entry)) bytes")
            }
            if members.contains(where: { $0.name == name }) {
                throw NumPyIOError(file: path, array: name, "appears twice in the archive")
            }
            let (array, descr) = try NPY.decodeWithDType(bytes, file: path, name: name)
            members.append((name, array))
            descrs[name] = descr
        }
        return (members, descrs)
    }

    /// Reads the archive into a dictionary (names are unique; `read` checks it).
    public static func load(_ path: String) throws -> NPZFile {
        let (members, descrs) = try readWithDTypes(path)
        return NPZFile(path: path, members: members, fileDTypes: descrs)
    }

    /// Writes `members` in the given order, atomically: the bytes go to a temporary file
    /// beside `path`, which is renamed over `path` only once complete.
    public static func write(_ members: [(name: String, array: NDArray)], to path: String) throws {
        try writeTogether([(members, path)])
    }

    /// A command's output (docs/contract.md §1.3: no file holding NaN or infinity is
    /// written with exit 0): refused, naming the array and the first such element, with
    /// nothing written. Commands check their results with a sharper message first
    /// (`step`, `embed`, `knn`); this is the rule every output passes through.
    public static func writeOutput(_ members: [(name: String, array: NDArray)], to path: String) throws {
        try writeOutputsTogether([(members, path)])
    }

    /// Several outputs of one command, all or none, each as `writeOutput`.
    public static func writeOutputsTogether(_ files: [(members: [(name: String, array: NDArray)], path: String)]) throws {
        for f in files { for m in f.members { try requireFinite(m.array, file: f.path, array: m.name) } }
        try writeTogether(files)
    }

    /// Throws, naming `file` and `array`, at the first NaN or infinity of a float array.
    public static func requireFinite(_ a: NDArray, file: String, array: String) throws {
        guard !a.isFinite else { return }
        let i: Int?
        switch a.storage {
        case .float64(let v): i = v.firstIndex { !$0.isFinite }
        case .float32(let v): i = v.firstIndex { !$0.isFinite }
        default: i = nil
        }
        throw NumPyIOError(file: file, array: array, "non-finite value at flat index \(i ?? 0); nothing written")
    }

    /// Several `.npz` outputs of one command, all or none (AtomicFile.writeTogether).
    public static func writeTogether(_ files: [(members: [(name: String, array: NDArray)], path: String)]) throws {
        for f in files {
            var seen = Set<String>()
            for m in f.members where !seen.insert(m.name).inserted {
                throw NumPyIOError(file: f.path, array: m.name, "appears twice in the arrays to write")
            }
        }
        try AtomicFile.writeTogether(files.map { f in (f.path, { tmp in try encode(f.members, to: tmp, reportingAs: f.path) }) })
    }

    /// The zip of `members` (stored, fixed metadata) written to `tmp`; errors name `path`.
    private static func encode(_ members: [(name: String, array: NDArray)], to tmp: String, reportingAs path: String) throws {
        guard let a = archive_write_new() else { throw NumPyIOError(file: path, "libarchive: out of memory") }
        defer { archive_write_free(a) }
        guard archive_write_set_format_zip(a) == ARCHIVE_OK,
            archive_write_set_options(a, "zip:compression=store") == ARCHIVE_OK,
            archive_write_open_filename(a, tmp) == ARCHIVE_OK
        else { throw NumPyIOError(file: path, "cannot write: \(message(a))") }
        guard let e = archive_entry_new() else { throw NumPyIOError(file: path, "libarchive: out of memory") }
        defer { archive_entry_free(e) }
        for (name, array) in members {
            let bytes = NPY.encode(array)
            archive_entry_clear(e)
            archive_entry_set_pathname(e, name + ".npy")
            archive_entry_set_filetype(e, BYOL_AE_IFREG)
            archive_entry_set_perm(e, 0o644)
            archive_entry_set_size(e, la_int64_t(bytes.count))
            // Fixed metadata: the same arrays must give the same bytes.
            archive_entry_set_mtime(e, 0, 0)
            archive_entry_set_uid(e, 0)
            archive_entry_set_gid(e, 0)
            guard archive_write_header(a, e) == ARCHIVE_OK else {
                throw NumPyIOError(file: path, array: name, "cannot write member header: \(message(a))")
            }
            let written = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
            guard written == bytes.count else {
                throw NumPyIOError(file: path, array: name, "cannot write member data: \(message(a))")
            }
        }
        guard archive_write_close(a) == ARCHIVE_OK else {
            throw NumPyIOError(file: path, "cannot finish the zip: \(message(a))")
        }
    }

    static func message(_ a: OpaquePointer?) -> String { LibArchive.message(a) }
}

/// libarchive's error text for a reader, as one line (some of its messages end in or
/// contain newlines).
public enum LibArchive {
    public static func message(_ a: OpaquePointer?) -> String {
        guard let a, let s = archive_error_string(a) else { return "unknown libarchive error" }
        let text = oneLine(String(cString: s))
        // "Write error" alone does not say why: add the OS's reason when libarchive kept it
        // (issue #23 row 16: a full disk in `init`).
        let code = archive_errno(a)
        guard code > 0 else { return text }
        let reason = String(cString: strerror(code))
        return text.contains(reason) ? text : text + " (" + reason + ")"
    }
}

/// `text` with its line breaks folded into spaces: errors are one line on stderr.
public func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
}

/// The arrays of one `.npz` file with lookups that report problems by file and name.
public struct NPZFile {
    public var path: String
    public var members: [(name: String, array: NDArray)]
    private var index: [String: Int]
    /// Each member's dtype as its file states it (`<i4`), for messages: arrays are
    /// widened on reading (int32 to int64), and an error must name what the file holds.
    public var fileDTypes: [String: String]

    public init(path: String, members: [(name: String, array: NDArray)], fileDTypes: [String: String] = [:]) {
        self.path = path
        self.members = members
        self.fileDTypes = fileDTypes
        index = Dictionary(members.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public var names: [String] { members.map(\.name) }

    public func fileDType(_ name: String) -> String { fileDTypes[name] ?? self[name]?.dtype.rawValue ?? "?" }

    public subscript(name: String) -> NDArray? { index[name].map { members[$0].array } }

    /// The named array; throws "missing" naming the file.
    public func require(_ name: String) throws -> NDArray {
        guard let a = self[name] else { throw NumPyIOError(file: path, array: name, "missing") }
        return a
    }

    /// The named float array with the given shape, every element finite.
    public func requireFloat(_ name: String, shape: [Int]? = nil, finite: Bool = true) throws -> NDArray {
        let a = try require(name)
        guard a.isFloat else { throw NumPyIOError(file: path, array: name, "dtype \(fileDType(name)), expected a float array (<f8 or <f4)") }
        if let shape, a.shape != shape {
            throw NumPyIOError(file: path, array: name, "shape \(fmt(a.shape)), expected \(fmt(shape))")
        }
        if finite, let bad = a.doubles.firstIndex(where: { !$0.isFinite }) {
            throw NumPyIOError(file: path, array: name, "non-finite value \(a.doubles[bad]) at flat index \(bad)")
        }
        return a
    }

    /// The named int64 array (narrower integer dtypes are widened on read).
    public func requireInt(_ name: String, shape: [Int]? = nil) throws -> NDArray {
        let a = try require(name)
        guard a.dtype == .int64 else {
            throw NumPyIOError(file: path, array: name, "dtype \(fileDType(name)), expected an integer array (<i8)")
        }
        if let shape, a.shape != shape {
            throw NumPyIOError(file: path, array: name, "shape \(fmt(a.shape)), expected \(fmt(shape))")
        }
        return a
    }
}

/// Shapes printed as NumPy prints them: (2, 3), (4,), ().
public func fmt(_ shape: [Int]) -> String {
    switch shape.count {
    case 0: return "()"
    case 1: return "(\(shape[0]),)"
    default: return "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}
