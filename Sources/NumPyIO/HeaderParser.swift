/// A parser for the small Python literal subset that `.npy` headers use: a dict of
/// string keys to strings, `True`/`False`, and tuples of integers.
enum HeaderValue: Equatable {
    case string(String)
    case bool(Bool)
    case tuple([Int])
}

struct HeaderParser {
    struct Failure: Error { var message: String }

    private let chars: [Character]
    private var pos = 0

    init(_ text: String) { chars = Array(text) }

    mutating func parseDict() throws -> [String: HeaderValue] {
        skipSpace()
        try expect("{")
        var dict: [String: HeaderValue] = [:]
        while true {
            skipSpace()
            if peek == "}" {
                pos += 1
                break
            }
            let key = try parseString()
            skipSpace()
            try expect(":")
            skipSpace()
            let value = try parseValue()
            if dict[key] != nil { throw Failure(message: "duplicate key '\(key)'") }
            dict[key] = value
            skipSpace()
            if peek == "," {
                pos += 1
                continue
            }
            skipSpace()
            try expect("}")
            break
        }
        skipSpace()
        guard pos == chars.count else { throw Failure(message: "text after the dict") }
        return dict
    }

    private var peek: Character? { pos < chars.count ? chars[pos] : nil }

    private mutating func skipSpace() {
        while let c = peek, c == " " || c == "\n" || c == "\t" || c == "\r" { pos += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        guard peek == c else { throw Failure(message: "expected '\(c)' at \(pos)") }
        pos += 1
    }

    private mutating func parseString() throws -> String {
        guard let q = peek, q == "'" || q == "\"" else { throw Failure(message: "expected a string at \(pos)") }
        pos += 1
        var s = ""
        while let c = peek, c != q {
            s.append(c)
            pos += 1
        }
        try expect(q)
        return s
    }

    private mutating func parseValue() throws -> HeaderValue {
        switch peek {
        case "'", "\"": return .string(try parseString())
        case "(": return .tuple(try parseTuple())
        default:
            if match("True") { return .bool(true) }
            if match("False") { return .bool(false) }
            throw Failure(message: "unexpected value at \(pos)")
        }
    }

    private mutating func match(_ word: String) -> Bool {
        let w = Array(word)
        guard pos + w.count <= chars.count, Array(chars[pos..<pos + w.count]) == w else { return false }
        pos += w.count
        return true
    }

    private mutating func parseTuple() throws -> [Int] {
        try expect("(")
        var items: [Int] = []
        while true {
            skipSpace()
            if peek == ")" {
                pos += 1
                return items
            }
            var digits = ""
            while let c = peek, c.isASCII, c.isNumber {
                digits.append(c)
                pos += 1
            }
            // Python 2 era headers may write 3L.
            if peek == "L" { pos += 1 }
            guard let v = Int(digits) else { throw Failure(message: "expected an integer at \(pos)") }
            items.append(v)
            skipSpace()
            if peek == "," {
                pos += 1
                continue
            }
            skipSpace()
            try expect(")")
            return items
        }
    }
}
