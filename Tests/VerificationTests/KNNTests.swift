import CommandFiles
import Foundation
import NumPyIO
import Reference
import TestSupport
import Testing
import Verification

/// `byol knn` against a NumPy implementation of the rule of docs/contract.md §3.4 (ci/knn_reference.py),
/// random and tie-heavy cases, and a case computed by hand.
@Suite struct KNNTests {
    /// Predictions identical, scores within 1e-10 x max(1, max|expected|) (KNNSuite).
    @Test(arguments: KNNSuite.knnFixtures)
    func matchesNumPy(_ name: String) {
        let r = KNNSuite.knnRow(name, fixtures: Repo.root.appendingPathComponent("Fixtures").path)
        #expect(r.passed, "\(r.failures.joined(separator: "\n"))")
    }

    /// Hand-computed: bank directions e1 (class 0), e1 (class 1), e2 (class 1); query e1,
    /// k = 2, T = 1. The two e1 entries tie at s = 1 and both are taken; class 0 and 1
    /// each get e^1, so the argmax tie goes to class 0. With k = 1 the lower bank index
    /// (class 0) wins the top-k tie.
    @Test func tiesByHand() {
        let bank: [Double] = [2, 0, 5, 0, 0, 3]
        for (k, scores) in [(2, [M_E, M_E]), (1, [M_E, 0]), (3, [M_E, M_E + 1])] {
            let r = KNN.classify(
                bank: bank, bankLabels: [0, 1, 1], queries: [1, 0], queryLabels: [1], features: 2,
                k: k, temperature: 1, classes: 2)
            #expect(r.scores == scores, "k = \(k)")
            #expect(r.predictions == [k == 3 ? 1 : 0])
            #expect(r.accuracy == (k == 3 ? 1 : 0))
        }
    }

    @Test func rejectsLabelsOutsideTheClasses() throws {
        let d = TemporaryDirectory()
        try NPZ.write(
            [("features", NDArray(float64: [1, 0, 0, 1], shape: [2, 2])), ("labels", NDArray(int64: [0, 5], shape: [2]))], to: d.file("b.npz"))
        try NPZ.write([("features", NDArray(float64: [1, 0], shape: [1, 2]))], to: d.file("q.npz"))
        #expect(throws: NumPyIOError(file: d.file("b.npz"), array: "labels", "label 5 at position 1 is outside 0..<3")) {
            try KNNFiles.run(bankPath: d.file("b.npz"), queriesPath: d.file("q.npz"), k: 1, temperature: 0.1, classes: 3)
        }
        try NPZ.write([("features", NDArray(float64: [1, 0, 0], shape: [1, 3]))], to: d.file("q3.npz"))
        #expect(throws: NumPyIOError.self) {
            try KNNFiles.run(bankPath: d.file("b.npz"), queriesPath: d.file("q3.npz"), k: 1, temperature: 0.1, classes: nil)
        }
    }
}
