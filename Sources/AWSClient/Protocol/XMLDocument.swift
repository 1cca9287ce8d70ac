/// The small part of XML that AWS query-protocol responses use: nested elements with text, attributes ignored,
/// the five predefined entities, numeric character references, CDATA, comments and the XML declaration.
///
/// FoundationEssentials has no XML parser, and the STS responses this client reads are a few hundred bytes, so a
/// tree is built and walked by element names. No DTDs, no namespaces beyond ignoring the `xmlns` attribute.
public struct XMLElement: Sendable, Equatable {
    public var name: String
    public var children: [XMLElement]
    /// The element's own text (outside child elements), with entities decoded and surrounding whitespace trimmed.
    public var text: String

    /// The first child with `name`.
    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }

    /// The element reached by following child names, such as `["AssumeRoleResult", "Credentials"]`.
    public func descendant(_ path: [String]) -> XMLElement? {
        var current = self
        for name in path {
            guard let next = current.child(name) else { return nil }
            current = next
        }
        return current
    }

    /// The text of the child element `name`, `nil` when it is absent or empty.
    public func text(of name: String) -> String? {
        guard let text = child(name)?.text, !text.isEmpty else { return nil }
        return text
    }
}

/// Why a body is not well-formed XML; says where, never quotes the body (it may carry credentials).
public struct XMLSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid XML at byte \(offset): \(reason)" }
}

public enum XMLDocumentParser {
    /// Nesting beyond this is refused; STS responses nest four levels.
    public static let maxDepth = 64

    /// The root element of `bytes`.
    public static func parse(_ bytes: [UInt8]) throws -> XMLElement {
        var parser = Parser(bytes: bytes)
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        mutating func document() throws -> XMLElement {
            try skipMisc()
            guard peek(UInt8(ascii: "<")) else { throw error("expected a root element") }
            let root = try element(depth: 1)
            try skipMisc()
            guard position == bytes.count else { throw error("content after the root element") }
            return root
        }

        /// Whitespace, the XML declaration, processing instructions and comments between top-level items.
        mutating func skipMisc() throws {
            while true {
                while position < bytes.count, isSpace(bytes[position]) { position += 1 }
                if starts(with: "<?") {
                    try skip(past: "?>")
                } else if starts(with: "<!--") {
                    try skip(past: "-->")
                } else if starts(with: "<!DOCTYPE") {
                    throw error("document type declarations are not accepted")
                } else {
                    return
                }
            }
        }

        mutating func element(depth: Int) throws -> XMLElement {
            guard depth <= XMLDocumentParser.maxDepth else { throw error("nested too deeply") }
            position += 1  // "<"
            let name = try readName()
            // Attributes are skipped: quoted values may contain '>' so they are stepped over as a whole.
            while true {
                while position < bytes.count, isSpace(bytes[position]) { position += 1 }
                guard position < bytes.count else { throw error("unterminated start tag <\(name)>") }
                if starts(with: "/>") {
                    position += 2
                    return XMLElement(name: name, children: [], text: "")
                }
                if bytes[position] == UInt8(ascii: ">") {
                    position += 1
                    break
                }
                _ = try readName()
                while position < bytes.count, isSpace(bytes[position]) { position += 1 }
                guard peek(UInt8(ascii: "=")) else { throw error("attribute without a value in <\(name)>") }
                position += 1
                while position < bytes.count, isSpace(bytes[position]) { position += 1 }
                guard position < bytes.count,
                    bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'")
                else { throw error("unquoted attribute value in <\(name)>") }
                let quote = bytes[position]
                position += 1
                while position < bytes.count, bytes[position] != quote { position += 1 }
                guard position < bytes.count else { throw error("unterminated attribute value in <\(name)>") }
                position += 1
            }
            var children: [XMLElement] = []
            var text: [UInt8] = []
            while true {
                guard position < bytes.count else { throw error("element <\(name)> is not closed") }
                if starts(with: "</") {
                    position += 2
                    let closing = try readName()
                    guard closing == name else { throw error("</\(closing)> closes <\(name)>") }
                    while position < bytes.count, isSpace(bytes[position]) { position += 1 }
                    guard peek(UInt8(ascii: ">")) else { throw error("unterminated end tag </\(name)>") }
                    position += 1
                    let decoded = String(decoding: text, as: UTF8.self)
                    return XMLElement(name: name, children: children, text: String(decoded.trimmingASCIIWhitespace()))
                } else if starts(with: "<!--") {
                    try skip(past: "-->")
                } else if starts(with: "<![CDATA[") {
                    position += 9
                    let start = position
                    try skip(past: "]]>")
                    text.append(contentsOf: bytes[start..<(position - 3)])
                } else if starts(with: "<?") {
                    try skip(past: "?>")
                } else if bytes[position] == UInt8(ascii: "<") {
                    children.append(try element(depth: depth + 1))
                } else if bytes[position] == UInt8(ascii: "&") {
                    text.append(contentsOf: try entity())
                } else {
                    text.append(bytes[position])
                    position += 1
                }
            }
        }

        mutating func entity() throws -> [UInt8] {
            let start = position
            while position < bytes.count, bytes[position] != UInt8(ascii: ";"), position - start < 12 { position += 1 }
            guard position < bytes.count, bytes[position] == UInt8(ascii: ";") else {
                position = start
                throw error("unterminated entity reference")
            }
            let name = String(decoding: bytes[(start + 1)..<position], as: UTF8.self)
            position += 1
            switch name {
            case "amp": return [UInt8(ascii: "&")]
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "quot": return [UInt8(ascii: "\"")]
            case "apos": return [UInt8(ascii: "'")]
            default:
                let number: UInt32?
                if name.hasPrefix("#x") {
                    number = UInt32(name.dropFirst(2), radix: 16)
                } else if name.hasPrefix("#") {
                    number = UInt32(name.dropFirst(1), radix: 10)
                } else {
                    number = nil
                }
                guard let number, let scalar = Unicode.Scalar(number) else {
                    position = start
                    throw error("unknown entity &\(name);")
                }
                return Array(String(Character(scalar)).utf8)
            }
        }

        mutating func readName() throws -> String {
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                if isSpace(byte) || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
                {
                    break
                }
                position += 1
            }
            guard position > start else { throw error("expected a name") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func skip(past terminator: StaticString) throws {
            while position < bytes.count {
                if starts(with: terminator) {
                    position += terminator.utf8CodeUnitCount
                    return
                }
                position += 1
            }
            throw error("missing \(terminator)")
        }

        func starts(with literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard position + count <= bytes.count else { return false }
            return literal.withUTF8Buffer { expected in
                expected.indices.allSatisfy { bytes[position + $0] == expected[$0] }
            }
        }

        func peek(_ byte: UInt8) -> Bool { position < bytes.count && bytes[position] == byte }

        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

        func error(_ reason: String) -> XMLSyntaxError { XMLSyntaxError(offset: position, reason: reason) }
    }
}
