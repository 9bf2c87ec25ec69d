import Foundation
import NumPyIO
import TestSupport
import Testing

/// Bad input must fail with one line naming the file, the array where there is one, and
/// the problem; never a crash.
@Suite struct BadNumPyFiles {
    func error(_ path: String) -> NumPyIOError? {
        do {
            _ = try NPZ.read(path)
            return nil
        } catch let e as NumPyIOError {
            return e
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    func expectOneLine(_ e: NumPyIOError?, file: String, array: String?, mentions: String) {
        guard let e else {
            Issue.record("no error for \(file)")
            return
        }
        #expect(e.file == file)
        #expect(e.array == array)
        #expect(!e.description.contains("\n"))
        #expect(e.description.contains(mentions), "\(e.description)")
    }

    @Test func missingFile() {
        expectOneLine(error("/nonexistent/x.npz"), file: "/nonexistent/x.npz", array: nil, mentions: "no such file")
    }

    @Test func notAZip() {
        let dir = TemporaryDirectory()
        writeBytes(Array("hello, not a zip file at all".utf8), dir.file("x.npz"))
        expectOneLine(error(dir.file("x.npz")), file: dir.file("x.npz"), array: nil, mentions: "zip")
    }

    @Test(arguments: ["savez.npz", "savez_compressed.npz"])
    func truncatedArchive(_ name: String) {
        let dir = TemporaryDirectory()
        let bytes = readBytes(Repo.fixture("npz/" + name))
        // Every cut point must give an error, never a crash or a silently short array.
        for cut in stride(from: 1, to: bytes.count, by: 37) {
            writeBytes(Array(bytes[0..<cut]), dir.file("t.npz"))
            #expect(error(dir.file("t.npz")) != nil, "cut at \(cut) of \(bytes.count) was accepted")
        }
    }

    @Test func corruptedCompressedMember() {
        let dir = TemporaryDirectory()
        var bytes = readBytes(Repo.fixture("npz/savez_compressed.npz"))
        // Flip bytes inside the first member's deflate stream (after its 30-byte local
        // header and name "f8.npy" plus extra field).
        for i in 80..<100 { bytes[i] ^= 0x5A }
        writeBytes(bytes, dir.file("c.npz"))
        let e = error(dir.file("c.npz"))
        #expect(e != nil)
        #expect(e?.array == "f8")
    }

    @Test func unsupportedDtype() {
        let path = Repo.fixture("npz/unsupported_dtype.npz")
        expectOneLine(error(path), file: path, array: "c", mentions: "unsupported dtype '<c16'")
    }

    /// Booleans were read as bytes: a boolean image became pixels 0 and 1 (issue #25).
    @Test func booleansAreAnUnknownDtype() {
        let path = Repo.fixture("npz/bool.npz")
        expectOneLine(error(path), file: path, array: "b", mentions: "unsupported dtype '|b1'")
    }

    @Test func truncatedNpyData() {
        var bytes = NPY.encode(NDArray(float64: [1, 2, 3], shape: [3]))
        bytes.removeLast(5)
        #expect(throws: NumPyIOError(file: "f", array: "x", "truncated data: 19 bytes for shape [3] of <f8, need 24")) {
            try NPY.decode(bytes, file: "f", name: "x")
        }
    }

    /// Issue #23, row 1: a shape whose element count fits in 64 bits but whose byte size
    /// does not trapped on the multiplication; now one line naming the array.
    @Test func shapeWhoseByteSizePassesInt64IsRefused() {
        for (descr, dim) in [("<f8", "2305843009213693952"), ("<f4", "4611686018427387904"), ("<i2", "4611686018427387904")] {
            var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dim),), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            let bytes: [UInt8] =
                [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
            #expect(throws: NumPyIOError.self) { try NPY.decode(bytes, file: "f", name: "x") }
            do { _ = try NPY.decode(bytes, file: "f", name: "x") } catch {
                #expect("\(error)".contains("too large") && "\(error)".contains("x"), "\(error)")
            }
        }
    }

    @Test func malformedHeader() {
        var bytes = NPY.encode(NDArray(float64: [1], shape: [1]))
        bytes[20] = UInt8(ascii: "#")
        #expect(throws: NumPyIOError.self) { try NPY.decode(bytes, file: "f", name: "x") }
    }

