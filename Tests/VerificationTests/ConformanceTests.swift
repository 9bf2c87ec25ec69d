import BYOLModel
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import NumPyIO
import Reference
import Testing
import TestSupport
import Verification

/// The conformance kit's case files and their check (issue #16, first part).
@Suite struct ConformanceTests {
    let arch = Architecture.preset(named: "tiny")!

    func export(_ d: TemporaryDirectory, _ name: String = "cases") throws -> [Conformance.Case] {
        let cases = Conformance.cases(arch: arch, batch: 3, size: 8, seed: 5)
        try Conformance.export(cases, header: ["preset": "tiny"], to: d.file(name))
        return cases
    }

    /// Results equal to the expected outputs: every case's expected.npz as RESULTS/ID.npz.
    func copyExpected(_ d: TemporaryDirectory, _ cases: [Conformance.Case]) throws {
        try FileManager.default.createDirectory(atPath: d.file("results"), withIntermediateDirectories: true)
        for c in cases { try FileManager.default.copyItem(atPath: d.file("cases/\(c.id)/expected.npz"), toPath: d.file("results/\(c.id).npz")) }
    }

    @Test func everyFunctionAndConvolutionShapeIsACase() {
        let cases = Conformance.cases(arch: arch, batch: 3, size: 8, seed: 5)
        #expect(Set(cases.map(\.function)) == Set(Conformance.functions))
        #expect(Set(cases.map(\.id)).count == cases.count)
        // The stem, per stage a first 3x3 (stride 1 in stage 1, else 2) and its shortcut
        // when channels or size change, and the stride-1 3x3 of each stage.
        let convs = cases.filter { $0.function == "conv2d" }.map(\.id)
        #expect(convs.contains("conv2d-3x3-s1-p1-3to\(arch.widths[0])-8x8"))
        #expect(convs.contains { $0.hasPrefix("conv2d-1x1-s2-p0-") } && convs.contains { $0.hasPrefix("conv2d-3x3-s2-p1-") })
        for c in cases where c.function == "relu" { #expect((c.reluMargin ?? 0) >= 1e-3) }
    }

    @Test func exportIsByteIdentical() throws {
        let d = TemporaryDirectory()
        let cases = try export(d, "a")
        _ = try export(d, "b")
        #expect(readBytes(d.file("a/manifest.json")) == readBytes(d.file("b/manifest.json")))
        for c in cases {
            for f in ["inputs.npz", "expected.npz"] { #expect(readBytes(d.file("a/\(c.id)/\(f)")) == readBytes(d.file("b/\(c.id)/\(f)"))) }
        }
    }

    /// The reference's own results pass at float64 bounds; the JUnit report has one test
    /// case per case, grouped by function, and parses.
    @Test func referenceResultsPassAndJUnitParses() throws {
        let d = TemporaryDirectory()
        let cases = try export(d)
        #expect(try Conformance.run(cases: d.file("cases"), engine: ReferenceEngine(), results: d.file("results")) == cases.count)
        let findings = try Conformance.check(cases: d.file("cases"), results: d.file("results"), precision: .float64)
        #expect(!findings.isEmpty && findings.allSatisfy(\.passed))
        final class Counter: NSObject, XMLParserDelegate {
            var testcases = 0, suites = 0, failures = 0
            func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
                if e == "testcase" { testcases += 1 }
                if e == "testsuite" { suites += 1 }
                if e == "failure" { failures += 1 }
            }
        }
        let parser = XMLParser(data: Data(Conformance.junit(findings).utf8))
        let counter = Counter()
        parser.delegate = counter
        #expect(parser.parse())
        #expect(counter.testcases == cases.count && counter.suites == Conformance.functions.count && counter.failures == 0)
    }

    /// A wrong value fails, naming the case, the tensor and the index; so does a missing
    /// result, unless --only leaves its function out.
    @Test func violationsNameTensorAndIndex() throws {
        let d = TemporaryDirectory()
        let cases = try export(d)
        try copyExpected(d, cases)
        let conv = cases.first { $0.function == "conv2d" }!
        let path = d.file("results/\(conv.id).npz")
        let f = try NPZ.load(path)
        let members = try f.names.map { name -> (name: String, array: NDArray) in
            var a = try f.require(name)
            if name == "dweight" {
                var v = a.doubles
                v[a.shape[1] * 9 + 5] += 0.01 * max(1, v.map(abs).max()!)  // [1, 0, 1, 2]
                a = NDArray(float64: v, shape: a.shape)
            }
            return (name, a)
        }
        try NPZ.write(members, to: path)
        try FileManager.default.removeItem(atPath: d.file("results/\(cases.first { $0.function == "loss" }!.id).npz"))
        let findings = try Conformance.check(cases: d.file("cases"), results: d.file("results"), precision: .float32)
        let bad = findings.filter { !$0.passed }
        #expect(bad.count == 3, "\(bad.map(\.message))")  // dweight; loss and dp of the missing file
        let dw = bad.first { $0.tensor == "dweight" }
        #expect(dw?.caseID == conv.id && dw?.worstIndex == [1, 0, 1, 2])
        #expect(dw?.message.contains("dweight: max rel error") == true && dw?.message.contains("at [1, 0, 1, 2]") == true)
        #expect(bad.filter { $0.function == "loss" }.allSatisfy { $0.message.hasSuffix("no result file") })
        let onlyConv = try Conformance.check(cases: d.file("cases"), results: d.file("results"), precision: .float32, only: ["linear", "relu"])
        #expect(!onlyConv.isEmpty && onlyConv.allSatisfy(\.passed))
        let json = try JSONSerialization.jsonObject(with: try Conformance.json(findings, precision: .float32)) as? [String: Any]
        #expect(json?["passed"] as? Bool == false && (json?["tensors"] as? [Any])?.count == findings.count)
    }

    @Test func aManifestOfAnotherVersionIsRefused() throws {
        let d = TemporaryDirectory()
        _ = try export(d)
        let path = d.file("cases/manifest.json")
        let text = String(decoding: readBytes(path), as: UTF8.self).replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 2")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { try Conformance.check(cases: d.file("cases"), results: d.path, precision: .float32) }
        do { _ = try Conformance.check(cases: d.file("cases"), results: d.path, precision: .float32) } catch {
            #expect("\(error)".contains("manifest.json") && "\(error)".contains("version 2"), "\(error)")
        }
    }
}

/// PyTorch's CPU float32 functional ops pass the tiny preset's default cases through the
/// file route: their results, written by ci/conformance_torch.py (torch 2.15), are in
/// Fixtures/conformance/torch-tiny, checked against a fresh export (so the export must
/// still produce the cases they were computed from).
@Suite struct TorchConformance {
    @Test func torchFloat32PassesTheTinyCases() throws {
        let d = TemporaryDirectory()
        let cases = Conformance.cases(arch: Architecture.preset(named: "tiny")!, batch: 4, size: 16, seed: 0)
        try Conformance.export(cases, header: [:], to: d.path)
        let results = Repo.root.appendingPathComponent("Fixtures/conformance/torch-tiny").path
        // ci/conformance_torch.py implements the layer and update functions; whole steps
        // and embeds are PyTorch-checked by the goldens (ci/torch_reference.py).
        let layers = Set(Conformance.functions).subtracting(["step", "embed"])
        let findings = try Conformance.check(cases: d.path, results: results, precision: .float32, only: layers)
        for f in findings where !f.passed { Issue.record("\(f.caseID): \(f.message)") }
        #expect(Set(findings.map(\.caseID)).count == 36 && cases.count == 38)
        // They are float32 results: float64's bounds must reject them.
        #expect(try Conformance.check(cases: d.path, results: results, precision: .float64, only: layers).contains { !$0.passed })
    }
}
