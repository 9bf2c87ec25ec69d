import BYOLModel
import Foundation
import NumPyIO

extension Conformance {
    /// What `check --precision` judges against: one tier, or `auto`: each function's
    /// tightest tier (the precision fingerprint).
    public enum Judged: Sendable, Equatable, CustomStringConvertible {
        case tier(Tier)
        case auto

        public init?(_ s: String) {
            if s == "auto" { self = .auto } else if let t = Tier(rawValue: s) { self = .tier(t) } else { return nil }
        }

        public var description: String { if case .tier(let t) = self { return t.rawValue } else { return "auto" } }
        /// The tier a tensor must meet to pass: the given one, or under `auto` the loosest.
        var passTier: Tier { if case .tier(let t) = self { return t } else { return Tier.allCases[Tier.allCases.count - 1] } }
    }

    /// One output tensor of one case, compared.
    public struct Finding {
        public var caseID: String
        public var function: String
        public var tensor: String
        /// The largest |result - expected|.
        public var maxAbs: Double
        /// Per tier: the largest |result - expected| / bound over the elements (0 where
        /// both are 0, infinite where only the bound is). Empty when nothing was compared.
        public var ratios: [Tier: Double]
        /// The judged tier's worst element, its bound, and both values there.
        public var worstIndex: [Int]?
        public var bound: Double
        public var got: Double
        public var expected: Double
        public var passed: Bool
        /// Why it failed, one line; empty when it passed.
        public var message: String
        public var tier: Tier
        /// No result to compare: the file or the array is absent.
        public var missing = false

        /// The judged tier's ratio.
        public var ratio: Double { ratios[tier] ?? .infinity }
        /// The tightest tier this tensor meets, if any.
        public var tightest: Tier? { Tier.allCases.first { (ratios[$0] ?? .infinity) <= 1 } }

        static func failed(_ c: Listed, tensor: String, tier: Tier, _ message: String, missing: Bool = false) -> Finding {
            Finding(
                caseID: c.id, function: c.function, tensor: tensor, maxAbs: .infinity, ratios: [:], worstIndex: nil, bound: 0, got: .nan,
                expected: .nan, passed: false, message: message, tier: tier, missing: missing)
        }
    }

    /// A case of the manifest: id, function, outputs and which of them are integers.
    struct Listed {
        var id: String, function: String, params: [String: Int], outputs: [String], integerOutputs: Set<String>
    }

