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

/// What a signal handler needs to know about a data-parallel run, and the bounded wait
/// after a stop signal. A rank that dies leaves the others waiting in a collective call;
/// the launcher then sends them SIGTERM (as it does to stop a job: Ctrl-C on mpirun,
/// Slurm's scancel). On SIGTERM a rank prints `stopping` at once, then finishes its step
/// and stops with the others (`Interrupt`) if they all answer; from a stop signal on, no
/// collective call waits longer than `graceSeconds` (SIGALRM: `timeout`, then exit).
public enum CollectiveWait {
    /// 1 while a collective call runs.
    nonisolated(unsafe) public static var active: sig_atomic_t = 0
    /// 1 once a stop signal arrived.
    nonisolated(unsafe) public static var signalled: sig_atomic_t = 0
    public static let graceSeconds: UInt32 = 30
    /// The rank's lines (C strings, set when MPI starts; nil on one process).
    nonisolated(unsafe) public static var stopping: (UnsafeMutablePointer<CChar>, Int)?
    nonisolated(unsafe) public static var timeout: (UnsafeMutablePointer<CChar>, Int)?

    /// Sets the lines of rank `rank` of `size` (once, before any signal can need them).
    public static func setLines(rank: Int, size: Int) {
        func line(_ text: String) -> (UnsafeMutablePointer<CChar>, Int) {
            let bytes = Array("byol: rank \(rank) of \(size): \(text)\n".utf8CString)
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            p.initialize(from: bytes, count: bytes.count)
            return (p, bytes.count - 1)
        }
        stopping = line("SIGTERM: stopping, after this step if every rank finishes it; the last checkpoint is kept (continue with --resume)")
        timeout = line(
            "no answer from the other ranks for \(graceSeconds) s after a stop signal (a rank has ended?): exiting; the last checkpoint is kept (continue with --resume)"
        )
    }

    /// Around every collective call.
    public static func enter() {
        active = 1
        if signalled != 0 { alarm(graceSeconds) }
    }

    public static func leave() {
        active = 0
        if signalled != 0 { alarm(0) }
    }
}
