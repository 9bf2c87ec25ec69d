import Foundation

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
