import BYOLModel
import Foundation
import NumPyIO

extension Conformance {
    /// The manifest's rule, as written into it.
    public static let rule =
        "every element of every float output: |result - expected| <= bound, the case's bounds.npz array "
        + "NAME@TIER; integer outputs exactly equal; no other arrays"

    /// Writes `cases` under `dir`: DIR/ID/inputs.npz, [state.npz,] expected.npz, bounds.npz
    /// and DIR/manifest.json (written last, so a folder with a manifest is complete).
    public static func export(_ cases: [Case], header: [String: Any], to dir: String) throws {
        try makeFolder(dir)
        try writeManifest(try cases.map { try write($0, to: dir) }, header: header, to: dir)
    }

    /// Generates the cases of `arch` (as `cases`) and writes each as soon as it is ready,
    /// while the whole-network cases are still being computed: `byol conformance export`.
    /// Returns how many cases of how many functions were written.
    public static func export(
        arch: Architecture, batch: Int, size: Int, seed: UInt64, steps: [OptimizerKind]?, layersOnly: Bool = false,
        header: [String: Any], to dir: String
    ) throws -> (cases: Int, functions: Int) {
        try makeFolder(dir)
        var entries: [[String: Any]] = []
        var functions = Set<String>()
        try generate(arch: arch, batch: batch, size: size, seed: seed, steps: steps, layersOnly: layersOnly) { c in
            entries.append(try write(c, to: dir))
            functions.insert(c.function)
        }
        try writeManifest(entries, header: header, to: dir)
        return (entries.count, functions.count)
    }

    static func makeFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw NumPyIOError(file: path, "cannot create the folder: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
    }

    /// One case's files; returns its manifest entry.
    static func write(_ c: Case, to dir: String) throws -> [String: Any] {
        try makeFolder(dir + "/" + c.id)
        try NPZ.write(c.inputs, to: "\(dir)/\(c.id)/inputs.npz")
        if let state = c.state { try state.write(to: "\(dir)/\(c.id)/state.npz") }
        try NPZ.write(c.expected, to: "\(dir)/\(c.id)/expected.npz")
        try NPZ.write(boundArrays(c), to: "\(dir)/\(c.id)/bounds.npz")
        var entry: [String: Any] = [
            "id": c.id, "function": c.function, "params": c.params,
            "inputs": c.inputs.map { ["name": $0.name, "shape": $0.array.shape] as [String: Any] },
            "outputs": c.expected.map {
                ["name": $0.name, "shape": $0.array.shape, "dtype": $0.array.dtype == .int64 ? "int64" : "float"] as [String: Any]
            },
            "bounds": "bounds.npz"
        ]
        if let m = c.reluMargin { entry["relu_margin"] = m }
        if c.state != nil { entry["state"] = "state.npz" }
        return entry
    }

    static func writeManifest(_ entries: [[String: Any]], header: [String: Any], to dir: String) throws {
        var manifest = header
        manifest["format"] = "byol-conformance"
        manifest["version"] = version
        manifest["rule"] = rule
        manifest["tiers"] = Tier.allCases.map {
            ["name": $0.rawValue, "accumulation": $0.accumulation, "operand": $0.operand, "product": $0.product] as [String: Any]
        }
        manifest["cases"] = entries
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(dir + "/manifest.json", data: json + Data("\n".utf8))
    }

    /// A case's bounds as float32 arrays NAME@TIER, each value rounded up (a bound must
    /// never shrink in storage), in output order then tier order.
    static func boundArrays(_ c: Case) -> [(name: String, array: NDArray)] {
        c.expected.flatMap { e -> [(name: String, array: NDArray)] in
            guard let perTier = c.bounds[e.name] else { return [] }
            return Tier.allCases.compactMap { t in
                guard let bound = perTier[t] else { return nil }  // every tier is computed together: never taken
                let values = bound.map { x -> Float in
                    let f = Float(x)
                    return Double(f) < x ? f.nextUp : f
                }
                return (name: "\(e.name)@\(t.rawValue)", array: NDArray(float32: values, shape: e.array.shape))
            }
        }
    }
}
