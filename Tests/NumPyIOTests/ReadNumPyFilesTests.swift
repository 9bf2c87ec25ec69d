import Foundation
import NumPyIO
import TestSupport
import Testing

// Files written by numpy itself (ci/make_npz_fixtures.py). Expected values follow the
// script's formulas: float i / 7, integer i * 3 - 5, byte i % 251 (i = flat index).

func expectedFloats(_ n: Int) -> [Double] { (0..<n).map { Double($0) / 7 } }
func expectedInts(_ n: Int) -> [Int64] { (0..<n).map { Int64($0) * 3 - 5 } }

@Suite struct ReadNumPyFiles {
    @Test(arguments: ["savez.npz", "savez_compressed.npz"])
    func readsEveryDtypeOfSavez(_ name: String) throws {
        let f = try NPZ.load(Repo.fixture("npz/" + name))
        #expect(f.names == ["f8", "f4", "i8", "u1", "scalar_f8", "scalar_i8", "empty"])
        #expect(try f.require("f8") == NDArray(float64: expectedFloats(6), shape: [2, 3]))
        #expect(try f.require("f4") == NDArray(float32: expectedFloats(4).map(Float.init), shape: [4]))
        #expect(try f.require("i8") == NDArray(int64: expectedInts(12), shape: [3, 2, 2]))
        #expect(try f.require("u1") == NDArray(uint8: (0..<300).map { UInt8($0 % 251) }, shape: [3, 100]))
        #expect(try f.require("scalar_f8") == .scalar(2.5))
        #expect(try f.require("scalar_i8") == .scalar(Int64(7)))
        #expect(try f.require("empty") == NDArray(float64: [], shape: [0, 3]))
    }

    @Test func readsHeaderVariants() throws {
        let f = try NPZ.load(Repo.fixture("npz/variants.npz"))
        #expect(try f.require("v2_f8") == NDArray(float64: expectedFloats(6), shape: [2, 3]))
        // Fortran order comes back in C order with the same logical values.
        #expect(try f.require("fortran_f8") == NDArray(float64: expectedFloats(24), shape: [2, 3, 4]))
        #expect(try f.require("big_endian_f8") == NDArray(float64: expectedFloats(5), shape: [5]))
        #expect(try f.require("i4") == NDArray(int64: expectedInts(4), shape: [4]))
    }
}

@Suite struct WriteNumPyFiles {
    let arrays: [(name: String, array: NDArray)] = [
        ("a", NDArray(float64: [1.5, -2, .pi], shape: [3])),
        ("b", NDArray(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3])),
        ("c", .scalar(Int64(-9))),
        ("d", NDArray(uint8: [0, 255], shape: [1, 2])),
        ("e", .scalar(0.25))
    ]

    @Test func roundTripsInOrder() throws {
        let dir = TemporaryDirectory()
        try NPZ.write(arrays, to: dir.file("x.npz"))
        let back = try NPZ.read(dir.file("x.npz"))
        #expect(back.map(\.name) == arrays.map(\.name))
        #expect(back.map(\.array) == arrays.map(\.array))
    }

    /// The writer every command's output goes through refuses NaN and infinity, naming
    /// the array and the element, and leaves no file (docs/contract.md §1.3).
    @Test func outputsRefuseNonFiniteValues() throws {
        let d = TemporaryDirectory()
        for (bad, index) in [(NDArray(float64: [1, .nan, 3], shape: [3]), 1), (NDArray(float32: [1, 2, -.infinity], shape: [3]), 2)] {
            #expect(throws: NumPyIOError(file: d.file("o.npz"), array: "x", "non-finite value at flat index \(index); nothing written")) {
                try NPZ.writeOutput([("ok", .scalar(1.0)), ("x", bad)], to: d.file("o.npz"))
            }
            #expect(!FileManager.default.fileExists(atPath: d.file("o.npz")))
        }
        try NPZ.writeOutput(arrays, to: d.file("fine.npz"))
        #expect(try NPZ.load(d.file("fine.npz")).members.count == arrays.count)
    }

    @Test func sameArraysGiveSameBytes() throws {
        let dir = TemporaryDirectory()
        try NPZ.write(arrays, to: dir.file("1.npz"))
        Thread.sleep(forTimeInterval: 1.1)  // a timestamp leaking into the file would differ
        try NPZ.write(arrays, to: dir.file("2.npz"))
        #expect(readBytes(dir.file("1.npz")) == readBytes(dir.file("2.npz")))
    }

    @Test func npyHeaderIsAlignedAndParsable() throws {
        let bytes = NPY.encode(NDArray(float64: [1, 2], shape: [2]))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10..<10 + headerLength], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"))
        #expect(header.hasSuffix("\n"))
        #expect(try NPY.decode(bytes, file: "mem", name: "x") == NDArray(float64: [1, 2], shape: [2]))
    }

    @Test func failedWriteLeavesNothing() throws {
        let dir = TemporaryDirectory()
        #expect(throws: NumPyIOError.self) { try NPZ.write(arrays, to: dir.file("missing-dir/x.npz")) }
        #expect(throws: NumPyIOError.self) { try NPZ.write(arrays + [("a", .scalar(1.0))], to: dir.file("dup.npz")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
