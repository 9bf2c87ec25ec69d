import Augment
import CommandFiles
import NumPyIO

/// The augmentation checks of `byol verify`, on the committed fixtures: parameters
/// against NumPy's Philox draws, views against torchvision v2, byte identity across
/// thread counts.
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
        return rows
    }

    static func row(_ title: String, _ comparisons: [TensorComparison]) -> CheckRow {
        CheckRow(
            check: title, maxAbsError: comparisons.map(\.maxAbs).max() ?? 0, maxRelError: comparisons.map(\.maxRel).max() ?? 0,
            passed: comparisons.allSatisfy(\.passed), failures: comparisons.filter { !$0.passed }.map(\.report))
    }
}
