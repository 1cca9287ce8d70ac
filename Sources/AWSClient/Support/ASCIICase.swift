/// ASCII case-insensitive comparison for protocol tokens (header names, keywords), which are ASCII by definition:
/// it neither consults Unicode tables nor allocates a lowered copy, as `lowercased()` does.
enum ASCIICase {
    /// Whether `bytes` spell `lowercase` (itself all lower case), ignoring the case of ASCII letters only.
    static func equals(_ bytes: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in
                byte == wanted || ((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) && byte | 0x20 == wanted)
            }
        }
    }
}
