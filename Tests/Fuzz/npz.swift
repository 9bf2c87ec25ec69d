import Foundation
import NumPyIO

// Fuzz target `npz`: any bytes as an .npz file. A file is either refused with a one-line
// error naming it, or read into members whose element counts match their shapes and
// which write back to bytes that read to the same members (compared as written bytes,
// so NaN payloads count too).

let input = scratchPath("input.npz"), first = scratchPath("first.npz"), second = scratchPath("second.npz")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPZ(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    writeScratch(data, size, to: input)
    guard let file = loadOrRefuse(input, { try NPZ.load(input) }) else { return 0 }
    for m in file.members {
        require(m.array.count == m.array.shape.reduce(1, *), "member \(m.name): count \(m.array.count) for shape \(m.array.shape)")
    }
    do {
        try NPZ.write(file.members, to: first)
        try NPZ.write(try NPZ.load(first).members, to: second)
    } catch {
        violated("a file that was read cannot be written back and read again: \(error)")
    }
    require(FileManager.default.contents(atPath: first) == FileManager.default.contents(atPath: second), "round trip changed the bytes")
    return 0
}