    @Test func missingArrayWrongShapeAndNaN() throws {
        let f = try NPZ.load(Repo.fixture("npz/savez.npz"))
        #expect(throws: NumPyIOError(file: f.path, array: "nope", "missing")) { try f.require("nope") }
        #expect(throws: NumPyIOError(file: f.path, array: "f8", "shape (2, 3), expected (3, 2)")) {
            try f.requireFloat("f8", shape: [3, 2])
        }
        #expect(throws: NumPyIOError(file: f.path, array: "i8", "dtype <i8, expected a float array (<f8 or <f4)")) {
            try f.requireFloat("i8")
        }
        let n = try NPZ.load(Repo.fixture("npz/nan.npz"))
        #expect(throws: NumPyIOError(file: n.path, array: "x", "non-finite value nan at flat index 1")) {
            try n.requireFloat("x")
        }
    }
}

/// Messages name what the file holds, not what reading made of it.
@Suite struct HonestMessages {
    @Test func int32MemberIsNamedAsInt32() throws {
        let d = TemporaryDirectory()
        try NPZ.write([("x", NDArray(float64: [1, 2], shape: [2]))], to: d.file("a.npz"))
        // Rewrite the member as int32 with NumPy's layout: a v1.0 header and 4-byte values.
        var header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"
        header += String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        let npy =
            [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
            + [1, 0, 0, 0, 2, 0, 0, 0]
        let f = NPZFile(
            path: d.file("b.npz"), members: [("x", try NPY.decode(npy, file: "b.npz", name: "x"))],
            fileDTypes: ["x": try NPY.decodeWithDType(npy, file: "b.npz", name: "x").descr])
        #expect { _ = try f.requireFloat("x") } throws: { "\($0)".contains("'x': dtype <i4, expected a float array") }
    }

    @Test func truncatedZipIsCalledTruncated() throws {
        let d = TemporaryDirectory()
        try NPZ.write([("x", NDArray(float64: [1, 2, 3], shape: [3]))], to: d.file("a.npz"))
        let bytes = readBytes(d.file("a.npz"))
        writeBytes(Array(bytes.prefix(bytes.count / 2)), d.file("cut.npz"))
        #expect { _ = try NPZ.load(d.file("cut.npz")) } throws: { "\($0)".contains("cut.npz: truncated or damaged zip (.npz) file") }
    }
}

/// Found by the npz fuzz target: an archive of no members, as numpy.savez() and our own
/// writer produce it (the zip end record alone), must read back as empty.
@Suite struct EmptyArchive {
    @Test func emptyNPZRoundTrips() throws {
        let d = TemporaryDirectory()
        try NPZ.write([], to: d.file("empty.npz"))
        #expect(readBytes(d.file("empty.npz")).count == 22)
        #expect(try NPZ.load(d.file("empty.npz")).members.isEmpty)
    }

    /// Found by the npz fuzz target: libarchive's "wrong size" message ends in a newline,
    /// which reached the error text; errors are one line.
    @Test func libarchiveMessagesAreOneLine() throws {
        let path = Repo.fixture("fuzz/regressions/npz/wrong-size-member.npz")
        #expect { _ = try NPZ.load(path) } throws: { e in
            let text = "\(e)"
            return !text.contains("\n") && text.contains(path) && text.contains("wrong size")
        }
    }

    /// Found by the npz fuzz target: a member header declaring 4 GB made the reader
    /// reserve 4 GB before reading a byte; the size is now checked against the archive's.
    @Test func impossibleDeclaredSizeIsRefusedBeforeAllocating() throws {
        let path = Repo.fixture("fuzz/regressions/npz/huge-declared-size.npz")
        #expect { _ = try NPZ.load(path) } throws: { e in "\(e)".contains(path) && "\(e)".contains("declares") }
    }

    /// The fuzzer's input: a broken archive that libarchive reads as no members; what was
    /// read must write back to a file that reads again.
    @Test func fuzzRegressionRoundTrips() throws {
        let d = TemporaryDirectory()
        let f = try NPZ.load(Repo.fixture("fuzz/regressions/npz/empty-after-bad-central-directory.npz"))
        try NPZ.write(f.members, to: d.file("again.npz"))
        #expect(try NPZ.load(d.file("again.npz")).names == f.names)
    }
}
