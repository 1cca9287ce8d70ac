/// ASCII case for protocol tokens (header names, keywords), which are ASCII by definition: no Unicode tables, as
/// `lowercased()` consults, and no lowered copy just to compare.
enum ASCIICase {
    private static let upper = UInt8(ascii: "A")...UInt8(ascii: "Z")

    /// `name` with its ASCII capitals lowered; `name` itself when it has none.
    static func lowercased(_ name: String) -> String {
        name.withUTF8Buffer { bytes in
            guard bytes.contains(where: upper.contains) else { return name }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                for (index, byte) in bytes.enumerated() { out[index] = upper.contains(byte) ? byte | 0x20 : byte }
                return bytes.count
            }
        }
    }

    /// Whether `bytes` spell `lowercase` (itself all lower case), ignoring the case of ASCII letters only.
    static func equals(_ bytes: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in
                byte == wanted || (upper.contains(byte) && byte | 0x20 == wanted)
            }
        }
    }
}
