import Foundation

/// The `.npy` format (NumPy's `lib/format.py`): magic `\x93NUMPY`, version, a
/// little-endian header length (2 bytes in 1.0, 4 bytes in 2.0 and 3.0), a Python dict
/// literal `{'descr': ..., 'fortran_order': ..., 'shape': (...), }` padded with spaces to
/// an aligned length and ending in `\n`, then the raw elements.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    // MARK: Writing

    /// Version 1.0 bytes with the header padded to a multiple of 64, as NumPy >= 1.x
    /// writes them (version 2.0 only when the header does not fit 65535 bytes).
    public static func encode(_ array: NDArray) -> [UInt8] {
        let shapeText: String
        switch array.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(array.shape[0]),)"
        default: shapeText = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(array.dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        var lengthBytes = 2
        var version: UInt8 = 1
        // magic(6) + version(2) + length field + header + '\n' is padded to 64.
        func padded(_ h: String, _ lb: Int) -> String {
            let unpadded = 6 + 2 + lb + h.utf8.count + 1
            return h + String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        }
        var full = padded(header, lengthBytes)
        if full.utf8.count > 65535 {
            version = 2
            lengthBytes = 4
            full = padded(header, lengthBytes)
        }
        header = full
        var out = magic + [version, 0]
        let n = header.utf8.count
        for i in 0..<lengthBytes { out.append(UInt8((n >> (8 * i)) & 0xFF)) }
        out += Array(header.utf8)
        out.reserveCapacity(out.count + array.count * array.dtype.itemSize)
        switch array.storage {
        case .float64(let v): for x in v { appendLE(&out, x.bitPattern) }
        case .float32(let v): for x in v { appendLE(&out, x.bitPattern) }
        case .int64(let v): for x in v { appendLE(&out, UInt64(bitPattern: x)) }
        case .uint8(let v): out += v
        }
        return out
    }

    private static func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }

    // MARK: Reading

    /// Parses `.npy` bytes. `file` and `name` only label errors.
    public static func decode(_ bytes: [UInt8], file: String, name: String) throws -> NDArray {
        try decodeWithDType(bytes, file: file, name: name).array
    }

    /// The array and its dtype as the file states it (`<i4`, `>f8`...), before widening.
    public static func decodeWithDType(_ bytes: [UInt8], file: String, name: String) throws -> (array: NDArray, descr: String) {
        func fail(_ msg: String) -> NumPyIOError { NumPyIOError(file: file, array: name, msg) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not a .npy member (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major).\(bytes[7])")
        }
        guard bytes.count >= headerStart + headerLength else { throw fail("truncated .npy header") }
        guard let headerText = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("unreadable .npy header")
        }
        let dict: [String: HeaderValue]
        do {
            var parser = HeaderParser(headerText)
            dict = try parser.parseDict()
        } catch let e as HeaderParser.Failure {
            throw fail("malformed .npy header (\(e.message)): \(headerText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard case .string(let descr)? = dict["descr"] else { throw fail("header has no 'descr' string") }
        guard case .bool(let fortran)? = dict["fortran_order"] else { throw fail("header has no 'fortran_order' bool") }
        guard case .tuple(let shape)? = dict["shape"] else { throw fail("header has no 'shape' tuple") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("negative dimension in shape \(shape)") }
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow else { throw fail("shape \(shape) is too large") }
        guard let kind = ElementKind(descr: descr) else {
            throw fail("unsupported dtype '\(descr)' (supported: <f8 <f4 <i8 <i4 <i2 |i1 |u1 <u2 <u4, either byte order)")
        }
        let dataStart = headerStart + headerLength
        // Checked: a header may declare a shape whose byte size passes Int.max.
        let (needed, tooBig) = count.multipliedReportingOverflow(by: kind.size)
        guard !tooBig else { throw fail("shape \(shape) of \(descr) is too large: its size in bytes passes 2^63") }
        guard bytes.count - dataStart >= needed else {
            throw fail("truncated data: \(bytes.count - dataStart) bytes for shape \(shape) of \(descr), need \(needed)")
        }
        guard bytes.count - dataStart == needed else {
            throw fail("\(bytes.count - dataStart - needed) unexpected bytes after the data of shape \(shape) \(descr)")
        }
        var array = bytes.withUnsafeBufferPointer { buf in
            kind.read(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buf)[dataStart..<dataStart + needed]), count: count, shape: shape)
        }
        if fortran && shape.count > 1 { array = fortranToC(array) }
        return (array, descr)
    }

    /// The elements of a Fortran-order array are the C-order elements of its transpose
    /// (axes reversed); reorder them to C order.
    static func fortranToC(_ a: NDArray) -> NDArray {
        let shape = a.shape
        let rank = shape.count
        let count = a.count
        // Strides of the Fortran layout: axis 0 is contiguous.
        var fStride = [Int](repeating: 1, count: rank)
        for i in 1..<rank { fStride[i] = fStride[i - 1] * shape[i - 1] }
        var perm = [Int](repeating: 0, count: count)  // perm[c] = f index of C index c
        var idx = [Int](repeating: 0, count: rank)
        for c in 0..<count {
            var f = 0
            for i in 0..<rank { f += idx[i] * fStride[i] }
            perm[c] = f
            var ax = rank - 1
            while ax >= 0 {
                idx[ax] += 1
                if idx[ax] < shape[ax] { break }
                idx[ax] = 0
                ax -= 1
            }
        }
        func gather<T>(_ v: [T]) -> [T] { perm.map { v[$0] } }
        switch a.storage {
        case .float64(let v): return NDArray(float64: gather(v), shape: shape)
        case .float32(let v): return NDArray(float32: gather(v), shape: shape)
        case .int64(let v): return NDArray(int64: gather(v), shape: shape)
        case .uint8(let v): return NDArray(uint8: gather(v), shape: shape)
        }
    }
}

