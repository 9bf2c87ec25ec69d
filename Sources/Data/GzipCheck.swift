import CArchive
import CZlib
import Foundation
import NumPyIO

/// libarchive's gzip reader does not check the gzip trailer (CRC-32 and length of the
/// data), so a flipped bit in the compressed stream can decode to wrong pixels without
/// any error. This pass decompresses the whole stream once more, computes both and
/// compares them with the trailer: the last 8 bytes of a single-member gzip file, or the
/// 8 bytes before zero padding after it.
enum GzipCheck {
    /// More than any CIFAR-10 archive decompresses to (about 184 MB): a larger stream is
    /// refused before it costs minutes (a gzip "bomb" of zeros).
    static let maxDecompressedBytes: Int64 = 1 << 30

    static func isGzip(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 2)) == Data([0x1f, 0x8b])
    }

    /// Throws a one-line DataError if the stream does not decompress cleanly or its
    /// CRC-32 or length differs from the trailer's.
    static func verify(_ path: String) throws {
        guard let a = archive_read_new() else { throw DataError("\(path): libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_filter_gzip(a)
        archive_read_support_format_raw(a)
        var entry: OpaquePointer?
        guard archive_read_open_filename(a, path, 1 << 20) == ARCHIVE_OK, archive_read_next_header(a, &entry) == ARCHIVE_OK else {
            throw DataError("\(path): not a readable gzip file: \(CIFAR10.message(a))")
        }
        var crc = CRC32()
        var size: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            if n == 0 { break }
            guard n > 0 else {
                // libarchive fails without a message when the 8-byte trailer is cut short.
                let why = archive_error_string(a) == nil ? "the stream ends inside its 8-byte trailer" : CIFAR10.message(a)
                throw DataError("\(path): corrupt or truncated gzip data: \(why)")
            }
            chunk.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            size += Int64(n)
            guard size <= maxDecompressedBytes else {
                throw DataError("\(path): decompresses to more than \(maxDecompressedBytes >> 20) MB; a CIFAR-10 archive is about 184 MB")
            }
        }
        let trailers = try readTrailers(path)
        let matches = trailers.contains(where: { $0.crc == crc.value && $0.size == UInt32(truncatingIfNeeded: size) })
        if !matches, try verifyMembers(path) { return }
        guard matches else {
            let t = trailers[0]
            throw DataError(
                String(
                    format: "%@: corrupt archive: the data's CRC-32 %08x and length %lld do not match the gzip trailer's %08x and %u",
                    path, crc.value, size, t.crc, t.size))
        }
    }

    /// A file of several gzip members (as `cat a.gz b.gz` makes, and `gzip -t` and tar
    /// accept): true when there are two or more and zlib finds each one's data, CRC-32 and
    /// length right, with only zero bytes after the last; false for a single member or a
    /// bad first one (the whole-stream check above then reports it); throws naming a
    /// corrupt later member (issue #23 row 16: a valid multi-member archive was refused as
    /// a CRC mismatch).
    static func verifyMembers(_ path: String) throws -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { throw DataError("\(path): cannot open") }
        defer { try? h.close() }
        var s = z_stream()
        guard byol_inflate_init_gzip(&s) == Z_OK else { throw DataError("\(path): zlib: cannot start") }
        defer { inflateEnd(&s) }
        var out = [UInt8](repeating: 0, count: 1 << 20)
        var members = 0, inMember = true, padding = false
        var total: Int64 = 0
        while let data = try h.read(upToCount: 1 << 20), !data.isEmpty {
            var input = [UInt8](data)
            var start = 0
            while start < input.count {
                if padding {
                    guard input[start...].allSatisfy({ $0 == 0 }) else {
                        throw DataError("\(path): bytes after gzip member \(members) are neither a gzip member nor zero padding")
                    }
                    break
                }
                if !inMember {
                    // Between members: another one, or the zero padding some tools add.
                    if input[start] == 0 {
                        padding = true
                        continue
                    }
                    inflateReset(&s)
                    inMember = true
                }
                let (r, consumed) = input.withUnsafeMutableBufferPointer { i in
                    out.withUnsafeMutableBufferPointer { o -> (Int32, Int) in
                        s.next_in = i.baseAddress.map { $0 + start }
                        s.avail_in = UInt32(i.count - start)
                        s.next_out = o.baseAddress
                        s.avail_out = UInt32(o.count)
                        let r = inflate(&s, Z_NO_FLUSH)
                        return (r, i.count - start - Int(s.avail_in))
                    }
                }
                start += consumed
                total += Int64(out.count) - Int64(s.avail_out)
                guard total <= maxDecompressedBytes else {
                    throw DataError("\(path): decompresses to more than \(maxDecompressedBytes >> 20) MB; a CIFAR-10 archive is about 184 MB")
                }
                switch r {
                case Z_STREAM_END:
                    members += 1
                    inMember = false
                case Z_OK, Z_BUF_ERROR:
                    continue
                default:
                    // In the first member, the whole-stream check's message stands (a single
                    // member with a bad trailer is the usual case).
                    guard members > 0 else { return false }
                    let why = s.msg.map { String(cString: $0) } ?? "zlib error \(r)"
                    throw DataError("\(path): corrupt gzip member \(members + 1): \(why)")
                }
            }
            input.removeAll()
        }
        if inMember && members > 0 { throw DataError("\(path): gzip member \(members + 1) is truncated") }
        return members >= 2
    }

    /// Zero bytes after the gzip member that are accepted as padding (as `gzip -t` does).
    static let maxZeroPadding = 1 << 20

    /// The candidate trailers (CRC-32 and length mod 2^32, little-endian): the file's
    /// last 8 bytes, then, when the file ends in zero bytes (padding some tools and tape
    /// blocks add), each 8 bytes that end where only zeros follow, last first.
    static func readTrailers(_ path: String) throws -> [(crc: UInt32, size: UInt32)] {
        guard let h = FileHandle(forReadingAtPath: path) else { throw DataError("\(path): cannot open") }
        defer { try? h.close() }
        let end = try h.seekToEnd()
        guard end >= 18 else { throw DataError("\(path): truncated gzip file (\(end) bytes)") }
        let tailLength = min(end - 10, UInt64(maxZeroPadding + 8))
        try h.seek(toOffset: end - tailLength)
        let t = [UInt8](try h.read(upToCount: Int(tailLength)) ?? Data())
        guard t.count == Int(tailLength) else { throw DataError("\(path): cannot read the gzip trailer") }
        let zeros = t.reversed().prefix { $0 == 0 }.count
        guard zeros <= maxZeroPadding else {
            throw DataError("\(path): ends in more than \(maxZeroPadding >> 20) MiB of zero bytes after the gzip data")
        }
        func le(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(t[i + $1]) << (8 * $1) } }
        // A trailer may itself end in zero bytes, so every split of the zero run counts.
        return stride(from: t.count - 8, through: max(t.count - 8 - zeros, 0), by: -1).map { (le($0), le($0 + 4)) }
    }
}

/// CRC-32 of gzip and zip (reflected polynomial 0xEDB88320), eight bytes per step
/// ("slicing by 8": table k advances a byte's contribution by k more bytes), then a
/// byte at a time for the tail; the same values as the bytewise definition.
struct CRC32 {
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 { t[i] = (0..<8).reduce(UInt32(i)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 } }
        for k in 1..<8 {
            for i in 0..<256 {
                let p = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (p >> 8) ^ t[Int(p & 0xFF)]
            }
        }
        return t
    }()
    private var state: UInt32 = 0xFFFF_FFFF

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = state
        Self.tables.withUnsafeBufferPointer { t in
            let n = bytes.count
            var i = 0
            while i + 8 <= n {
                let lo = c ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
                let hi = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 24
                c =
                    t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)] ^ t[5 * 256 + Int((lo >> 16) & 0xFF)]
                    ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)] ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        state = c
    }

    var value: UInt32 { state ^ 0xFFFF_FFFF }
}
