import Testing

@testable import Data

/// The gzip check's CRC-32 (eight bytes per step) against the standard check values and
/// a bytewise implementation of the definition, at every length around the 8-byte step.
@Suite struct CRC32Tests {
    func crc(_ bytes: [UInt8]) -> UInt32 {
        var c = CRC32()
        bytes.withUnsafeBytes { c.update($0) }
        return c.value
    }

    /// The definition, one bit at a time.
    func bitwise(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    @Test func checkValues() {
        #expect(crc([]) == 0)
        #expect(crc(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(crc(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
    }

    @Test func everyLengthAndSplit() {
        let data = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) }
        for n in 0...data.count {
            #expect(crc(Array(data.prefix(n))) == bitwise(Array(data.prefix(n))), "length \(n)")
        }
        // Fed in two pieces, any split: the same as in one.
        for split in 0...data.count {
            var c = CRC32()
            data[..<split].withUnsafeBytes { c.update($0) }
            data[split...].withUnsafeBytes { c.update($0) }
            #expect(c.value == bitwise(data), "split at \(split)")
        }
    }
}
