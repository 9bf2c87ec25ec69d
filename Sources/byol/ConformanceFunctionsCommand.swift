import ArgumentParser
import Foundation
import Verification

extension ConformanceCommand {
    /// `byol conformance functions`: the kit's functions as the op table declares them,
    /// so that no document has to list them again (docs/conformance.md).
    struct Functions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "List the kit's functions: kind, inputs, outputs, integer params and the C ABI functions (with the ABI version that added them).")

        @Flag(help: "One JSON object per line instead of the text listing.") var json = false

        func run() throws {
            for op in Ops.all {
                let symbols = op.abi.map { "byol_\($0)_f32/_f64" }
                if json {
                    var o: [String: Any] = [
                        "function": op.name, "kind": "\(op.kind)", "inputs": op.inputs, "outputs": op.outputs, "params": op.params
                    ]
                    o["c_functions"] = op.abi.flatMap { ["byol_\($0)_f32", "byol_\($0)_f64"] }
                    if !op.abi.isEmpty { o["abi_version"] = Int(op.abiVersion) }
                    let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                    continue
                }
                print("\(op.name) (\(op.kind)\(op.params.isEmpty ? "" : "; params " + op.params.joined(separator: ", ")))")
                print("  inputs:  \(op.inputs.joined(separator: ", "))")
                print("  outputs: \(op.outputs.joined(separator: ", "))\(op.wholeNetwork ? " (and the next state's arrays)" : "")")
                print(
                    "  C ABI:   " + (symbols.isEmpty ? "none (the file route only)" : symbols.joined(separator: ", ") + " (version \(op.abiVersion))")
                )
            }
        }
    }
}
