import BYOLModel
import Foundation
import NumPyIO

/// The machinery of the randomized float32 implementations of every layer and update
/// function (each op's own is `Op.randomized`, in Ops/), for the conformance kit's
/// trials (`byol conformance trials`, docs/conformance.md): each trial
/// draws a legitimate way to compute each function (the order of every sum, sequential,
/// pairwise or blocked with a random block size, FMA or not, one-pass or two-pass
/// variance, the loss as 2 - 2 cos or through normalized differences, updates in either
/// operation order) and, at a reduced tier, rounds matrix products' operands (and for
/// bf16 and fp16 their outputs) as that tier's model says. The bounds must admit every
/// draw: a correct implementation may do any of these.
struct RandomizedKernels {
    var rng: SplitMix
    /// The tier whose arithmetic matrix products emulate (float32: plain float32).
    let tier: Tier

    init(seed: UInt64, tier: Tier) {
        rng = SplitMix(seed: seed)
        self.tier = tier
    }

    // MARK: Summation

    enum Strategy { case sequential, pairwise, blocked(Int) }

    /// One way to sum, drawn per output tensor.
    struct Summer {
        var strategy: Strategy
        var shuffle: Bool
        var fma: Bool

        /// sum of a[i] * b[i] in float32.
        func dot(_ a: [Float], _ b: [Float], _ rng: inout SplitMix) -> Float {
            var idx = Array(a.indices)
            if shuffle { rng.shuffle(&idx) }
            let products: [Float]? = fma ? nil : idx.map { a[$0] * b[$0] }
            switch strategy {
            case .sequential:
                var s: Float = 0
                if fma { for i in idx { s = s.addingProduct(a[i], b[i]) } } else { for p in products! { s += p } }
                return s
            case .pairwise:
                return pairwise(products ?? idx.map { a[$0] * b[$0] })
            case .blocked(let size):
                var partials: [Float] = []
                var start = 0
                while start < idx.count {
                    var s: Float = 0
                    for j in start..<min(start + size, idx.count) {
                        let i = idx[j]
                        s = fma ? s.addingProduct(a[i], b[i]) : s + products![j]
                    }
                    partials.append(s)
                    start += size
                }
                return pairwise(partials)
            }
        }

        func sum(_ v: [Float], _ rng: inout SplitMix) -> Float { dot(v, [Float](repeating: 1, count: v.count), &rng) }

        func pairwise(_ v: [Float]) -> Float {
            if v.isEmpty { return 0 }
            if v.count == 1 { return v[0] }
            let mid = v.count / 2
            return pairwise(Array(v[..<mid])) + pairwise(Array(v[mid...]))
        }
    }

    mutating func summer() -> Summer {
        let strategies: [Strategy] = [.sequential, .pairwise, .blocked(1 + Int(rng.next() % 64))]
        return Summer(strategy: strategies[Int(rng.next() % 3)], shuffle: rng.next() % 2 == 0, fma: rng.next() % 2 == 0)
    }

    // MARK: Precision of matrix products

    /// A matrix product's operand at the tier.
    func operand(_ x: Float) -> Float {
        switch tier {
        case .tf32, .fp16: return Self.round(x, keepBits: 10)
        case .bf16: return Self.round(x, keepBits: 7)
        case .float32, .float64: return x
        }
    }

    /// A matrix product's output at the tier.
    func output(_ x: Float) -> Float { tier == .bf16 || tier == .fp16 ? operand(x) : x }

    /// x rounded to nearest-even with `keepBits` explicit mantissa bits (float32 keeps 23).
    static func round(_ x: Float, keepBits: Int) -> Float {
        let drop = UInt32(23 - keepBits)
        let bits = x.bitPattern
        let half = (UInt32(1) << (drop - 1)) - 1 + ((bits >> drop) & 1)
        return Float(bitPattern: (bits &+ half) & ~((UInt32(1) << drop) - 1))
    }

    // MARK: Functions

    /// The case's outputs through its op's randomized implementation (Op.randomized), or
    /// nil for an op without one (step, embed).
    mutating func compute(function: String, params: [String: Int], inputs: NPZFile) throws -> [(name: String, array: NDArray)]? {
        guard let randomized = Ops.named(function)?.randomized else { return nil }
        return try randomized(&self, OpCase(inputs: inputs, params: params, state: nil))
    }
}

/// A float32 output of a randomized implementation.
func out32(_ name: String, _ values: [Float], _ shape: [Int]) -> (name: String, array: NDArray) {
    (name, NDArray(float32: values, shape: shape))
}

extension OpCase {
    /// Input `name` as float32 values.
    func floats(_ name: String) throws -> [Float] { try inputs.requireFloat(name).floats }
    func shape(_ name: String) throws -> [Int] { try inputs.require(name).shape }
}

/// A small, fast generator for the trials' choices (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func shuffle(_ a: inout [Int]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, Int(next() % UInt64(i + 1))) }
    }
}
