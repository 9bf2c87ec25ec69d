import CommandFiles
import NumPyIO

/// The kNN checks of `byol verify`: `byol knn`'s file route on the fixtures of
/// ci/knn_reference.py (NumPy), predictions identical, scores within 1e-10.
public enum KNNSuite {
    public static func run(fixtures: String, onRow: (CheckRow) -> Void = { _ in }) -> [CheckRow] {
        knnFixtures.map { name in
            let r = knnRow(name, fixtures: fixtures)
            onRow(r)
            return r
        }
    }

    /// `byol knn` on a fixture of ci/knn_reference.py: predictions identical, scores
    /// within 1e-10 x max(1, max|expected|), accuracy equal.
    /// ci/knn_reference.py's cases.
    public static let knnFixtures = ["random", "k_above_n"] + [1, 2, 3, 4, 5, 7, 12].map { "ties_k\($0)" }

    public static func knnRow(_ name: String, fixtures: String) -> CheckRow {
        do {
            let f = try NPZ.load("\(fixtures)/knn/\(name).npz")
            let (arrays, _) = try KNNFiles.run(
                bank: (try f.require("bank_features"), try f.require("bank_labels")),
                queries: (try f.require("query_features"), try f.require("query_labels")),
                k: Int(try f.require("k").doubles[0]), temperature: try f.require("temperature").doubles[0],
                classes: Int(try f.require("classes").doubles[0]), labels: (f.path, f.path))
            let out = Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array) })
            let comparisons = [
                Compare.tensors("predictions", actual: out["predictions"], expected: try f.require("predictions"), tolerance: .exact),
                Compare.tensors("scores", actual: out["scores"], expected: try f.require("scores"), tolerance: .scaled(1e-10)),
                Compare.tensors("accuracy", actual: out["accuracy"], expected: try f.require("accuracy"), tolerance: .absolute(1e-15))
            ]
            return AugmentSuite.row("knn \(name): vs NumPy (predictions identical, scores 1e-10)", comparisons)
        } catch {
            return CheckRow(check: "knn \(name)", maxAbsError: .infinity, maxRelError: .infinity, passed: false, failures: ["\(error)"])
        }
    }
}
