/// A precision tier of the conformance kit (docs/contract.md §4): the arithmetic an
/// implementation is judged against. Each tier is three unit roundoffs:
/// - `accumulation`: sums and element-wise arithmetic (float32 in every tier but float64);
/// - `operand`: the rounding of the two operands of every matrix product (convolutions,
///   linear layers and their gradients) before they are multiplied;
/// - `product`: the rounding of a matrix product's output.
/// In float64 and float32 all three are that format's. TF32 rounds operands to 10
/// explicit mantissa bits (to nearest: truncation is not modelled) and accumulates and
/// stores in float32; bf16 and fp16 round operands and products' outputs to their 7 and
/// 10 bits and accumulate in float32. Values are assumed to stay in each format's normal
/// range (no underflow, no loss scaling).
public enum Tier: String, Sendable, CaseIterable, Comparable {
    // Tightest first: `check --precision auto` reports the first tier every case meets.
    case float64, float32, tf32, fp16, bf16

    public var accumulation: Double { self == .float64 ? 0x1p-53 : 0x1p-24 }

    public var operand: Double {
        switch self {
        case .float64: return 0x1p-53
        case .float32: return 0x1p-24
        case .tf32, .fp16: return 0x1p-11
        case .bf16: return 0x1p-8
        }
    }

    public var product: Double {
        switch self {
        case .float64: return 0x1p-53
        case .float32, .tf32: return 0x1p-24
        case .fp16: return 0x1p-11
        case .bf16: return 0x1p-8
        }
    }

    /// The engine precision whose float results this tier admits as its storage.
    public var storage: Precision { self == .float64 ? .float64 : .float32 }

    public static func < (a: Tier, b: Tier) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}