    static func readManifest(_ dir: String) throws -> [Listed] {
        let path = dir + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw NumPyIOError(file: path, "missing or unreadable") }
        guard let m = try? JSONSerialization.jsonObject(with: data) as? [String: Any], m["format"] as? String == "byol-conformance" else {
            throw NumPyIOError(file: path, "not a byol conformance manifest (no \"format\": \"byol-conformance\")")
        }
        guard let v = m["version"] as? Int, v == version else {
            throw NumPyIOError(file: path, "manifest version \(m["version"] ?? "none"), this byol reads version \(version) (export the cases again)")
        }
        guard let cases = m["cases"] as? [[String: Any]] else { throw NumPyIOError(file: path, "no \"cases\" list") }
        guard !cases.isEmpty else { throw NumPyIOError(file: path, "the \"cases\" list is empty: nothing to check") }
        return try cases.map { c in
            guard let id = c["id"] as? String, let f = c["function"] as? String, let outs = c["outputs"] as? [[String: Any]],
                !id.isEmpty, !id.contains("/"), id != ".."
            else {
                throw NumPyIOError(file: path, "a case without a valid id, function or outputs")
            }
            return Listed(
                id: id, function: f, params: c["params"] as? [String: Int] ?? [:], outputs: outs.compactMap { $0["name"] as? String },
                integerOutputs: Set(outs.filter { $0["dtype"] as? String == "int64" }.compactMap { $0["name"] as? String }))
        }
    }

    /// Compares RESULTS/ID.npz with each case's expected outputs and bounds, for every case
    /// whose function is in `only` (all when nil). A missing result file or array, or an
    /// array the case does not have, is a failure; so is a float array stored in a
    /// precision the tier cannot be met in.
    public static func check(cases dir: String, results: String, judged: Judged, only: Set<String>? = nil) throws -> [Finding] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: results, isDirectory: &isDir), isDir.boolValue else {
            throw NumPyIOError(file: results, "no such results folder")
        }
        let listed = try readManifest(dir)
        var findings: [Finding] = []
        for c in listed where only?.contains(c.function) ?? true {
            let path = "\(results)/\(c.id).npz"
            var file: NPZFile?, why = "\(path): no result file"
            let exists = FileManager.default.fileExists(atPath: path)
            if exists {
                do { file = try NPZ.load(path) } catch { why = "\(error)" }
            }
            var found = try judge(
                c, cases: dir, outputs: file?.members,
                dtypes: file.map { f in Dictionary(uniqueKeysWithValues: f.names.map { ($0, f.fileDType($0)) }) } ?? [:],
                failure: why, file: path, judged: judged)
            if !exists { for i in found.indices { found[i].missing = true } }
            findings += found
        }
        return findings
    }

    /// The findings of one case from its outputs, or, when there are none, `failure` for
    /// each. `file` names where the outputs came from in messages; `dtypes` the stored
    /// dtype of each array.
    static func judge(
        _ c: Listed, cases dir: String, outputs: [(name: String, array: NDArray)]?, dtypes: [String: String], failure: String,
        file: String, judged: Judged
    ) throws -> [Finding] {
        let expected = try NPZ.load("\(dir)/\(c.id)/expected.npz")
        let bounds = try NPZ.load("\(dir)/\(c.id)/bounds.npz")
        let tier = judged.passTier
        guard let members = outputs else { return c.outputs.map { Finding.failed(c, tensor: $0, tier: tier, failure) } }
        func dtypeOf(_ n: String) -> String { dtypes[n] ?? "?" }
        let got = Dictionary(members.map { ($0.name, $0.array) }, uniquingKeysWith: { a, _ in a })
        var out: [Finding] = []
        for name in c.outputs {
            let e = try expected.require(name)
            guard let a = got[name] else {
                out.append(.failed(c, tensor: name, tier: tier, "\(file): no array '\(name)'", missing: true))
                continue
            }
            if c.integerOutputs.contains(name) {
                out.append(compareExactly(c, name, actual: a, expected: e, dtype: dtypeOf(name), tier: tier, file: file))
                continue
            }
            guard a.dtype == .float32 || a.dtype == .float64 else {
                out.append(.failed(c, tensor: name, tier: tier, "\(file): array '\(name)' has dtype \(dtypeOf(name)), expected float32 or float64"))
                continue
            }
            if case .tier(.float64) = judged, a.dtype != .float64 {
                throw NumPyIOError(file: file, array: name, "dtype \(dtypeOf(name)): --precision float64 needs float64 results")
            }
            var perTier: [Tier: [Double]] = [:]
            for t in Tier.allCases { perTier[t] = try bounds.requireFloat("\(name)@\(t.rawValue)", shape: e.shape, finite: false).doubles }
            // Results stored in float32 cannot meet float64's bounds: that tier is out of reach.
            if a.dtype != .float64 { perTier[.float64] = nil }
            out.append(compare(c, name, actual: a, expected: e, bounds: perTier, tier: tier))
        }
        for extra in members.map(\.name) where !c.outputs.contains(extra) {
            out.append(
                .failed(
                    c, tensor: extra, tier: tier, "\(file): unexpected array '\(extra)' (the case's outputs: \(c.outputs.joined(separator: ", ")))"))
        }
        return out
    }

    static func compareExactly(_ c: Listed, _ name: String, actual: NDArray, expected: NDArray, dtype: String, tier: Tier, file: String) -> Finding {
        guard actual.dtype == .int64 || actual.dtype == .uint8 else {
            return .failed(c, tensor: name, tier: tier, "\(file): array '\(name)' has dtype \(dtype), expected an integer array")
        }
        guard actual.shape == expected.shape else {
            return .failed(c, tensor: name, tier: tier, "\(name): shape \(fmt(actual.shape)), expected \(fmt(expected.shape))")
        }
        let (a, e) = (actual.doubles, expected.doubles)
        let ok = a == e
        var f = Finding(
            caseID: c.id, function: c.function, tensor: name, maxAbs: zip(a, e).map { abs($0 - $1) }.max() ?? 0,
            ratios: Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0, ok ? 0 : .infinity) }), worstIndex: nil, bound: 0,
            got: a.first ?? .nan, expected: e.first ?? .nan, passed: ok, message: "", tier: tier)
        if !ok, let i = a.indices.first(where: { a[$0] != e[$0] }) {
            f.worstIndex = unravel(i, expected.shape)
            f.message = "\(name): integer \(Int64(a[i])) at \(indexText(f.worstIndex)), expected exactly \(Int64(e[i]))"
        }
        return f
    }

    /// Element by element against each tier's bounds; the finding reports the judged tier.
    static func compare(_ c: Listed, _ name: String, actual: NDArray, expected: NDArray, bounds: [Tier: [Double]], tier: Tier) -> Finding {
        guard actual.shape == expected.shape else {
            return .failed(c, tensor: name, tier: tier, "\(name): shape \(fmt(actual.shape)), expected \(fmt(expected.shape))")
        }
        let a = actual.doubles, e = expected.doubles
        var ratios: [Tier: Double] = [:]
        var worstAt: [Tier: Int] = [:]
        var maxAbs = 0.0
        for i in e.indices {
            let d = abs(a[i] - e[i])
            if !(d <= maxAbs) { maxAbs = d.isNaN ? .infinity : d }
        }
        for (t, b) in bounds {
            var worst = 0.0, at = 0, within = true
            for i in e.indices {
                let d = abs(a[i] - e[i])
                // The verdict is d <= bound, exactly as a checker in any language computes it;
                // the ratio only reports by how much.
                within = within && d <= b[i]
                let r = d.isNaN ? .infinity : (d == 0 ? 0 : d / b[i])
                if r > worst {
                    worst = r
                    at = i
                }
            }
            ratios[t] = within ? worst : max(worst, 1.0.nextUp)
            worstAt[t] = at
        }
        let at = worstAt[tier] ?? worstAt.values.first ?? 0
        var f = Finding(
            caseID: c.id, function: c.function, tensor: name, maxAbs: maxAbs, ratios: ratios,
            worstIndex: e.isEmpty ? nil : unravel(at, expected.shape), bound: bounds[tier]?[at] ?? 0,
            got: e.isEmpty ? .nan : a[at], expected: e.isEmpty ? .nan : e[at], passed: (ratios[tier] ?? .infinity) <= 1,
            message: "", tier: tier)
        if !f.passed {
            if bounds[tier] == nil {
                f.message = "\(name): float32 results cannot meet the \(tier.rawValue) bounds"
            } else {
                f.message = String(
                    format: "%@: |error| %.3e > bound %.3e (%.3gx) at %@: got %@, expected %@", name, abs(f.got - f.expected), f.bound,
                    f.ratio, indexText(f.worstIndex), "\(f.got)", "\(f.expected)")
            }
        }
        return f
    }

    /// [1,0,2] or "-": the table's column.
    public static func indexTextShort(_ index: [Int]?) -> String { index.map { "[" + $0.map(String.init).joined(separator: ",") + "]" } ?? "-" }

    static func indexText(_ index: [Int]?) -> String { index.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? "[]" }

    static func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
        var rest = flat
        var out = [Int](repeating: 0, count: shape.count)
        for d in shape.indices.reversed() where shape[d] > 0 {
            out[d] = rest % shape[d]
            rest /= shape[d]
        }
        return out
    }

    /// Per function: the tightest tier every tensor of every case of it meets (nil: none).
    public static func fingerprint(_ findings: [Finding]) -> [(function: String, tier: Tier?)] {
        var order: [String] = []
        var worst: [String: Int] = [:]  // index into Tier.allCases; allCases.count: no tier
        for f in findings {
            if worst[f.function] == nil { order.append(f.function) }
            let rank = f.tightest.flatMap { Tier.allCases.firstIndex(of: $0) } ?? Tier.allCases.count
            worst[f.function] = max(worst[f.function, default: 0], rank)
        }
        return order.map { fn in
            let w = worst[fn, default: Tier.allCases.count]
            return (fn, w < Tier.allCases.count ? Tier.allCases[w] : nil)
        }
    }
}
