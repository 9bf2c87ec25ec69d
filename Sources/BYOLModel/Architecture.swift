/// The shape of a BYOL network of the family in docs/contract.md §2: a CIFAR-stem ResNet
/// of BasicBlocks, a projector MLP and a predictor MLP.
public struct Architecture: Equatable, Sendable, CustomStringConvertible {
    /// Stage widths w0..w3.
    public var widths: [Int]
    /// Blocks per stage b0..b3.
    public var blocks: [Int]
    /// Projector hidden size H, output size D, predictor hidden size P.
    public var projHidden: Int
    public var projOut: Int
    public var predHidden: Int

    public init(widths: [Int], blocks: [Int], projHidden: Int, projOut: Int, predHidden: Int) {
        self.widths = widths
        self.blocks = blocks
        self.projHidden = projHidden
        self.projOut = projOut
        self.predHidden = predHidden
    }

    /// The backbone's feature size w3.
    public var featureSize: Int { widths[widths.count - 1] }

    public static let resnet18 = Architecture(widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2], projHidden: 4096, projOut: 256, predHidden: 4096)
    /// For CPU training: ResNet-18's depth at half its width, smaller heads.
    public static let small = Architecture(widths: [32, 64, 128, 256], blocks: [2, 2, 2, 2], projHidden: 1024, projOut: 128, predHidden: 1024)
    /// For tests: every layer type (identity and downsample shortcuts) at a few channels.
    public static let tiny = Architecture(widths: [4, 4, 8, 8], blocks: [1, 1, 1, 1], projHidden: 16, projOut: 8, predHidden: 16)

    public static let presets: [(name: String, arch: Architecture)] = [("resnet18", resnet18), ("small", small), ("tiny", tiny)]

    public static func preset(named name: String) -> Architecture? {
        presets.first { $0.name == name }?.arch
    }

    /// Upper bounds on the sizes a state may declare, so that sizes are checked in
    /// arithmetic that cannot overflow and a typo cannot start minutes of work: far above
    /// any ResNet or head in use (ResNet-152 has 36 blocks in a stage, BYOL heads 4096).
    public static let maxBlocksPerStage = 1024
    public static let maxWidth = 1 << 20

    /// Checks sizes; the message says which one is wrong.
    public func validate() throws {
        guard widths.count == 4 else { throw ModelError("widths: expected 4 stage widths, got \(widths.count)") }
        guard blocks.count == 4 else { throw ModelError("blocks: expected 4 stage block counts, got \(blocks.count)") }
        guard widths.allSatisfy({ $0 > 0 }) else { throw ModelError("widths must be positive: \(widths)") }
        guard blocks.allSatisfy({ $0 > 0 }) else { throw ModelError("blocks must be positive: \(blocks)") }
        guard projHidden > 0, projOut > 0, predHidden > 0 else {
            throw ModelError("head sizes must be positive: H \(projHidden), D \(projOut), P \(predHidden)")
        }
        guard blocks.allSatisfy({ $0 <= Self.maxBlocksPerStage }) else {
            throw ModelError("blocks \(blocks): at most \(Self.maxBlocksPerStage) per stage")
        }
        guard (widths + [projHidden, projOut, predHidden]).allSatisfy({ $0 <= Self.maxWidth }) else {
            throw ModelError("widths and head sizes are at most \(Self.maxWidth)")
        }
    }

    /// Bytes of a float64 state of this architecture (online and target networks with
    /// their buffers; optimizer buffers not counted). Valid sizes keep every product
    /// below 2^63.
    public var stateBytes: Int {
        (onlineSpecs + targetSpecs).reduce(0) { $0 + $1.shape.reduce(1, *) } * 8
    }

    /// Refuses an architecture whose state, `copies` times over, exceeds `memory` bytes,
    /// saying how much it needs, before anything is allocated.
    public func checkFits(memory: UInt64, copies: Int) throws {
        let need = stateBytes * copies
        guard UInt64(need) <= memory else {
            throw ModelError(
                String(
                    format: "%@: its state needs %.1f GB in float64 (%d copies while it is built), more than this machine's %.1f GB of memory",
                    description, Double(stateBytes) / 1e9, copies, Double(memory) / 1e9))
        }
    }

    public var description: String {
        "widths \(widths.map(String.init).joined(separator: ",")) blocks \(blocks.map(String.init).joined(separator: ",")) H \(projHidden) D \(projOut) P \(predHidden)"
    }
}

/// A model-level error (architecture, state contents) with a one-line message.
public struct ModelError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The project's version, as `byol --version` and run manifests state it.
public enum BYOLVersion {
    public static let string = "0.1.0"
}
