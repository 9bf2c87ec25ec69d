import BYOLModel
import CMPI
import Foundation
import Signals

/// `Collective` on MPI (Open MPI): the processes `mpirun -np P` (or `srun`) started.
/// Every call is made from one thread. Only data moves through MPI: gathers, pairwise
/// exchanges and an all-to-all of floats, broadcasts of bytes, and a maximum of
/// integers (exact in any order); no float is ever summed by the library.
///
/// A call that fails (a rank died, the network broke) ends this process with a
/// message naming the rank and the operation, and MPI_Abort ends the others; the
/// launcher also ends every rank when one exits or dies.
public final class MPICollective: Collective, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    let world = byol_mpi_comm_world()

    /// Whether a launcher (mpirun, srun with PMIx) started this process as one rank of a
    /// job: only then is MPI initialized, so that a plain `byol` never touches MPI.
    public static var launched: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    /// Initializes MPI (once per process).
    public init() {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &s)
        rank = Int(r)
        size = Int(s)
        // Errors come back as codes (and end the job through `check`), not as aborts
        // without a word.
        MPI_Comm_set_errhandler(world, byol_mpi_errors_return())
        CollectiveWait.setLines(rank: rank, size: size)
    }

    /// Runs one MPI call, marked as a wait for the other ranks (see `CollectiveWait`).
    private func waiting(_ call: () -> Int32) -> Int32 {
        CollectiveWait.enter()
        defer { CollectiveWait.leave() }
        return call()
    }

    /// An element count as MPI takes it (a C int).
    private func count(_ n: Int, _ what: String) -> Int32 {
        guard let c = Int32(exactly: n) else {
            FileHandle.standardError.write(Data("byol: rank \(rank) of \(size): \(what) of \(n) elements is more than MPI's 2^31 - 1\n".utf8))
            MPI_Abort(world, 1)
            exit(1)
        }
        return c
    }

    /// MPI_Finalize, if MPI was initialized and not yet finalized.
    public static func finishIfStarted() {
        var started: Int32 = 0, finished: Int32 = 0
        MPI_Initialized(&started)
        MPI_Finalized(&finished)
        if started != 0 && finished == 0 { MPI_Finalize() }
    }

    private func check(_ code: Int32, _ what: String) {
        guard code != MPI_SUCCESS else { return }
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var len: Int32 = 0
        MPI_Error_string(code, &text, &len)
        let message = String(decoding: text.prefix(Int(len)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        FileHandle.standardError.write(
            Data("byol: rank \(rank) of \(size): \(what) failed (\(message)); another rank has probably ended: stopping the job\n".utf8))
        MPI_Abort(world, 1)
        exit(1)
    }

    private func displacements(_ counts: [Int], _ what: String) -> [Int32] {
        var o = 0
        return counts.map { c in
            defer { o += c }
            return count(o, what)
        }
    }

    public func allgather(_ mine: UnsafeBufferPointer<Double>, counts: [Int], into out: UnsafeMutableBufferPointer<Double>) {
        let c = counts.map { count($0, "gathering sums") }, d = displacements(counts, "gathering sums")
        check(
            waiting { MPI_Allgatherv(mine.baseAddress, c[rank], byol_mpi_double(), out.baseAddress, c, d, byol_mpi_double(), world) },
            "gathering sums")
    }

    public func allgather(_ mine: UnsafeBufferPointer<Float>, counts: [Int], into out: UnsafeMutableBufferPointer<Float>) {
        let c = counts.map { count($0, "gathering gradients") }, d = displacements(counts, "gathering gradients")
        check(
            waiting { MPI_Allgatherv(mine.baseAddress, c[rank], byol_mpi_float(), out.baseAddress, c, d, byol_mpi_float(), world) },
            "gathering gradients")
    }

    public func alltoall(
        _ send: UnsafeBufferPointer<Float>, sendCounts: [Int], sendOffsets: [Int],
        into recv: UnsafeMutableBufferPointer<Float>, recvCounts: [Int], recvOffsets: [Int]
    ) {
        let w = "exchanging gradient blocks"
        let (sc, so) = (sendCounts.map { count($0, w) }, sendOffsets.map { count($0, w) })
        let (rc, ro) = (recvCounts.map { count($0, w) }, recvOffsets.map { count($0, w) })
        check(
            waiting { MPI_Alltoallv(send.baseAddress, sc, so, byol_mpi_float(), recv.baseAddress, rc, ro, byol_mpi_float(), world) },
            "exchanging gradient blocks")
    }

    public func exchange(_ mine: UnsafeBufferPointer<Double>, with partner: Int, into theirs: UnsafeMutableBufferPointer<Double>) {
        let n = count(mine.count, "an exchange of sums"), p = Int32(partner)
        check(
            waiting {
                MPI_Sendrecv(mine.baseAddress, n, byol_mpi_double(), p, 17, theirs.baseAddress, n, byol_mpi_double(), p, 17, world, nil)
            }, "exchanging sums with rank \(partner)")
    }

    public func broadcast(_ bytes: [UInt8]) -> [UInt8] {
        var n = Int64(bytes.count)
        check(waiting { MPI_Bcast(&n, 1, byol_mpi_int64(), 0, world) }, "broadcasting")
        var out = rank == 0 ? bytes : [UInt8](repeating: 0, count: Int(n))
        let c = count(Int(n), "a broadcast")
        if n > 0 { check(waiting { MPI_Bcast(&out, c, byol_mpi_byte(), 0, world) }, "broadcasting") }
        return out
    }

    public func max(_ value: Int64) -> Int64 {
        var v = value, out: Int64 = 0
        check(waiting { MPI_Allreduce(&v, &out, 1, byol_mpi_int64(), byol_mpi_max(), world) }, "agreeing")
        return out
    }
}
