/// The batch's sample groups: the unit of work of a training step and of every sum over
/// samples in it. The batch's N samples are split into `count` contiguous groups (sizes
/// differing by at most one); a group holds both views of its samples. With P processes
/// (`mpirun -np P`), rank r computes the contiguous groups `local`; every sum over
/// samples is a sum of per-group partial sums in an order fixed by the groups alone
/// (`ReductionTree` for weight gradients, group order for BN sums and the loss), so the
/// bytes of a step depend on N and `count`, never on P or the thread count.
public struct SampleGroups: Equatable, Sendable, CustomStringConvertible {
    public let batch: Int
    public let count: Int
    public let ranks: Int, rank: Int

    /// 16 groups (a task for each of 16 threads, or 16 ranks), or one per sample for a
    /// batch of fewer than 16.
    public static func defaultCount(batch: Int) -> Int { min(batch, 16) }

    public init(batch: Int, count: Int? = nil, ranks: Int = 1, rank: Int = 0) {
        let c = count ?? Self.defaultCount(batch: batch)
        precondition(batch >= 1 && c >= 1 && c <= batch, "sample groups: \(c) for a batch of \(batch)")
        precondition(ranks >= 1 && ranks <= c && rank >= 0 && rank < ranks, "\(ranks) ranks for \(c) sample groups")
        (self.batch, self.count, self.ranks, self.rank) = (batch, c, ranks, rank)
    }

    /// The samples of group g.
    public func samples(_ g: Int) -> Range<Int> { (g * batch / count)..<((g + 1) * batch / count) }

    /// The groups rank r computes.
    public func groups(ofRank r: Int) -> Range<Int> { (r * count / ranks)..<((r + 1) * count / ranks) }

    /// This process's groups, and the samples they hold (contiguous).
    public var local: Range<Int> { groups(ofRank: rank) }
    public var localSamples: Range<Int> { samples(local.lowerBound).lowerBound..<samples(local.upperBound - 1).upperBound }

    public var description: String { "\(count) sample groups of \(batch / count)\(batch % count == 0 ? "" : "-\(batch / count + 1)")" }
}
