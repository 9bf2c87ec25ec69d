import ArgumentParser
import BYOLModel
import Foundation
import NumPyIO

/// `byol arch`: the network description (BYOLModel/NetworkDescription.swift) as JSON, the
/// one statement of the architecture that the PyTorch scripts are checked against
/// (ci/byol_arch.py --check; Fixtures/arch/ holds the presets').
struct ArchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arch",
        abstract: "Print the network description as JSON: shape parameters, stem, blocks, heads, and every array's name, shape, kind and fan-in.")

    @OptionGroup var architecture: ArchitectureOptions

    @Option(help: "Write the JSON to this file (atomically) instead of stdout.") var out: String?

    func validate() throws {
        if let out { try FlagCheck.output("--out", out) }
    }

    func run() throws {
        let arch = try architecture.architecture()
        let json = try JSONSerialization.data(withJSONObject: arch.descriptionJSON, options: [.prettyPrinted, .sortedKeys]) + Data("\n".utf8)
        if let out {
            try AtomicFile.write(out, data: json)
        } else {
            FileHandle.standardOutput.write(json)
        }
    }
}
