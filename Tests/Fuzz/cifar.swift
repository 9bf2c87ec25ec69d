import Data
import Foundation

// Fuzz target `cifar`: any bytes as a CIFAR-10 source. Input that starts like a gzip or
// tar file is read as an archive; other input is cut into files of the official folder
// layout (a byte picks the file, two little-endian bytes its length, then its bytes,
// repeated) and read as a folder. Either a one-line error naming the source, or data
// whose pixel counts match the image counts and whose labels name classes.

let archive = scratchPath("cifar.tar.gz"), folder = scratchPath("cifar-folder")
let names = [
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
    "batches.meta.txt"
]

func looksLikeArchive(_ data: UnsafePointer<UInt8>, _ size: Int) -> Bool {
    if size >= 2, data[0] == 0x1f, data[1] == 0x8b { return true }
    return size >= 262 && String(decoding: UnsafeBufferPointer(start: data + 257, count: 5), as: UTF8.self) == "ustar"
}

func writeFolder(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
    let dir = folder + "/cifar-10-batches-bin"
    try? FileManager.default.removeItem(atPath: folder)
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var files: [String: [UInt8]] = [:]
    var i = 0
    while i + 3 <= size {
        let name = names[Int(data[i]) % names.count]
        let length = min(Int(data[i + 1]) | Int(data[i + 2]) << 8, size - i - 3)
        files[name, default: []] += UnsafeBufferPointer(start: data + i + 3, count: length)
        i += 3 + length
    }
    for (name, bytes) in files { FileManager.default.createFile(atPath: dir + "/" + name, contents: Foundation.Data(bytes)) }
    return folder
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path: String
    if looksLikeArchive(data, size) {
        writeScratch(data, size, to: archive)
        path = archive
    } else {
        path = writeFolder(data, size)
    }
    guard let splits = loadOrRefuse(path, { try CIFAR10.load(path) }) else { return 0 }
    for part in [splits.train, splits.test] {
        require(part.pixels.count == part.count * part.imageSize, "pixels do not match the image count")
        require(part.labels.allSatisfy { $0 >= 0 && Int($0) < max(splits.classNames.count, 10) }, "a label names no class")
    }
    return 0
}
