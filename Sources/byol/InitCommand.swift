import ArgumentParser
import BYOLModel
import Foundation
import NumPyIO

/// The architecture flags shared by commands that build a network from scratch.
struct ArchitectureOptions: ParsableArguments {
    @Option(help: "A preset: resnet18, small or tiny (default resnet18 unless --widths etc. are given).")
    var preset: String?

    @Option(parsing: .unconditional, help: "Stage widths w0,w1,w2,w3, each >= 1.")
    var widths: String?

    @Option(parsing: .unconditional, help: "Blocks per stage b0,b1,b2,b3, each >= 1.")
    var blocks: String?

    @Option(name: .customLong("proj-hidden"), parsing: .unconditional, help: "Projector hidden size H, >= 1.")
    var projHidden: Int?

    @Option(name: .customLong("proj-out"), parsing: .unconditional, help: "Projection size D, >= 1.")
    var projOut: Int?

    @Option(name: .customLong("pred-hidden"), parsing: .unconditional, help: "Predictor hidden size P, >= 1.")
    var predHidden: Int?

    func architecture() throws -> Architecture {
        let custom = widths != nil || blocks != nil || projHidden != nil || projOut != nil || predHidden != nil
        if let preset {
            guard !custom else {
                throw ValidationError("--preset cannot be combined with --widths, --blocks, --proj-hidden, --proj-out or --pred-hidden")
            }
            return try FlagCheck.preset("--preset", preset)
        }
        guard custom else { return .resnet18 }
        guard let widths, let blocks, let projHidden, let projOut, let predHidden else {
            throw ValidationError("a custom architecture needs all of --widths, --blocks, --proj-hidden, --proj-out and --pred-hidden")
        }
        for (flag, v) in [("--proj-hidden", projHidden), ("--proj-out", projOut), ("--pred-hidden", predHidden)] {
            try FlagCheck.require(flag, v, atLeast: 1)
        }
        let arch = Architecture(
            widths: try list(widths, "--widths"), blocks: try list(blocks, "--blocks"),
            projHidden: projHidden, projOut: projOut, predHidden: predHidden)
        do { try arch.validate() } catch { throw ValidationError("\(error)") }
        return arch
    }

    private func list(_ text: String, _ flag: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == 4, parts.count == 4 else { throw ValidationError("\(flag) '\(text)': expected 4 comma-separated integers") }
        guard values.allSatisfy({ $0 >= 1 }) else { throw ValidationError("\(flag) must be 4 integers >= 1, got \(text)") }
        return values
    }
}

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a fresh BYOL state: online weights from the seed, the target a copy.")

    @Option(parsing: .unconditional, help: "Seed of the initialization (a non-negative integer).")
    var seed: UInt64

    @OptionGroup var architecture: ArchitectureOptions

    @Option(help: "Output state file (.npz), written atomically.")
    var out: String

    func validate() throws { try FlagCheck.output("--out", out) }

    func run() throws {
        try AtomicFile.checkWritable(out)
        let arch = try architecture.architecture()
        // The arrays and, member by member, their encoded bytes: refuse before allocating.
        try arch.checkFits(memory: ProcessInfo.processInfo.physicalMemory, copies: 2)
        let state = Initializer.initialState(arch: arch, seed: seed)
        try state.write(to: out)
        print("wrote \(out): \(arch), \(arch.backboneParameterCount) learnable backbone parameters")
    }
}
