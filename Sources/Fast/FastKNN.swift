import BYOLModel
import Foundation

/// The weighted kNN vote (the reference's `KNN` rule) on float32 features: cosine
/// similarities by sgemm over fixed blocks of queries, top-k per query (ties: lower bank
/// index first), weights exp(s / T) and class scores summed in float64 in rank order.
public enum FastKNN {
    /// bank [N, F], queries [M, F], sample-major.
    public static func classify(
        bank: [Float], bankLabels: [Int64], queries: [Float], queryLabels: [Int64]?, features f: Int,
        k: Int, temperature t: Double, classes: Int, threads: Int
    ) -> KNNResult {
        let n = bankLabels.count, m = queries.count / f
        let kk = min(k, n)
        let b = normalized(bank, f), q = normalized(queries, f)
        var predictions = [Int64](repeating: 0, count: m)
        var scores = [Double](repeating: 0, count: m * classes)
        let blocks = queryBlocks(m)
        let pool = WorkerPool(workers: threads)
        let sims = (0..<threads).map { _ in FloatBuffer(128 * n) }
        b.withUnsafeBufferPointer { B in
            q.withUnsafeBufferPointer { Q in
                predictions.withUnsafeMutableBufferPointer { P in
                    scores.withUnsafeMutableBufferPointer { S in
                        pool.run(chunks: blocks.count) { bi, worker in
                            let r = blocks[bi]
                            let s = sims[worker].pointer
                            sgemm(
                                transB: true, m: r.count, n: n, k: f, a: Q.baseAddress! + r.lowerBound * f, lda: f, b: B.baseAddress!, ldb: f, c: s,
                                ldc: n)
                            var top = [Int](repeating: 0, count: kk)
                            for (row, qi) in r.enumerated() {
                                let sr = s + row * n
                                selectTop(sr, n: n, k: kk, into: &top)
                                for j in top { S[qi * classes + Int(bankLabels[j])] += exp(Double(sr[j]) / t) }
                                var best = 0
                                for c in 1..<max(classes, 1) where S[qi * classes + c] > S[qi * classes + best] { best = c }
                                P[qi] = Int64(best)
                            }
                        }
                    }
                }
            }
        }
        var accuracy: Double?
        if let queryLabels {
            accuracy = m == 0 ? 0 : Double(zip(predictions, queryLabels).filter { $0 == $1 }.count) / Double(m)
        }
        return KNNResult(predictions: predictions, scores: scores, accuracy: accuracy)
    }

    /// Fixed blocks of at most 128 queries: one sgemm each.
    static func queryBlocks(_ m: Int) -> [Range<Int>] { WorkerPool.split(m, parts: (m + 127) / 128) }

    /// Indices of the k largest s (ties: lower index first), in rank order.
    static func selectTop(_ s: UnsafePointer<Float>, n: Int, k: Int, into top: inout [Int]) {
        // A sorted buffer of the best k so far; an entry enters only if strictly better
        // than the current k-th (so among equals the earlier index stays).
        var count = 0
        for j in 0..<n {
            let v = s[j]
            if count == k && !(v > s[top[k - 1]]) { continue }
            var pos = count == k ? k - 1 : count
            while pos > 0 && v > s[top[pos - 1]] {
                top[pos] = top[pos - 1]
                pos -= 1
            }
            top[pos] = j
            if count < k { count += 1 }
        }
    }

    static func normalized(_ x: [Float], _ f: Int) -> [Float] {
        var out = x
        for r in 0..<(x.count / f) {
            var sq = 0.0
            for j in 0..<f { sq += Double(x[r * f + j]) * Double(x[r * f + j]) }
            let inv = 1 / max(sq.squareRoot(), 1e-12)
            for j in 0..<f { out[r * f + j] = Float(Double(x[r * f + j]) * inv) }
        }
        return out
    }
}
