import Foundation
import NumPyIO

// Fuzz target `npy`: any bytes as one .npy member, straight into the header parser and the
// data reader, without the zip container around it (whose CRC-32 turns almost every
// mutation of a member into a refused archive, so the npz target seldom reaches the
// header's fields; issue #23 row 1 hid there). The dictionary (Fixtures/fuzz/npy.dict)
// holds the header's keys and extreme integers. A member is either refused with a
// one-line error naming the file and the member, or read into an array whose element
// count matches its shape and which encodes to bytes that decode to the same array.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let array: NDArray
    do {
        array = try NPY.decode(bytes, file: "fuzz.npz", name: "member")
    } catch {
        checkErrorMessage(error, mentions: "fuzz.npz")
        return 0
    }
    require(array.count == array.shape.reduce(1, *), "count \(array.count) for shape \(array.shape)")
    let again = NPY.encode(array)
    do {
        let decoded = try NPY.decode(again, file: "again", name: "member")
        require(NPY.encode(decoded) == again, "encode, decode, encode changed the bytes")
    } catch {
        violated("an array that was read cannot be encoded and read again: \(error)")
    }
    return 0
}

// Structure-aware mutations: half the time libFuzzer's own byte-level ones; otherwise the
// header is parsed and one of its fields replaced (a shape of 0 to 3 dimensions drawn from
// boundary values, another dtype, the other order), then written back with a consistent
// header length and padding, so that the mutation reaches the parser's arithmetic instead
// of failing on the length field.

@_silgen_name("LLVMFuzzerMutate")
func LLVMFuzzerMutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int

let boundaryDims: [String] = [
    "0", "1", "2", "3", "7", "255", "65536", "2147483648", "4294967296", "1152921504606846976",
    "2305843009213693952", "4611686018427387904", "9223372036854775807", "-1"
]
let descrs = ["<f8", "<f4", "<i8", "<i4", "<i2", "|i1", "|u1", "<u2", "<u4", "|b1", ">f8", ">i4", "<c16", "<f2"]

@_cdecl("LLVMFuzzerCustomMutator")
public func mutateNPY(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    var rng = SystemRandomNumberGenerator()
    let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    guard size >= 10, Bool.random(using: &rng), Array(UnsafeBufferPointer(start: data, count: 6)) == magic, data[6] == 1 else {
        return LLVMFuzzerMutate(data, size, maxSize)
    }
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    guard 10 + headerLength <= size else { return LLVMFuzzerMutate(data, size, maxSize) }
    var header = String(decoding: UnsafeBufferPointer(start: data + 10, count: headerLength), as: UTF8.self)
    switch Int.random(in: 0..<3, using: &rng) {
    case 0:
        let dims = (0..<Int.random(in: 0...3, using: &rng)).map { _ in boundaryDims.randomElement(using: &rng)! }
        let shape = dims.isEmpty ? "()" : dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        if let r = header.range(of: #"\([^)]*\)"#, options: .regularExpression) { header.replaceSubrange(r, with: shape) }
    case 1:
        if let r = header.range(of: #"'descr': '[^']*'"#, options: .regularExpression) {
            header.replaceSubrange(r, with: "'descr': '\(descrs.randomElement(using: &rng)!)'")
        }
    default:
        header =
            header.contains("True") ? header.replacingOccurrences(of: "True", with: "False") : header.replacingOccurrences(of: "False", with: "True")
    }
    header = header.trimmingCharacters(in: .whitespacesAndNewlines)
    header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    let body = Array(UnsafeBufferPointer(start: data + 10 + headerLength, count: size - 10 - headerLength))
    let out = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8) + body
    guard out.count <= maxSize, header.utf8.count <= 65535 else { return LLVMFuzzerMutate(data, size, maxSize) }
    for (i, b) in out.enumerated() { data[i] = b }
    return out.count
}
