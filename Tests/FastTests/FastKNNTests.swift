import BYOLModel
import Fast
import Reference
import Testing

/// The float32 kNN vote (sgemm similarities) against the float64 reference's rule on the
/// same features (issue #25: the two were never compared). Where the reference's k-th
/// and (k+1)-th similarities are apart by more than float32 can move them, both take the
/// same neighbours: then the scores agree to float32 accuracy and the predictions are
/// equal wherever the best class leads clearly; and the vote is the same bytes at any
/// thread count.
@Suite struct FastKNNAgainstReference {
    /// Deterministic features in [-1, 1) (a 64-bit LCG): [rows, f].
    func features(_ rows: Int, _ f: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<(rows * f)).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(s >> 11) / Double(1 << 53) * 2 - 1)
        }
    }

    @Test(arguments: [(1, 20, 0.1), (3, 7, 0.5), (2, 200, 0.07)])
    func sameNeighboursSameScores(threads: Int, k: Int, temperature: Double) {
        let (n, m, f, classes) = (300, 60, 16, 10)
        let bank = features(n, f, seed: 1), queries = features(m, f, seed: 2)
        let labels = (0..<n).map { Int64(($0 * 7) % classes) }, queryLabels = (0..<m).map { Int64($0 % classes) }
        let ref = KNN.classify(
            bank: bank.map(Double.init), bankLabels: labels, queries: queries.map(Double.init), queryLabels: queryLabels,
            features: f, k: k, temperature: temperature, classes: classes)
        let fast = FastKNN.classify(
            bank: bank, bankLabels: labels, queries: queries, queryLabels: queryLabels, features: f, k: k,
            temperature: temperature, classes: classes, threads: threads)
        // Float32 similarities of unit vectors of 16 elements: off by at most about
        // 16 x 2^-24 each (normalization and the dot product); 1e-5 is 10x that.
        let simError = 1e-5
        func norm(_ x: [Float], _ r: Int) -> [Double] {
            let row = (0..<f).map { Double(x[r * f + $0]) }
            let l = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            return row.map { $0 / l }
        }
        var compared = 0
        for q in 0..<m {
            let qv = norm(queries, q)
            let sims = (0..<n).map { b in zip(qv, norm(bank, b)).map(*).reduce(0, +) }.sorted(by: >)
            // The same top-k on both sides only when the cut is clear of rounding.
            if k < n && sims[k - 1] - sims[k] <= 2 * simError { continue }
            compared += 1
            let row = (q * classes)..<((q + 1) * classes)
            for c in row {
                // exp(s / T) moves by a factor exp(simError / T): at most 1.5e-4 at T = 0.07.
                let bound = 2e-4 * max(ref.scores[c], 1e-300)
                #expect(
                    abs(fast.scores[c] - ref.scores[c]) <= bound, "query \(q), class \(c - row.lowerBound): \(fast.scores[c]) vs \(ref.scores[c])")
            }
            let sorted = row.map { ref.scores[$0] }.sorted(by: >)
            if sorted[0] > sorted[1] * (1 + 1e-3) { #expect(fast.predictions[q] == ref.predictions[q], "query \(q)") }
        }
        // Most queries must be comparable, or the test says nothing.
        #expect(compared >= m / 2, "only \(compared) of \(m) queries had a clear top-\(k) cut")
        // The same bytes at one thread.
        let one = FastKNN.classify(
            bank: bank, bankLabels: labels, queries: queries, queryLabels: queryLabels, features: f, k: k,
            temperature: temperature, classes: classes, threads: 1)
        #expect(one == fast)
    }
}
