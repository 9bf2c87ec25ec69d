import ArgumentParser
import BYOLModel
import Fast
import Foundation
import Verification

extension Precision: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension BNViews: ExpressibleByArgument {}

/// The engines this program offers: the reference (always registered) and OpenBLAS.
enum ProgramEngines {
    static func register() {
        Engines.register("openblas") { OpenBLASEngine(threads: $0) }
    }

    /// The engine `--engine` names, or the flag error listing the known ones.
    static func require(_ name: String, threads: Int) throws -> Engine {
        guard let e = Engines.make(name, threads: threads) else {
            throw ValidationError("unknown engine '\(name)' (known: \(Engines.names.joined(separator: ", ")))")
        }
        return e
    }
}

/// `--precision` and `--threads` of the commands that compute with one engine.
struct EngineOptions: ParsableArguments {
    @Option(help: "float64 (the plain reference) or float32 (the OpenBLAS path).")
    var precision: Precision = .float64

    @Option(parsing: .unconditional, help: "Threads of the float32 path, >= 1 (the output bytes do not depend on it).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        try FlagCheck.require("--threads", threads, atLeast: 1)
    }

    func engine() -> Engine {
        Engines.make(precision.rawValue, threads: threads)!
    }
}
