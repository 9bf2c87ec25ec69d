import Data
import Foundation
import TestSupport
import Testing

/// The CIFAR-10 reader on small archives in the official layout (ci/make_cifar_fixtures.py).
@Suite struct CIFAR10Reader {
    @Test func readsTheOfficialLayoutFromTarGz() throws {
        let d = try CIFAR10.load(Repo.fixture("cifar/tiny-official-layout.tar.gz"))
        #expect(d.train.count == 15 && d.test.count == 4)
        #expect(d.classNames.first == "airplane" && d.classNames.last == "truck")
        // Record i of batch b: label (3b + i) % 10, pixel j = (7b + 3i + j) % 256.
        for (b, i) in [(1, 0), (3, 2), (5, 1)] {
            let n = (b - 1) * 3 + i
            #expect(d.train.labels[n] == Int64((b * 3 + i) % 10))
            let px = Array(d.train.image(n))
            #expect(px[0] == UInt8((b * 7 + i * 3) % 256) && px[3071] == UInt8((b * 7 + i * 3 + 3071) % 256))
        }
        #expect(d.test.labels == [8, 9, 0, 1])
    }

    /// The tiny fixture extracted with tar into a new temporary folder.
    static func extracted() throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/tar")
        p.arguments = ["-xzf", Repo.fixture("cifar/tiny-official-layout.tar.gz"), "-C", dir.path]
        try p.run()
        p.waitUntilExit()
        return dir
    }

    /// Issue #23, row 12: members are keyed by their full path: a stray test_batch.bin
    /// in another folder, or a second copy of a batch, is refused instead of silently
    /// replacing the real one.
    @Test func strayAndDuplicateMembersAreRefused() throws {
        let dir = try Self.extracted()
        func tar(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/tar")
            p.arguments = args
            p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        try FileManager.default.createDirectory(atPath: dir.file("other"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir.file("cifar-10-batches-bin/test_batch.bin"), toPath: dir.file("other/test_batch.bin"))
        try tar(["-czf", "stray.tar.gz", "cifar-10-batches-bin", "other"])
        try tar(["-cf", "twice.tar", "cifar-10-batches-bin", "cifar-10-batches-bin/data_batch_1.bin"])
        try tar(["-czf", "moved.tar.gz", "--exclude", "cifar-10-batches-bin/test_batch.bin", "cifar-10-batches-bin", "other"])
        for (file, mentions) in [
            ("stray.tar.gz", "other/test_batch.bin is a second test_batch.bin (the first is cifar-10-batches-bin/test_batch.bin)"),
            ("twice.tar", "cifar-10-batches-bin/data_batch_1.bin is a second data_batch_1.bin"),
            ("moved.tar.gz", "other/test_batch.bin is outside cifar-10-batches-bin/, where its other CIFAR-10 files are")
        ] {
            #expect { _ = try CIFAR10.load(dir.file(file)) } throws: { e in
                "\(e)".hasPrefix(dir.file(file)) && "\(e)".contains(mentions) && !"\(e)".contains("\n")
            }
        }
    }

    /// Issue #23, row 16: a valid multi-member gzip (accepted by `gzip -t` and tar) was
    /// refused as a CRC mismatch; each member is now checked against its own trailer.
    @Test func multiMemberGzipIsReadAndEachMemberChecked() throws {
        let d = TemporaryDirectory()
        func run(_ tool: String, _ args: [String], into out: String? = nil) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = args
            if let out {
                FileManager.default.createFile(atPath: out, contents: nil)
                p.standardOutput = FileHandle(forWritingAtPath: out)
            }
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        try run("/bin/gzip", ["-dc", Repo.fixture("cifar/tiny-official-layout.tar.gz")], into: d.file("t.tar"))
        let tar = readBytes(d.file("t.tar"))
        writeBytes(Array(tar[..<40000]), d.file("a"))
        writeBytes(Array(tar[40000...]), d.file("b"))
        try run("/bin/gzip", ["-c", d.file("a")], into: d.file("a.gz"))
        try run("/bin/gzip", ["-c", d.file("b")], into: d.file("b.gz"))
        let (first, second) = (readBytes(d.file("a.gz")), readBytes(d.file("b.gz")))
        writeBytes(first + second + [0, 0, 0, 0], d.file("two.tar.gz"))
        let two = try CIFAR10.load(d.file("two.tar.gz")), one = try CIFAR10.load(Repo.fixture("cifar/tiny-official-layout.tar.gz"))
        #expect(two.train.pixels == one.train.pixels && two.test.labels == one.test.labels)
        // A wrong CRC in either member's trailer is refused: the second is named; a bad
        // first member gets the whole stream's message.
        for (bytes, text) in [
            (
                {
                    var f = first
                    f[f.count - 6] ^= 0xFF
                    return f + second
                }(), "corrupt archive: the data's CRC-32"
            ),
            (
                {
                    var s2 = second
                    s2[s2.count - 6] ^= 0xFF
                    return first + s2
                }(), "corrupt gzip member 2: incorrect data check"
            )
        ] {
            writeBytes(bytes, d.file("bad.tar.gz"))
            #expect { _ = try CIFAR10.load(d.file("bad.tar.gz")) } throws: { e in "\(e)".contains(text) && !"\(e)".contains("\n") }
        }
    }

    @Test func readsTheExtractedFolder() throws {
        let dir = try Self.extracted()
        let fromFolder = try CIFAR10.load(dir.path)
        let fromNested = try CIFAR10.load(dir.path + "/cifar-10-batches-bin")
        let fromArchive = try CIFAR10.load(Repo.fixture("cifar/tiny-official-layout.tar.gz"))
        #expect(fromFolder.train.pixels == fromArchive.train.pixels && fromNested.test.labels == fromArchive.test.labels)
    }

    @Test(arguments: [
        ("truncated.tar.gz", "truncated"),
        ("missing-batch.tar.gz", "missing cifar-10-batches-bin/data_batch_4.bin"),
        ("bad-record.tar.gz", "data_batch_2.bin: 9218 bytes is not a whole number of 3073-byte records"),
        ("bad-label.tar.gz", "data_batch_3.bin: record 0 has label 12"),
        // Decodes without a libarchive error; only the gzip CRC-32 tells.
        ("corrupt-data.tar.gz", "corrupt archive: the data's CRC-32"),
        ("bad-crc.tar.gz", "do not match the gzip trailer"),
        ("oversized-member.tar.gz", "data_batch_1.bin declares 30733073 bytes, more than a CIFAR-10 batch (10000 records of 3073 bytes)"),
        ("symlink-member.tar.gz", "data_batch_2.bin is a symbolic link, not a regular file")
    ])
    func badArchivesGiveOneLineErrors(_ file: String, _ mentions: String) {
        let path = Repo.fixture("cifar/" + file)
        do {
            _ = try CIFAR10.load(path)
            Issue.record("\(file) was accepted")
        } catch let e as DataError {
            #expect(e.description.hasPrefix(path))
            #expect(e.description.contains(mentions), "\(e.description)")
            #expect(!e.description.contains("\n"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// The folder variant: a directory or an oversized (sparse) file in a batch's place,
    /// and a FIFO given as the archive, each a one-line error before anything is read.
    @Test func badFoldersGiveOneLineErrors() throws {
        func expectError(_ path: String, _ mentions: String) {
            do {
                _ = try CIFAR10.load(path)
                Issue.record("\(path) was accepted")
            } catch let e as DataError {
                #expect(e.description.contains(mentions) && !e.description.contains("\n"), "\(e.description)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        let a = try Self.extracted(), batch2 = a.path + "/cifar-10-batches-bin/data_batch_2.bin"
        try FileManager.default.removeItem(atPath: batch2)
        try FileManager.default.createDirectory(atPath: batch2, withIntermediateDirectories: false)
        expectError(a.path, "data_batch_2.bin: not a regular file")
        let b = try Self.extracted(), batch1 = b.path + "/cifar-10-batches-bin/data_batch_1.bin"
        let h = try #require(FileHandle(forWritingAtPath: batch1))
        try h.truncate(atOffset: 40_000_000)  // sparse: no disk used
        try h.close()
        expectError(b.path, "data_batch_1.bin: 40000000 bytes, more than a CIFAR-10 batch")
        let c = TemporaryDirectory(), fifo = c.path + "/cifar.tar.gz"
        #expect(mkfifo(fifo, 0o644) == 0)
        expectError(fifo, "not a regular file or folder")
    }

    /// Cut inside the gzip trailer: libarchive has no message of its own for it.
    @Test func archiveCutInsideTheGzipTrailer() throws {
        let d = TemporaryDirectory()
        let bytes = readBytes(Repo.fixture("cifar/tiny-official-layout.tar.gz"))
        writeBytes(Array(bytes.dropLast(3)), d.file("cut.tar.gz"))
        #expect { _ = try CIFAR10.load(d.file("cut.tar.gz")) } throws: { e in
            "\(e)".contains("cut.tar.gz: corrupt or truncated gzip data: the stream ends inside its 8-byte trailer")
        }
    }

    /// Zero padding after the gzip member (which `gzip -t` accepts) is not a corrupt
    /// trailer; a flipped trailer byte before the padding still is.
    @Test func zeroPaddingAfterTheGzipMember() throws {
        let d = TemporaryDirectory()
        let bytes = readBytes(Repo.fixture("cifar/tiny-official-layout.tar.gz"))
        writeBytes(bytes + [UInt8](repeating: 0, count: 1024), d.file("padded.tar.gz"))
        let padded = try CIFAR10.load(d.file("padded.tar.gz")), plain = try CIFAR10.load(Repo.fixture("cifar/tiny-official-layout.tar.gz"))
        #expect(padded.train.pixels == plain.train.pixels && padded.test.labels == plain.test.labels)
        var flipped = bytes
        flipped[flipped.count - 5] ^= 0x01
        writeBytes(flipped + [UInt8](repeating: 0, count: 1024), d.file("flipped.tar.gz"))
        #expect { _ = try CIFAR10.load(d.file("flipped.tar.gz")) } throws: { e in "\(e)".contains("do not match the gzip trailer") }
    }

    @Test func notAnArchive() {
        #expect(throws: DataError.self) { try CIFAR10.load(Repo.fixture("npz/savez.npz")) }
        #expect(throws: DataError.self) { try CIFAR10.load("/nonexistent/cifar.tar.gz") }
    }
}

@Suite struct EmbeddedData {
    @Test func deterministicBalancedAndVaried() {
        let a = SyntheticShapes.make(train: 40, test: 20, seed: 0), b = SyntheticShapes.make(train: 40, test: 20, seed: 0)
        #expect(a.train.pixels == b.train.pixels && a.test.pixels == b.test.pixels)
        #expect(a.train.labels.filter { $0 == 3 }.count == 4)
        #expect(SyntheticShapes.make(train: 40, test: 20, seed: 1).train.pixels != a.train.pixels)
        // Images differ from each other, and each uses a good part of the range.
        #expect(Array(a.train.image(0)) != Array(a.train.image(10)))
        let px = a.train.image(7)
        #expect(Int(px.max()!) - Int(px.min()!) > 60)
    }

    /// The design rule that made the set learnable: no per-image colour or grey level
    /// for BYOL to latch onto. Every pixel of every image is one of the two shared tones
    /// (0.15 and 0.85 of full scale) plus noise of at most 0.04 of full scale.
    @Test func onePaletteForEveryImage() {
        let d = SyntheticShapes.make(train: 50, test: 10, seed: 3)
        let off = (d.train.pixels + d.test.pixels).count { v in
            min(abs(Double(v) - 0.15 * 255), abs(Double(v) - 0.85 * 255)) > 0.04 * 255 + 0.5  // + rounding to a level
        }
        #expect(off == 0, "pixels away from both tones")
        // Both tones occur in every image.
        for i in 0..<50 {
            let px = Array(d.train.image(i))
            #expect(px.contains { $0 < 128 } && px.contains { $0 >= 128 }, "image \(i)")
        }
    }
}
