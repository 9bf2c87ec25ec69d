import Foundation
import NumPyIO

/// Tensor comparison with `numpy.testing.assert_allclose`-style reports.
public enum Tolerance: Sendable, CustomStringConvertible {
    /// Bit for bit (the reference against its own goldens).
    case exact
    /// |a - e| <= bound * max(1, max |e|) per tensor (docs/contract.md §4).
    case scaled(Double)
    /// |a - e| <= bound per element.
    case absolute(Double)
    /// |a - e| <= bound * |e| per element.
    case relative(Double)

    public var description: String {
        switch self {
        case .exact: return "bitwise"
        case .scaled(let b): return "\(b) x max(1, max|expected|)"
        case .absolute(let b): return "\(b) absolute"
        case .relative(let b): return "\(b) relative"
        }
    }
}

public struct TensorComparison: Sendable {
    public var name: String
    public var maxAbs: Double
    public var maxRel: Double  // max |a - e| / max(1, max|e|): the bounded quantity
    public var passed: Bool
    /// Empty when passed; otherwise the numpy-style report (several lines).
    public var report: String
    /// One line for tables.
    public var summary: String
}

public enum Compare {
    public static func tensors(_ name: String, actual: NDArray?, expected: NDArray?, tolerance: Tolerance) -> TensorComparison {
        guard let expected else {
            return TensorComparison(
                name: name, maxAbs: .infinity, maxRel: .infinity, passed: false,
                report: "\(name): not in the expected file", summary: "\(name): not in the expected file")
        }
        guard let actual else {
            return TensorComparison(
                name: name, maxAbs: .infinity, maxRel: .infinity, passed: false,
                report: "\(name): missing from the output", summary: "\(name): missing from the output")
        }
        guard actual.shape == expected.shape else {
            let s = "\(name): shape \(fmt(actual.shape)), expected \(fmt(expected.shape))"
            return TensorComparison(name: name, maxAbs: .infinity, maxRel: .infinity, passed: false, report: s, summary: s)
        }
        let a = actual.doubles
        let e = expected.doubles
        let scale = max(1, e.map(abs).max() ?? 0)
        var maxAbs = 0.0
        var mismatched: [Int] = []
        for i in 0..<e.count {
            let d = abs(a[i] - e[i])
            let bad: Bool
            switch tolerance {
            case .exact: bad = a[i].bitPattern != e[i].bitPattern && !(a[i].isNaN && e[i].isNaN)
            case .scaled(let b): bad = !(d <= b * scale)
            case .absolute(let b): bad = !(d <= b)
            case .relative(let b): bad = !(d <= b * abs(e[i]))
            }
            if d > maxAbs || d.isNaN { maxAbs = d.isNaN ? .infinity : max(maxAbs, d) }
            if bad { mismatched.append(i) }
        }
        let maxRel = maxAbs / scale
        if case .exact = tolerance, actual.dtype != expected.dtype {
            let s = "\(name): dtype \(actual.dtype.rawValue), expected \(expected.dtype.rawValue)"
            return TensorComparison(name: name, maxAbs: maxAbs, maxRel: maxRel, passed: false, report: s, summary: s)
        }
        guard !mismatched.isEmpty else {
            return TensorComparison(name: name, maxAbs: maxAbs, maxRel: maxRel, passed: true, report: "", summary: "")
        }
        let pct = 100 * Double(mismatched.count) / Double(e.count)
        var lines = [
            "Not equal to tolerance \(tolerance): \(name), shape \(fmt(expected.shape))",
            "Mismatched elements: \(mismatched.count) / \(e.count) (\(String(format: "%.3g", pct))%)"
        ]
        for i in mismatched.prefix(5) {
            lines.append("  at \(index(i, expected.shape)): ACTUAL \(a[i]) DESIRED \(e[i])")
        }
        lines.append("Max absolute difference: \(maxAbs)")
        lines.append("Max relative difference (to max(1, max|expected|)): \(maxRel)")
        let summary =
            "\(name): \(mismatched.count) of \(e.count) elements differ, first at \(index(mismatched[0], expected.shape)): ACTUAL \(a[mismatched[0]]) DESIRED \(e[mismatched[0]])"
        return TensorComparison(name: name, maxAbs: maxAbs, maxRel: maxRel, passed: false, report: lines.joined(separator: "\n"), summary: summary)
    }

    /// Every array of `expected` against `actual` (extra arrays in `actual` fail too).
    public static func files(
        actual: [(name: String, array: NDArray)], expected: [(name: String, array: NDArray)], tolerance: Tolerance
    ) -> [TensorComparison] {
        let a = Dictionary(actual.map { ($0.name, $0.array) }, uniquingKeysWith: { x, _ in x })
        let e = Dictionary(expected.map { ($0.name, $0.array) }, uniquingKeysWith: { x, _ in x })
        var out = expected.map { tensors($0.name, actual: a[$0.name], expected: $0.array, tolerance: tolerance) }
        for (name, _) in actual where e[name] == nil {
            out.append(tensors(name, actual: a[name], expected: nil, tolerance: tolerance))
        }
        return out
    }

    /// A flat index as a NumPy-style tuple.
    static func index(_ flat: Int, _ shape: [Int]) -> String {
        var rem = flat
        var idx = [Int](repeating: 0, count: shape.count)
        for d in (0..<shape.count).reversed() {
            idx[d] = rem % max(shape[d], 1)
            rem /= max(shape[d], 1)
        }
        return "(" + idx.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
    }
}
