import BYOLModel
import Foundation
import NumPyIO
import Reference
import TestSupport
import Testing
import Verification

/// The golden suite from `swift test`. With BYOL_RECORD_GOLDENS=1 the goldens are
/// rewritten and the test then fails on purpose, so a recording run never passes
/// silently (rerun without the variable, and rerun ci/torch_reference.py goldens).
/// The full-size resnet18 case runs only with BYOL_HEAVY=1 (or `byol goldens verify`).
@Suite(.serialized) struct GoldenTests {
    static let goldens = Repo.root.appendingPathComponent("goldens").path
    static let env = ProcessInfo.processInfo.environment
    static var cases: [GoldenCase] { GoldenCase.all.filter { !$0.heavy || env["BYOL_HEAVY"] == "1" } }

    @Test func referenceMatchesGoldensAndPyTorch() throws {
        if Self.env["BYOL_RECORD_GOLDENS"] == "1" {
            try Goldens.regenerate(goldens: Self.goldens, cases: GoldenCase.all)
            Issue.record("Recorded new goldens in \(Self.goldens); rerun ci/torch_reference.py goldens, then the tests without BYOL_RECORD_GOLDENS")
            return
        }
        let rows = Goldens.verify(goldens: Self.goldens, cases: Self.cases)
        #expect(rows.count == 3 * Self.cases.count)
        for r in rows {
            #expect(r.passed, "\(r.check)\n\(r.failures.joined(separator: "\n"))")
        }
    }

    /// Regenerating twice gives the same bytes, equal to the committed ones.
    @Test func regenerationIsByteIdentical() throws {
        let cases = GoldenCase.all.filter { $0.preset == "tiny" }
        let a = TemporaryDirectory(), b = TemporaryDirectory()
        try Goldens.regenerate(goldens: a.path, cases: cases)
        try Goldens.regenerate(goldens: b.path, cases: cases)
        for c in cases {
            let files = try FileManager.default.contentsOfDirectory(atPath: a.path + "/" + c.name).sorted()
            #expect(!files.isEmpty)
            for f in files {
                let x = readBytes(a.path + "/\(c.name)/\(f)")
                #expect(x == readBytes(b.path + "/\(c.name)/\(f)"), "\(c.name)/\(f) differs between two regenerations")
                #expect(x == readBytes(Self.goldens + "/\(c.name)/\(f)"), "\(c.name)/\(f) differs from the committed golden")
            }
        }
        #expect(readBytes(a.file("MANIFEST.json")) == readBytes(b.file("MANIFEST.json")))
    }

    /// Regenerating some cases keeps the other cases' manifest entries; a case that reads
    /// another's output (tiny-embed) brings that case along into a new folder.
    @Test func partialRegenerationKeepsTheManifest() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.copyItem(atPath: Self.goldens + "/MANIFEST.json", toPath: dir.file("MANIFEST.json"))
        try Goldens.regenerate(goldens: dir.path, cases: GoldenCase.withDependencies(GoldenCase.all.filter { $0.name == "tiny-embed" }))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["MANIFEST.json", "tiny-adam-separate-3steps", "tiny-embed"])
        #expect(readBytes(dir.file("MANIFEST.json")) == readBytes(Self.goldens + "/MANIFEST.json"))
    }

    /// The manifest check runs both ways, and a missing manifest is named as such.
    @Test func manifestCheckFindsUnlistedFilesAndAMissingManifest() throws {
        let c = GoldenCase.all.first { $0.name == "tiny-lars-separate" }!
        let dir = TemporaryDirectory()
        try FileManager.default.copyItem(atPath: Self.goldens + "/" + c.name, toPath: dir.path + "/" + c.name)
        try FileManager.default.copyItem(atPath: Self.goldens + "/MANIFEST.json", toPath: dir.file("MANIFEST.json"))
        try FileManager.default.copyItem(atPath: dir.path + "/\(c.name)/views_1.npz", toPath: dir.path + "/\(c.name)/views_2.npz")
        let unlisted = Goldens.verify(goldens: dir.path, cases: [c])[0]
        #expect(!unlisted.passed && unlisted.failures == ["tiny-lars-separate/views_2.npz: not listed in MANIFEST.json"])
        try FileManager.default.removeItem(atPath: dir.file("MANIFEST.json"))
        let missing = Goldens.verify(goldens: dir.path, cases: [c], engine: ReferenceEngine())[0]
        #expect(!missing.passed && missing.failures == [dir.path + "/MANIFEST.json: missing"])
    }

    /// One changed value in an expected file fails the check, naming the tensor.
    @Test func tamperedGoldenFailsNamingTheTensor() throws {
        let c = GoldenCase.all.first { $0.name == "tiny-lars-separate" }!
        let dir = TemporaryDirectory()
        try FileManager.default.copyItem(atPath: Self.goldens + "/" + c.name, toPath: dir.path + "/" + c.name)
        try FileManager.default.copyItem(atPath: Self.goldens + "/MANIFEST.json", toPath: dir.file("MANIFEST.json"))
        try FileManager.default.createDirectory(atPath: dir.path + "/torch", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.goldens + "/torch/" + c.name, toPath: dir.path + "/torch/" + c.name)
        let path = dir.path + "/\(c.name)/expected_1.npz"
        var members = try NPZ.read(path)
        let i = members.firstIndex { $0.name == "online.backbone.layer2.0.conv1.weight" }!
        var values = members[i].array.doubles
        values[5] += 1e-12
        members[i].array = NDArray(float64: values, shape: members[i].array.shape)
        try NPZ.write(members, to: path)
        let rows = Goldens.verify(goldens: dir.path, cases: [c])
        let failed = rows.filter { !$0.passed }
        #expect(
            failed.map(\.check) == [
                "golden tiny-lars-separate: files match MANIFEST sha256",
                "golden tiny-lars-separate: reference == expected (bitwise)"
            ])
        let report = failed.flatMap(\.failures).joined(separator: "\n")
        #expect(report.contains("online.backbone.layer2.0.conv1.weight"))
        #expect(report.contains("Mismatched elements: 1 / 144"))
    }
}

@Suite struct HashesAndDigests {
    @Test func sha256NISTVectors() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // The 448-bit vector, checked against its published digest.
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func digestLayout() {
        let a = NDArray(float64: (0..<100).map { Double($0) - 50 }, shape: [10, 10])
        let d = Digest.arrays([("x", a), ("n", .scalar(Int64(3)))])
        #expect(d.map(\.name) == ["x.digest", "n"])
        let v = d[0].array.doubles
        #expect(v.count == 67)
        #expect(v[0] == -50)  // sum of -50...49
        #expect(v[2] == 50)  // max |x|
        #expect(v[3] == -50 && v[66] == 49)  // first and last elements
        #expect(v[4] == Double((1 * 99) / 63) - 50)
    }
}
