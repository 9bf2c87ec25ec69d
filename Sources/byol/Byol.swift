import ArgumentParser
import BYOLModel
import Distributed
import Foundation

/// `byol`: the command line of byol-swift. Each subcommand parses its flags, calls the
/// libraries and prints; `bench` and the check commands also own their timing and tables.
@main
struct Byol: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "byol",
        abstract: "BYOL on CIFAR-10: a float64 reference, checked and reproducible.",
        version: BYOLVersion.string,
        subcommands: [VerifyCommand.self, InitCommand.self, StepCommand.self, EmbedCommand.self, AugmentCommand.self, KNNCommand.self,
                      PretrainCommand.self, KNNEvalCommand.self, CrossCheckCommand.self, GoldensCommand.self, BenchCommand.self,
                      BenchAugmentCommand.self, ConformanceCommand.self])

    /// Errors end the command with one line on stderr and a non-zero exit status
    /// (ArgumentParser's own usage errors included); help goes to stdout as usual.
    static func main() {
        Kernels.select()
        ProgramEngines.register()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            MPICollective.finishIfStarted()
            // A check command's verdict: its table already said why.
            Foundation.exit(code.rawValue)
        } catch {
            MPICollective.finishIfStarted()
            let code = exitCode(for: error)
            // One rank of a data-parallel run: rank 0 alone reports (every rank ends non-zero).
            if MPIRank.fromEnvironment != 0 { Foundation.exit(code == .success ? 0 : (code == .validationFailure ? 64 : max(code.rawValue, 1))) }
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("byol: error: \(message)\n".utf8))
            Foundation.exit(code == .validationFailure ? 64 : (code.rawValue == 0 ? 1 : code.rawValue))
        }
    }
}
