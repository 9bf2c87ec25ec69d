import Foundation

/// SIGINT and SIGTERM during pretraining: the handler only records the signal; the loop
/// finishes the step it is in, writes a checkpoint and stops (`Pretrain.Summary.interrupted`).
public enum Interrupt {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    /// The signal received since `install`, if any.
    public static var signal: Int32? { received == 0 ? nil : Int32(received) }

    /// Routes SIGINT and SIGTERM to the flag. A second signal of the same kind, while the
    /// first is being honoured, still only sets the flag (SIGKILL stops a run at once).
    public static func install() {
        received = 0
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM] {
            Foundation.signal(s) { Interrupt.received = sig_atomic_t($0) }
            sigaddset(&set, s)
        }
        // A signal mask is inherited across exec: a parent that blocks these (test
        // runners do) would otherwise leave them pending for the whole run.
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
