import Augment
import NumPyIO

/// The augmentation and kNN checks of `byol verify`, on the committed fixtures:
/// parameters against NumPy's Philox draws, views against torchvision v2, byte identity
/// across thread counts, and kNN against NumPy.
public enum AugmentSuite {
    public struct Case: Sendable, CustomStringConvertible {
        public var images: String, seed: UInt64, epoch: UInt64, recipe: Recipe, size: Int
        /// The fixture name stem, as ci/numpy_augment_params.py writes it.
        public var name: String { "\(images)_s\(seed)_e\(epoch)_\(recipe.rawValue)_\(size)" }
        public var description: String { name }
    }

    /// ci/numpy_augment_params.py's CASES.
    public static let cases = [
        Case(images: "images", seed: 0, epoch: 0, recipe: .cifar, size: 32),
        Case(images: "images", seed: 12345, epoch: 3, recipe: .byol, size: 32),
        Case(images: "images", seed: (1 << 40) + 7, epoch: 17, recipe: .byol, size: 16),
        Case(images: "images_wide", seed: 7, epoch: 1, recipe: .byol, size: 32)
    ]

    /// docs/contract.md §4: views within 1e-9 of torchvision (float64), float parameters
    /// within 1e-15 relative of NumPy's, integers identical.
    public static let viewBound = 1e-9
    public static let parameterBound = 1e-15

    public static func augment(_ c: Case, fixtures: String, threads: Int) throws -> [(name: String, array: NDArray)] {
        try AugmentFiles.run(
            imagesPath: "\(fixtures)/augment/\(c.images).npz",
            augmenter: Augmenter(seed: c.seed, epoch: c.epoch, recipe: c.recipe, size: c.size), threads: threads)
    }

    public static func run(fixtures: String, onRow: (CheckRow) -> Void = { _ in }) -> [CheckRow] {
        var rows: [CheckRow] = []
        func add(_ r: CheckRow) {
            rows.append(r)
            onRow(r)
        }
        for c in cases {
            do {
                let ours = try augment(c, fixtures: fixtures, threads: 2)
                let params = try NPZ.load("\(fixtures)/augment/params_\(c.name).npz").members
                let paramRows = params.map { p in
                    Compare.tensors(
                        p.name, actual: ours.first { $0.name == p.name }?.array, expected: p.array,
                        tolerance: p.array.dtype == .int64 ? .exact : .relative(parameterBound))
                }
                add(row("augment \(c.name): parameters vs NumPy Philox", paramRows))
                let views = try NPZ.load("\(fixtures)/augment/views_\(c.name).npz").members
                let viewRows = views.map { v in
                    Compare.tensors(v.name, actual: ours.first { $0.name == v.name }?.array, expected: v.array, tolerance: .absolute(viewBound))
                }
                add(row("augment \(c.name): views vs torchvision (1e-9)", viewRows))
                let one = try augment(c, fixtures: fixtures, threads: 1)
                let same = zip(one, ours).allSatisfy { $0.name == $1.name && $0.array == $1.array }
                add(
                    CheckRow(
                        check: "augment \(c.name): 1 and 2 threads identical", maxAbsError: 0, maxRelError: 0, passed: same,
                        failures: same ? [] : ["augment \(c.name): output differs between 1 and 2 threads"]))
            } catch {
                add(CheckRow(check: "augment \(c.name)", maxAbsError: .infinity, maxRelError: .infinity, passed: false, failures: ["\(error)"]))
            }
        }
        for name in knnFixtures {
            add(knnRow(name, fixtures: fixtures))
        }
        return rows
    }

    static func row(_ title: String, _ comparisons: [TensorComparison]) -> CheckRow {
        CheckRow(
            check: title, maxAbsError: comparisons.map(\.maxAbs).max() ?? 0, maxRelError: comparisons.map(\.maxRel).max() ?? 0,
            passed: comparisons.allSatisfy(\.passed), failures: comparisons.filter { !$0.passed }.map(\.report))
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
            return row("knn \(name): vs NumPy (predictions identical, scores 1e-10)", comparisons)
        } catch {
            return CheckRow(check: "knn \(name)", maxAbsError: .infinity, maxRelError: .infinity, passed: false, failures: ["\(error)"])
        }
    }
}
