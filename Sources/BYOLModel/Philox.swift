/// Philox4x64-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011),
/// bit-compatible with `numpy.random.Philox`.
///
/// The generator is counter based: block `Philox(key, counter)` is a pure function, so
/// the stream for any (seed, image, epoch, view) is reachable without drawing anything
/// before it. `PhiloxStream` reproduces NumPy's `Generator(Philox(key=, counter=))`:
/// it increments the 256-bit counter before each block of four outputs and turns an
/// output into a double as `(x >> 11) * 2^-53`.
public enum Philox4x64 {
    static let m0: UInt64 = 0xD2E7_470E_E14C_6C93
    static let m1: UInt64 = 0xCA5A_8263_9512_1157
    static let w0: UInt64 = 0x9E37_79B9_7F4A_7C15  // golden ratio
    static let w1: UInt64 = 0xBB67_AE85_84CA_A73B  // sqrt(3) - 1

    /// Ten rounds of Philox4x64 on `counter` under `key`.
    public static func block(
        counter: (UInt64, UInt64, UInt64, UInt64), key: (UInt64, UInt64)
    )
        -> (UInt64, UInt64, UInt64, UInt64)
    {
        var c = counter
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.0 &+= w0
                k.1 &+= w1
            }
            let p0 = m0.multipliedFullWidth(by: c.0)
            let p1 = m1.multipliedFullWidth(by: c.2)
            c = (p1.high ^ c.1 ^ k.0, p1.low, p0.high ^ c.3 ^ k.1, p0.low)
        }
        return c
    }
}

/// Every random stream of the project is `Philox(key=[seed, word])` with its own key
/// word, so that no two uses ever draw the same numbers (docs/contract.md §3.6). The
/// counter's other words say what is drawn (image index, epoch, view, array...).
public enum PhiloxKey: UInt64, Sendable, CaseIterable {
    /// Augmentation parameters; counter [0, image index, epoch, view].
    case augment = 0
    /// Initial parameters; counter [0, array index, 0, 0].
    case initialization = 1
    /// Inputs of check cases and benchmarks; counter [0, 0, 0, 0].
    case caseDraws = 2
    /// The epoch's shuffle of the training set; counter [0, epoch, 0, 0].
    case shuffle = 3
    /// The embedded synthetic data set; counter [0, image index, split, 0].
    case syntheticData = 4
}

/// The output stream of `numpy.random.Generator(numpy.random.Philox(key=key, counter=counter))`.
public struct PhiloxStream {
    private var counter: (UInt64, UInt64, UInt64, UInt64)
    private let key: (UInt64, UInt64)
    private var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var position = 4  // outputs of `buffer` already used

    public init(key: (UInt64, UInt64), counter: (UInt64, UInt64, UInt64, UInt64)) {
        self.key = key
        self.counter = counter
    }

    /// The stream of one of the project's uses (key [seed, use]).
    public init(seed: UInt64, _ use: PhiloxKey, counter: (UInt64, UInt64, UInt64, UInt64)) {
        self.init(key: (seed, use.rawValue), counter: counter)
    }

    /// NumPy's `next_uint64`: increment the counter (with carry), then draw a block.
    public mutating func nextUInt64() -> UInt64 {
        if position == 4 {
            var carry: Bool
            (counter.0, carry) = counter.0.addingReportingOverflow(1)
            if carry { (counter.1, carry) = counter.1.addingReportingOverflow(1) }
            if carry { (counter.2, carry) = counter.2.addingReportingOverflow(1) }
            if carry { counter.3 &+= 1 }
            buffer = Philox4x64.block(counter: counter, key: key)
            position = 0
        }
        defer { position += 1 }
        switch position {
        case 0: return buffer.0
        case 1: return buffer.1
        case 2: return buffer.2
        default: return buffer.3
        }
    }

    /// NumPy's `Generator.random()`: a double in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(nextUInt64() >> 11) * 0x1.0p-53
    }

    /// `lo + (hi - lo) * u`, in float64, as docs/contract.md §3.5 writes U(lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * nextUniform()
    }
}
