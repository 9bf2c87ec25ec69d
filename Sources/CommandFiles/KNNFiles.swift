import BYOLModel
import Foundation
import NumPyIO
import Reference

/// `byol knn` on files: reads and checks the bank and queries, returns `predictions`,
/// `scores` and, when the queries have labels, `accuracy`.
public enum KNNFiles {
    /// The most classes `byol knn` scores (as `--classes` allows).
    public static let maxClasses = 65_536

    public static func run(
        bankPath: String, queriesPath: String, k: Int, temperature: Double, classes: Int?
    ) throws -> (arrays: [(name: String, array: NDArray)], result: KNNResult) {
        let bank = try NPZ.load(bankPath)
        let queries = try NPZ.load(queriesPath)
        let bf = try bank.requireFloat("features")
        guard bf.shape.count == 2, bf.shape[0] > 0, bf.shape[1] > 0 else {
            throw NumPyIOError(file: bankPath, array: "features", "shape \(fmt(bf.shape)), expected (N, F) with N > 0 and F > 0")
        }
        let qf = try queries.requireFloat("features")
        guard qf.shape.count == 2, qf.shape[1] == bf.shape[1] else {
            throw NumPyIOError(file: queriesPath, array: "features", "shape \(fmt(qf.shape)), expected (M, \(bf.shape[1])) to match the bank")
        }
        let bl = try bank.requireInt("labels", shape: [bf.shape[0]])
        let ql = queries["labels"] == nil ? nil : try queries.requireInt("labels", shape: [qf.shape[0]])
        return try run(bank: (bf, bl), queries: (qf, ql), k: k, temperature: temperature, classes: classes, labels: (bankPath, queriesPath))
    }

    /// The vote on checked arrays: features [N, F] / [M, F], int64 labels; `labels` names
    /// the files for errors about out-of-range labels.
    public static func run(
        bank: (features: NDArray, labels: NDArray), queries: (features: NDArray, labels: NDArray?), k: Int,
        temperature: Double, classes: Int?, labels files: (String, String)
    ) throws -> (arrays: [(name: String, array: NDArray)], result: KNNResult) {
        let (m, f) = (queries.features.shape[0], bank.features.shape[1])
        guard case .int64(let bl) = bank.labels.storage else { throw NumPyIOError(file: files.0, array: "labels", "expected int64") }
        var ql: [Int64]?
        if let q = queries.labels {
            guard case .int64(let v) = q.storage else { throw NumPyIOError(file: files.1, array: "labels", "expected int64") }
            ql = v
        }
        // Labels become class indices and size the scores [M, C]: range-checked before
        // either (a label of 2^62 trapped on + 1, one of 2^40 exhausted memory).
        for (path, labels) in [(files.0, bl), (files.1, ql ?? [])] {
            if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= Int64(maxClasses) }) {
                throw NumPyIOError(
                    file: path, array: "labels",
                    "label \(labels[bad]) at position \(bad) is outside 0..<\(maxClasses) (at most \(maxClasses) classes)")
            }
        }
        // Rows L2-normalize: a norm that overflows float64 (features near 1e308) would turn
        // the row into zeros and every score alike.
        for (path, x, rows) in [(files.0, bank.features.doubles, bank.features.shape[0]), (files.1, queries.features.doubles, m)] {
            for r in 0..<rows {
                var sq = 0.0
                for j in 0..<f { sq += x[r * f + j] * x[r * f + j] }
                guard sq.isFinite else {
                    throw NumPyIOError(file: path, array: "features", "row \(r): its norm overflows float64, so it cannot be normalized")
                }
            }
        }
        // k weights of at most exp(1 / T) each must sum to a finite score.
        let kEff = min(k, bank.features.shape[0])
        guard log(Double(kEff)) + 1 / temperature < log(Double.greatestFiniteMagnitude) else {
            throw NumPyIOError(
                file: files.0, "\(kEff) weights of up to exp(1 / \(temperature)) overflow float64: use a larger --temperature or a smaller --k")
        }
        let c = classes ?? Int(max(bl.max() ?? 0, ql?.max() ?? 0)) + 1
        for (path, labels) in [(files.0, bl), (files.1, ql ?? [])] {
            if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= c }) {
                throw NumPyIOError(file: path, array: "labels", "label \(labels[bad]) at position \(bad) is outside 0..<\(c)")
            }
        }
        let r = KNN.classify(
            bank: bank.features.doubles, bankLabels: bl, queries: queries.features.doubles, queryLabels: ql, features: f,
            k: k, temperature: temperature, classes: c)
        var out: [(name: String, array: NDArray)] = [
            ("predictions", NDArray(int64: r.predictions, shape: [m])),
            ("scores", NDArray(float64: r.scores, shape: [m, c]))
        ]
        if let a = r.accuracy { out.append(("accuracy", .scalar(a))) }
        return (out, r)
    }
}