/// An element type as a `.npy` descr names it, and how to read it into an NDArray.
/// Narrow integer types are widened to int64 and booleans to uint8.
private struct ElementKind {
    // No bool: no array of the contract is one, and read as bytes a bool image became
    // pixels of 0 and 1 without a word (docs/contract.md §1.1).
    enum Base { case f8, f4, i8, i4, i2, i1, u1, u2, u4 }
    var base: Base
    var bigEndian: Bool
    var size: Int

    init?(descr: String) {
        guard descr.count == 3, let order = descr.first else { return nil }
        let code = String(descr.dropFirst())
        switch order {
        case "<", "|", "=": bigEndian = false
        case ">": bigEndian = true
        default: return nil
        }
        switch code {
        case "f8":
            base = .f8
            size = 8
        case "f4":
            base = .f4
            size = 4
        case "i8":
            base = .i8
            size = 8
        case "i4":
            base = .i4
            size = 4
        case "i2":
            base = .i2
            size = 2
        case "i1":
            base = .i1
            size = 1
        case "u1":
            base = .u1
            size = 1
        case "u2":
            base = .u2
            size = 2
        case "u4":
            base = .u4
            size = 4
        default: return nil
        }
    }

    func read(_ raw: UnsafeRawBufferPointer, count: Int, shape: [Int]) -> NDArray {
        func word<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
            let v = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
            return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
        }
        switch base {
        case .f8: return NDArray(float64: (0..<count).map { Double(bitPattern: word($0, UInt64.self)) }, shape: shape)
        case .f4: return NDArray(float32: (0..<count).map { Float(bitPattern: word($0, UInt32.self)) }, shape: shape)
        case .i8: return NDArray(int64: (0..<count).map { Int64(bitPattern: word($0, UInt64.self)) }, shape: shape)
        case .i4: return NDArray(int64: (0..<count).map { Int64(Int32(bitPattern: word($0, UInt32.self))) }, shape: shape)
        case .i2: return NDArray(int64: (0..<count).map { Int64(Int16(bitPattern: word($0, UInt16.self))) }, shape: shape)
        case .i1: return NDArray(int64: (0..<count).map { Int64(Int8(bitPattern: raw[$0])) }, shape: shape)
        case .u2: return NDArray(int64: (0..<count).map { Int64(word($0, UInt16.self)) }, shape: shape)
        case .u4: return NDArray(int64: (0..<count).map { Int64(word($0, UInt32.self)) }, shape: shape)
        case .u1: return NDArray(uint8: Array(raw[0..<count]), shape: shape)
        }
    }
}
