import CArchive
import Foundation
import NumPyIO

/// CIFAR-10 in its official binary layout: `cifar-10-batches-bin/data_batch_1.bin` ...
/// `data_batch_5.bin`, `test_batch.bin` (records of 1 label byte + 3072 pixel bytes:
/// R plane, G plane, B plane, row-major) and `batches.meta.txt` (class names), read
/// from the `cifar-10-binary.tar.gz` archive (streamed through libarchive, never
/// extracted) or from the extracted folder.
public enum CIFAR10 {
    static let recordSize = 1 + 3072
    static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    static let testFile = "test_batch.bin"
    static let metaFile = "batches.meta.txt"
    /// The official batches hold 10000 records; nothing larger is read into memory.
    static let maxRecordsPerFile = 10000
    static func maxBytes(_ base: String) -> Int { base == metaFile ? 1 << 16 : maxRecordsPerFile * recordSize }

    /// Reads an archive (`.tar.gz`, `.tgz`, `.tar`) or a folder (the
    /// `cifar-10-batches-bin` folder or one containing it).
    public static func load(_ path: String) throws -> DataSplits {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw DataError("\(path): no such file or folder") }
        // A FIFO or device would block or never end; only regular files are archives.
        if !isDir.boolValue, regularFileSize(path) == nil { throw DataError("\(path): not a regular file or folder") }
        let files = isDir.boolValue ? try readFolder(path) : try readArchive(path)
        return try assemble(files, source: path)
    }

    /// Reads the files of the official layout from an archive, by base name. They must
    /// all sit in one folder, each once: a second `test_batch.bin` elsewhere silently
    /// replaced the real one (issue #23 row 12).
    static func readArchive(_ path: String) throws -> [String: [UInt8]] {
        if GzipCheck.isGzip(path) { try GzipCheck.verify(path) }
        guard let a = archive_read_new() else { throw DataError("\(path): libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        archive_read_support_filter_gzip(a)
        archive_read_support_filter_none(a)
        guard archive_read_open_filename(a, path, 1 << 20) == ARCHIVE_OK else {
            throw DataError("\(path): not a readable tar or tar.gz archive: \(message(a))")
        }
        var files: [String: [UInt8]] = [:]
        var seen: [String: String] = [:]  // base name -> full member path
        var folder: String?
        var entry: OpaquePointer?
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry else {
                throw DataError("\(path): corrupt or truncated archive\(files.isEmpty ? "" : " after \(files.count) files"): \(message(a))")
            }
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            let base = (name as NSString).lastPathComponent
            guard trainFiles.contains(base) || base == testFile || base == metaFile else { continue }
            var full = name
            while full.hasPrefix("./") { full.removeFirst(2) }
            let dir = (full as NSString).deletingLastPathComponent
            if let first = seen[base] {
                throw DataError("\(path): \(full) is a second \(base) (the first is \(first)); an archive holds each CIFAR-10 file once")
            }
            if let folder, folder != dir {
                throw DataError(
                    "\(path): \(full) is outside \(folder.isEmpty ? "the archive's top level" : folder + "/"), where its other CIFAR-10 files are")
            }
            seen[base] = full
            folder = dir
            if let link = archive_entry_hardlink(entry) {
                throw DataError("\(path): \(name) is a hard link to \(String(cString: link)), not a file of its own")
            }
            guard archive_entry_filetype(entry) == BYOL_AE_IFREG else {
                throw DataError("\(path): \(name) is \(fileTypeName(archive_entry_filetype(entry))), not a regular file")
            }
            let limit = maxBytes(base)
            if archive_entry_size_is_set(entry) != 0, archive_entry_size(entry) > limit {
                throw DataError("\(path): \(name) declares \(archive_entry_size(entry)) bytes, more than \(tooLarge(base))")
            }
            var bytes: [UInt8] = []
            while true {
                let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
                if n == 0 { break }
                guard n > 0 else { throw DataError("\(path): \(name): corrupt or truncated data: \(message(a))") }
                guard bytes.count + n <= limit else { throw DataError("\(path): \(name) holds more than \(tooLarge(base))") }
                bytes += chunk[0..<n]
            }
            if archive_entry_size_is_set(entry) != 0, Int64(bytes.count) != archive_entry_size(entry) {
                throw DataError("\(path): \(name): truncated: \(bytes.count) of \(archive_entry_size(entry)) bytes")
            }
            files[base] = bytes
        }
        return files
    }

    static func readFolder(_ path: String) throws -> [String: [UInt8]] {
        var dir = path
        let nested = (path as NSString).appendingPathComponent("cifar-10-batches-bin")
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: nested, isDirectory: &isDir), isDir.boolValue { dir = nested }
        var files: [String: [UInt8]] = [:]
        for f in trainFiles + [testFile, metaFile] {
            let p = (dir as NSString).appendingPathComponent(f)
            guard (try? FileManager.default.attributesOfItem(atPath: p)) != nil else { continue }  // missing: assemble says so
            guard let size = regularFileSize(p) else { throw DataError("\(p): not a regular file") }
            guard size <= maxBytes(f) else { throw DataError("\(p): \(size) bytes, more than \(tooLarge(f))") }
            do {
                files[f] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
            } catch {
                throw DataError("\(p): cannot read: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
            }
        }
        return files
    }

    /// The size of `path` if it is a regular file once symbolic links are followed
    /// (attributesOfItem itself does not follow them).
    static func regularFileSize(_ path: String) -> Int? {
        let a = try? FileManager.default.attributesOfItem(atPath: (path as NSString).resolvingSymlinksInPath)
        guard a?[.type] as? FileAttributeType == .typeRegular else { return nil }
        return (a?[.size] as? NSNumber)?.intValue ?? 0
    }

    static func tooLarge(_ base: String) -> String {
        base == metaFile ? "\(maxBytes(base)) bytes" : "a CIFAR-10 batch (\(maxRecordsPerFile) records of \(recordSize) bytes)"
    }

    static func fileTypeName(_ t: UInt32) -> String {
        switch t {
        case 0o120000: return "a symbolic link"
        case 0o040000: return "a directory"
        case 0o010000: return "a FIFO"
        case 0o020000: return "a character device"
        case 0o060000: return "a block device"
        default: return "of file type \(String(t, radix: 8))"
        }
    }

    static func assemble(_ files: [String: [UInt8]], source: String) throws -> DataSplits {
        func records(_ f: String) throws -> LabelledImages {
            guard let b = files[f] else { throw DataError("\(source): missing cifar-10-batches-bin/\(f) (not a CIFAR-10 binary archive or folder?)") }
            guard !b.isEmpty, b.count % recordSize == 0 else {
                throw DataError("\(source): \(f): \(b.count) bytes is not a whole number of \(recordSize)-byte records (truncated?)")
            }
            let n = b.count / recordSize
            var labels = [Int64](repeating: 0, count: n)
            var pixels = [UInt8](repeating: 0, count: n * 3072)
            for i in 0..<n {
                let l = b[i * recordSize]
                guard l < 10 else { throw DataError("\(source): \(f): record \(i) has label \(l), expected 0-9") }
                labels[i] = Int64(l)
                pixels.replaceSubrange(i * 3072..<(i + 1) * 3072, with: b[(i * recordSize + 1)..<((i + 1) * recordSize)])
            }
            return LabelledImages(pixels: pixels, labels: labels)
        }
        var train = LabelledImages(pixels: [], labels: [])
        for f in trainFiles {
            let r = try records(f)
            train.pixels += r.pixels
            train.labels += r.labels
        }
        let test = try records(testFile)
        var names = (0..<10).map { "class \($0)" }
        if let meta = files[metaFile] {
            let lines = String(decoding: meta, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            if lines.count >= 10 { names = Array(lines.prefix(10)) }
        }
        return DataSplits(name: "CIFAR-10 (\(source))", train: train, test: test, classNames: names)
    }

    static func message(_ a: OpaquePointer?) -> String { LibArchive.message(a) }
}
