import ArgumentParser
import BYOLModel
import Distributed
import Fast
import Foundation
import NumPyIO

/// `byol`: the command line of byol-swift. Each subcommand parses its flags, calls the
/// libraries and prints; `bench` and the check commands also own their timing and tables.
@main
struct Byol: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "byol",
        abstract: "BYOL on CIFAR-10: a float64 reference, checked and reproducible.",
        version: BYOLVersion.string,
        subcommands: [
            VerifyCommand.self, InitCommand.self, StepCommand.self, EmbedCommand.self, AugmentCommand.self, KNNCommand.self,
            PretrainCommand.self, KNNEvalCommand.self, CrossCheckCommand.self, GoldensCommand.self, BenchCommand.self,
            BenchAugmentCommand.self, ConformanceCommand.self, ArchCommand.self
        ])

    /// Errors end the command with one line on stderr and a non-zero exit status
    /// (ArgumentParser's own usage errors included); help goes to stdout as usual.
    static func main() {
        _ = KernelPolicy.process  // decides the kernel set (may re-execute) before anything else
        ProgramEngines.register()
        do {
            var command = try parseAsRoot()
            try command.run()
            MPICollective.finishIfStarted()
        } catch let code as ExitCode {
            MPICollective.finishIfStarted()
            // A check command's verdict: its table already said why.
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            let status = code == .validationFailure ? ExitStatus.usage : (code.rawValue == 0 ? ExitStatus.failure : code.rawValue)
            // One rank of a data-parallel run: rank 0 alone reports (every rank ends non-zero).
            // MPI ends after the line is out: MPI_Finalize waits for every rank, so no
            // rank exits (and makes the launcher kill rank 0) before rank 0 has printed.
            if MPIRank.fromEnvironment != 0 {
                MPICollective.finishIfStarted()
                Foundation.exit(code == .success ? 0 : status)
            }
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("byol: error: \(message)\n".utf8))
            MPICollective.finishIfStarted()
            Foundation.exit(status)
        }
    }
}
