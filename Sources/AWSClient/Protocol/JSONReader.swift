/// A forward-only reader over one JSON document, for response shapes decoded on every page.
///
/// `JSONDecoder` builds a generic value tree and goes through `Codable` containers: about 50 µs for a ten-instance
/// `ListInstances` page, most of the exporter's own time per page. Reading the bytes in place, members are picked out
/// as they pass and everything else is skipped without being built. The reader is strict about JSON syntax (RFC 8259)
/// and leaves leniency about types to the caller: ``readString()``, ``readNumber()`` and ``readBool()`` skip a value
/// of another type and answer `nil`.
public struct JSONReader {
    /// Where and why a document is not JSON.
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public let offset: Int
        public let reason: String

        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// The kind of the next value, from its first byte.
    public enum ValueKind: Equatable, Sendable {
        case object, array, string, number, bool, null
    }

    /// Nesting beyond this is refused rather than risk the stack on hostile input; AWS responses nest a few levels.
    public static let maxDepth = 256

    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The kind of the value at the current position.
    public mutating func peekKind() throws -> ValueKind {
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw error("unexpected character \(Self.describe(bytes[position]))")
        }
    }

    /// Reads an object, calling `member` with each key; `member` must read or skip exactly that key's value.
    public mutating func readObject(_ member: (inout JSONReader, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        try enterContainer()
        skipWhitespace()
        if try consumeIf(UInt8(ascii: "}")) {
            depth -= 1
            return
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a member name")
            }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            try member(&self, key)
            skipWhitespace()
            if try consumeIf(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: "}"))
            depth -= 1
            return
        }
    }

    /// Reads an array, calling `element` once per element; `element` must read or skip exactly that element.
    public mutating func readArray(_ element: (inout JSONReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        try enterContainer()
        skipWhitespace()
        if try consumeIf(UInt8(ascii: "]")) {
            depth -= 1
            return
        }
        while true {
            try element(&self)
            skipWhitespace()
            if try consumeIf(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: "]"))
            depth -= 1
            return
        }
    }

    /// The string at the current position, or `nil` (with the value skipped) when it is of another type.
    public mutating func readString() throws -> String? {
        guard try peekKind() == .string else {
            try skipValue()
            return nil
        }
        return try parseString()
    }

    /// The number at the current position, or `nil` (with the value skipped) when it is of another type.
    public mutating func readNumber() throws -> Double? {
        guard try peekKind() == .number else {
            try skipValue()
            return nil
        }
        return try parseNumber()
    }

    /// The boolean at the current position, or `nil` (with the value skipped) when it is of another type.
    public mutating func readBool() throws -> Bool? {
        guard try peekKind() == .bool else {
            try skipValue()
            return nil
        }
        let isTrue = bytes[position] == UInt8(ascii: "t")
        try expectLiteral(isTrue ? "true" : "false")
        return isTrue
    }

    /// Consumes a `null` if that is the next value.
    public mutating func readNull() throws -> Bool {
        guard try peekKind() == .null else { return false }
        try expectLiteral("null")
        return true
    }

    /// Skips one value of any kind, checking its syntax.
    public mutating func skipValue() throws {
        switch try peekKind() {
        case .object: try readObject { reader, _ in try reader.skipValue() }
        case .array: try readArray { reader in try reader.skipValue() }
        case .string: _ = try parseString()
        case .number: _ = try parseNumber()
        case .bool: try expectLiteral(bytes[position] == UInt8(ascii: "t") ? "true" : "false")
        case .null: try expectLiteral("null")
        }
    }

    /// Checks that only whitespace follows the value just read.
    public mutating func expectEnd() throws {
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected data after the document") }
    }

    // MARK: - Scanning

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private mutating func enterContainer() throws {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func expect(_ byte: UInt8) throws {
        skipWhitespace()
        guard position < bytes.count else { throw error("expected \(Self.describe(byte)), found the end of input") }
        guard bytes[position] == byte else {
            throw error("expected \(Self.describe(byte)), found \(Self.describe(bytes[position]))")
        }
        position += 1
    }

    private mutating func consumeIf(_ byte: UInt8) throws -> Bool {
        guard position < bytes.count else { throw error("unexpected end of input") }
        guard bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("truncated literal") }
        let matches = literal.withUTF8Buffer { expected in
            expected.indices.allSatisfy { bytes[position + $0] == expected[$0] }
        }
        guard matches else { throw error("invalid literal") }
        position += count
    }

    /// Parses the string starting at the opening quote.
    private mutating func parseString() throws -> String {
        let start = position
        position += 1
        // Most AWS strings have no escapes: find the closing quote and decode the bytes in one go.
        var scan = position
        while scan < bytes.count {
            let byte = bytes[scan]
            if byte == UInt8(ascii: "\"") {
                let value = String(decoding: bytes[position..<scan], as: UTF8.self)
                position = scan + 1
                return value
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 {
                position = scan
                throw error("control character in a string")
            }
            scan += 1
        }
        guard scan < bytes.count else {
            position = start
            throw error("unterminated string")
        }
        return try parseEscapedString(from: scan)
    }

    private mutating func parseEscapedString(from firstEscape: Int) throws -> String {
        var utf8 = Array(bytes[position..<firstEscape])
        position = firstEscape
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { break }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"): utf8.append(contentsOf: Array(String(try parseUnicodeEscape()).utf8))
                default:
                    position -= 1
                    throw error("invalid escape \\\(Self.describe(escape))")
                }
            case 0..<0x20:
                throw error("control character in a string")
            default:
                utf8.append(byte)
                position += 1
            }
        }
        throw error("unterminated string")
    }

    /// The scalar of a `\uXXXX` escape (the `\u` already consumed), joining a surrogate pair.
    /// A lone surrogate becomes U+FFFD, as `String(decoding:)` does for invalid UTF-8.
    private mutating func parseUnicodeEscape() throws -> Unicode.Scalar {
        let first = try parseHex4()
        if (0xD800...0xDBFF).contains(first), position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
            bytes[position + 1] == UInt8(ascii: "u")
        {
            let mark = position
            position += 2
            let second = try parseHex4()
            if (0xDC00...0xDFFF).contains(second) {
                let combined = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
                return Unicode.Scalar(combined) ?? "\u{FFFD}"
            }
            position = mark
        }
        return Unicode.Scalar(UInt32(first)) ?? "\u{FFFD}"
    }

    private mutating func parseHex4() throws -> UInt16 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    /// Parses a number following the JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func parseNumber() throws -> Double {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, Self.isDigit(bytes[position]) else { throw error("invalid number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            skipDigits()
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, Self.isDigit(bytes[position]) else { throw error("invalid number") }
            skipDigits()
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, Self.isDigit(bytes[position]) else { throw error("invalid number") }
            skipDigits()
        }
        guard let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)) else {
            position = start
            throw error("invalid number")
        }
        return value
    }

    private mutating func skipDigits() {
        while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func describe(_ byte: UInt8) -> String {
        byte >= 0x21 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    private func error(_ reason: String) -> SyntaxError {
        SyntaxError(offset: position, reason: reason)
    }
}
