/// The exit statuses of every `byol` command, in one place (docs/contract.md §1.3). Here
/// because every module that ends a process (the writer's signal cleanup, pretraining,
/// the command line) already depends on this one.
public enum ExitStatus {
    public static let success: Int32 = 0
    /// Bad input, an I/O error, a failed check: anything but a flag.
    public static let failure: Int32 = 1
    /// A bad flag, and only that (BSD's EX_USAGE).
    public static let usage: Int32 = 64
    /// Stopped by `signal`: 128 + its number, as a shell reports a signal.
    public static func signalled(_ signal: Int32) -> Int32 { 128 + signal }
}

/// A run-time failure of a command that is not about a file (a launch that is not one
/// MPI job, an engine that fails its check): one line, `ExitStatus.failure`.
public struct CommandFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
