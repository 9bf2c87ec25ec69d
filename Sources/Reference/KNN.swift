import BYOLModel
import Foundation

/// The weighted k-nearest-neighbour vote of InstDisc and the usual BYOL kNN monitors
/// (docs/contract.md §3, `byol knn`): bank and queries L2-normalized (eps 1e-12),
/// s = cosine similarity, the top-k bank entries by s (ties: lower bank index first;
/// k = N when k > N), weight exp(s / T), score[c] = sum of the weights of top-k entries
/// of class c (summed in rank order), prediction = argmax (ties: lower class).
public enum KNN {
    /// bank [N, F] with labels [N] in 0..<classes; queries [M, F], optional labels.
    public static func classify(
        bank: [Double], bankLabels: [Int64], queries: [Double], queryLabels: [Int64]?,
        features f: Int, k: Int, temperature t: Double, classes: Int
    ) -> KNNResult {
        let n = bankLabels.count
        let m = queries.count / max(f, 1)
        let kk = min(k, n)
        let b = normalizedRows(bank, f)
        let q = normalizedRows(queries, f)
        var predictions = [Int64](repeating: 0, count: m)
        var scores = [Double](repeating: 0, count: m * classes)
        var sims = [Double](repeating: 0, count: n)
        for qi in 0..<m {
            for bi in 0..<n {
                var s = 0.0
                for j in 0..<f { s += q[qi * f + j] * b[bi * f + j] }
                sims[bi] = s
            }
            // Rank: higher similarity first, then lower bank index.
            let top = (0..<n).sorted { sims[$0] != sims[$1] ? sims[$0] > sims[$1] : $0 < $1 }.prefix(kk)
            for bi in top {
                scores[qi * classes + Int(bankLabels[bi])] += exp(sims[bi] / t)
            }
            var best = 0
            for c in 1..<max(classes, 1) where scores[qi * classes + c] > scores[qi * classes + best] { best = c }
            predictions[qi] = Int64(best)
        }
        var accuracy: Double?
        if let queryLabels {
            var correct = 0
            for i in 0..<m where predictions[i] == queryLabels[i] { correct += 1 }
            accuracy = m > 0 ? Double(correct) / Double(m) : 0
        }
        return KNNResult(predictions: predictions, scores: scores, accuracy: accuracy)
    }

    /// x / max(||x||, 1e-12) per row of width f.
    static func normalizedRows(_ x: [Double], _ f: Int) -> [Double] {
        var out = x
        let rows = x.count / max(f, 1)
        for r in 0..<rows {
            var sq = 0.0
            for j in 0..<f { sq += x[r * f + j] * x[r * f + j] }
            let norm = max(sq.squareRoot(), 1e-12)
            for j in 0..<f { out[r * f + j] = x[r * f + j] / norm }
        }
        return out
    }
}
