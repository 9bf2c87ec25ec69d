import Foundation

/// Data movement among the processes of a data-parallel run (`mpirun -np P byol
/// pretrain`). Only movement: every sum of floats is evaluated by the caller in an order
/// fixed by the batch (docs/design.md, "Data parallelism"), never by the library, whose
/// float reductions pick their own order. The one reduction offered is of integers,
/// which is exact in any order.
///
/// Calls are collective: every rank makes the same calls in the same order. A rank that
/// dies makes the others end (each with a message) instead of waiting for ever.
public protocol Collective: AnyObject, Sendable {
    var rank: Int { get }
    var size: Int { get }

    /// out = every rank's `mine`, concatenated in rank order; `counts[r]` is rank r's
    /// element count (the same array on every rank).
    func allgather(_ mine: UnsafeBufferPointer<Double>, counts: [Int], into out: UnsafeMutableBufferPointer<Double>)
    func allgather(_ mine: UnsafeBufferPointer<Float>, counts: [Int], into out: UnsafeMutableBufferPointer<Float>)
    /// Rank r sends `send[sendOffsets[d] ..< + sendCounts[d]]` to each rank d and receives
    /// rank s's part into `recv[recvOffsets[s] ..< + recvCounts[s]]`.
    func alltoall(
        _ send: UnsafeBufferPointer<Float>, sendCounts: [Int], sendOffsets: [Int],
        into recv: UnsafeMutableBufferPointer<Float>, recvCounts: [Int], recvOffsets: [Int])
    /// Sends `mine` to rank `partner` and receives its array of the same length into
    /// `theirs` (both ranks call it with each other as partner).
    func exchange(_ mine: UnsafeBufferPointer<Double>, with partner: Int, into theirs: UnsafeMutableBufferPointer<Double>)
    /// Rank 0's bytes, on every rank (`bytes` is ignored elsewhere).
    func broadcast(_ bytes: [UInt8]) -> [UInt8]
    /// The largest of the ranks' values (integers: exact in any order).
    func max(_ value: Int64) -> Int64
}

extension Collective {
    public var isRoot: Bool { rank == 0 }

    /// Every rank's whole array, rank-major (each rank contributes `mine.count`).
    public func allgather(_ mine: [Int64]) -> [Int64] {
        let doubles = mine.map { Double(bitPattern: UInt64(bitPattern: $0)) }
        var out = [Double](repeating: 0, count: doubles.count * size)
        doubles.withUnsafeBufferPointer { m in
            out.withUnsafeMutableBufferPointer { allgather(m, counts: Array(repeating: mine.count, count: size), into: $0) }
        }
        return out.map { Int64(bitPattern: $0.bitPattern) }
    }

}

/// The single process of a run without MPI: rank 0 of 1; gathers are copies.
public final class SingleProcess: Collective, Sendable {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }

    public func allgather(_ mine: UnsafeBufferPointer<Double>, counts: [Int], into out: UnsafeMutableBufferPointer<Double>) {
        _ = out.initialize(from: mine)
    }

    public func allgather(_ mine: UnsafeBufferPointer<Float>, counts: [Int], into out: UnsafeMutableBufferPointer<Float>) {
        _ = out.initialize(from: mine)
    }

    public func alltoall(
        _ send: UnsafeBufferPointer<Float>, sendCounts: [Int], sendOffsets: [Int],
        into recv: UnsafeMutableBufferPointer<Float>, recvCounts: [Int], recvOffsets: [Int]
    ) {
        for i in 0..<sendCounts[0] { recv[recvOffsets[0] + i] = send[sendOffsets[0] + i] }
    }

    public func exchange(_ mine: UnsafeBufferPointer<Double>, with partner: Int, into theirs: UnsafeMutableBufferPointer<Double>) {
        preconditionFailure("a single process has no partner")
    }

    public func broadcast(_ bytes: [UInt8]) -> [UInt8] { bytes }
    public func max(_ value: Int64) -> Int64 { value }
}
