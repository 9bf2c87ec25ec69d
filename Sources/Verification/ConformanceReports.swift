import BYOLModel
import Foundation

extension Conformance {
    /// JUnit XML: one test suite per function, one test case per case of it, failed with
    /// the first violating tensor's line (all of them in the failure's text). Under `auto`
    /// each suite's name carries the function's tightest tier.
    public static func junit(_ findings: [Finding], judged: Judged) -> String {
        func esc(_ s: String) -> String {
            // XML 1.0 has no place for control characters (a library's stderr may hold some).
            String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 && $0 != "\n" && $0 != "\t" ? "?" : $0 }))
                .replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var byCase: [(id: String, function: String, findings: [Finding])] = []
        var index: [String: Int] = [:]
        for f in findings {
            if let i = index[f.caseID] {
                byCase[i].findings.append(f)
            } else {
                index[f.caseID] = byCase.count
                byCase.append((f.caseID, f.function, [f]))
            }
        }
        let tiers = Dictionary(fingerprint(findings).map { ($0.function, $0.tier) }, uniquingKeysWith: { a, _ in a })
        let failedCases = byCase.filter { $0.findings.contains { !$0.passed } }.count
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"byol conformance (\(judged))\" tests=\"\(byCase.count)\" failures=\"\(failedCases)\">\n"
        for function in functions + Set(byCase.map(\.function)).subtracting(functions).sorted() {
            let mine = byCase.filter { $0.function == function }
            guard !mine.isEmpty else { continue }
            let failures = mine.filter { $0.findings.contains { !$0.passed } }.count
            var attrs = "name=\"\(esc(function))\" tests=\"\(mine.count)\" failures=\"\(failures)\""
            if judged == .auto { attrs += " tier=\"\((tiers[function] ?? nil)?.rawValue ?? "none")\"" }
            xml += "  <testsuite \(attrs)>\n"
            for c in mine {
                let bad = c.findings.filter { !$0.passed }
                if bad.isEmpty {
                    xml += "    <testcase classname=\"\(esc(function))\" name=\"\(esc(c.id))\"/>\n"
                } else {
                    xml += "    <testcase classname=\"\(esc(function))\" name=\"\(esc(c.id))\">\n"
                    xml += "      <failure message=\"\(esc(bad[0].message))\">\(esc(bad.map(\.message).joined(separator: "\n")))</failure>\n"
                    xml += "    </testcase>\n"
                }
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    /// JSON: the judged tier, the fingerprint and one object per tensor (its ratio at
    /// every tier it could be compared at).
    public static func json(_ findings: [Finding], judged: Judged) throws -> Data {
        func num(_ x: Double) -> Any { x.isFinite ? x : NSNull() }
        let rows: [[String: Any]] = findings.map { f in
            [
                "case": f.caseID, "function": f.function, "tensor": f.tensor, "max_abs": num(f.maxAbs), "ratio": num(f.ratio),
                "bound_at_worst": num(f.bound), "worst_index": f.worstIndex ?? NSNull(), "passed": f.passed, "message": f.message,
                "ratios": Dictionary(uniqueKeysWithValues: f.ratios.map { ($0.key.rawValue, num($0.value)) }),
                "tightest_tier": f.tightest?.rawValue ?? NSNull()
            ]
        }
        let doc: [String: Any] = [
            "precision": judged.description, "passed": findings.allSatisfy(\.passed), "tensors": rows,
            "fingerprint": fingerprint(findings).map { ["function": $0.function, "tier": $0.tier?.rawValue ?? NSNull()] as [String: Any] }
        ]
        return try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys]) + Data("\n".utf8)
    }
}
