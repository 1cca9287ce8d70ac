import AWSClient
import Foundation
import Testing

/// A JSON value rebuilt through ``JSONReader``, to compare with what Foundation's own parser makes of the same bytes.
indirect enum JSONTestValue: Equatable {
    case object([String: JSONTestValue])
    case array([JSONTestValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    static func read(_ reader: inout JSONReader) throws -> JSONTestValue {
        switch try reader.peekKind() {
        case .object:
            var members: [String: JSONTestValue] = [:]
            try reader.readObject { reader, key in members[key] = try read(&reader) }
            return .object(members)
        case .array:
            var elements: [JSONTestValue] = []
            try reader.readArray { reader in elements.append(try read(&reader)) }
            return .array(elements)
        case .string: return .string(try #require(try reader.readString()))
        case .number: return .number(try #require(try reader.readNumber()))
        case .null:
            _ = try reader.readNull()
            return .null
        case .bool: return .bool(try #require(try reader.readBool() as Bool?))
        }
    }

    /// From `JSONSerialization`, telling booleans from numbers by their Core Foundation type.
    static func foundation(_ any: Any) -> JSONTestValue {
        switch any {
        case let dictionary as [String: Any]: .object(dictionary.mapValues(foundation))
        case let array as [Any]: .array(array.map(foundation))
        case let string as String: .string(string)
        case is NSNull: .null
        case let number as NSNumber:
            String(cString: number.objCType) == "c" ? .bool(number.boolValue) : .number(number.doubleValue)
        default: .null
        }
    }
}

@Suite("JSON reader")
struct JSONReaderTests {
    func parse(_ text: String) throws -> JSONTestValue {
        var reader = JSONReader(Array(text.utf8))
        let value = try JSONTestValue.read(&reader)
        try reader.expectEnd()
        return value
    }

    @Test(
        "values read as Foundation reads them",
        arguments: [
            #"{}"#, #"[]"#, #"{"a":[1,2.5,-3e2,0,-0.0,1E+2,1e-2],"b":{"c":null,"d":"x"}}"#,
            #"["\u00e9\ud83d\ude00\/\b\f\n\r\t\\\"", "plain", ""]"#, #"  {"k" : "v" , "n" : 12345678901234567890 }  "#,
            #"{"Instances":[{"InstanceArn":"arn:aws:sso:::instance/ssoins-1","CreatedDate":1.700000000123E9}]}"#,
            #"["é ✓ 😀 raw UTF-8"]"#, #"[1.7976931348623157e308, 5e-324, 123.456e-7]"#,
        ])
    func matchesFoundation(text: String) throws {
        let expected = JSONTestValue.foundation(try JSONSerialization.jsonObject(with: Data(text.utf8), options: []))
        #expect(try parse(text) == expected)
    }

    @Test("generated documents read as Foundation reads them")
    func generated() throws {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "é", "😀", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{7f}", " ", "ssoins-", "\u{2028}"]
        func randomString() -> String {
            (0..<Int.random(in: 0...8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }
                .joined()
        }
        func randomValue(depth: Int) -> Any {
            switch Int.random(in: 0...(depth > 3 ? 3 : 6), using: &generator) {
            case 0: return randomString()
            case 1: return Double(Int.random(in: -1_000_000...1_000_000, using: &generator)) / 1000
            case 2: return NSNull()
            // Within 2^53: beyond it Foundation itself rounds some integers to a neighbouring double.
            case 3: return Int.random(in: -(1 << 53)...(1 << 53), using: &generator)
            case 4:
                return Dictionary(
                    (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                        (randomString(), randomValue(depth: depth + 1))
                    },
                    uniquingKeysWith: { first, _ in first })
            default: return (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth + 1) }
            }
        }
        for _ in 0..<300 {
            let object = ["root": randomValue(depth: 0)]
            let data = try JSONSerialization.data(withJSONObject: object, options: [])
            let text = String(decoding: data, as: UTF8.self)
            let expected = JSONTestValue.foundation(try JSONSerialization.jsonObject(with: data, options: []))
            #expect(try parse(text) == expected, "\(text)")
        }
    }

    @Test(
        "syntax errors are errors, never a partial value",
        arguments: [
            "", "{", "[", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1,]", "[01]", "[1.]", "[.5]", "[+1]", "[-]", "[1e]",
            "[NaN]", "[tru]", "[nul]", #"["a"#, "[\"a\u{01}b\"]", #"["\x"]"#, #"["\u12G4"]"#, "{} x", "{}{}",
            #"{'a':1}"#, "[1 2]",
        ])
    func syntaxErrors(text: String) {
        #expect(throws: JSONReader.SyntaxError.self) { try parse(text) }
    }

    @Test("nesting is bounded so hostile input cannot exhaust the stack")
    func depth() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let error = try #require(throws: JSONReader.SyntaxError.self) { try parse(deep) }
        #expect(error.reason.contains("nested deeper"))
        let fine =
            String(repeating: "[", count: JSONReader.maxDepth) + String(repeating: "]", count: JSONReader.maxDepth)
        _ = try parse(fine)
    }

    @Test("readString, readNumber and readBool skip a value of another type and answer nil")
    func lenientAccessors() throws {
        var reader = JSONReader(Array(#"[{"x":[1,{"y":2}]}, "s", 3, null, true]"#.utf8))
        var strings: [String?] = []
        var numbers: [Double?] = []
        var bools: [Bool?] = []
        try reader.readArray { reader in
            var second = reader
            var third = reader
            strings.append(try reader.readString())
            numbers.append(try second.readNumber())
            bools.append(try third.readBool())
        }
        try reader.expectEnd()
        #expect(strings == [nil, "s", nil, nil, nil])
        #expect(numbers == [nil, nil, 3, nil, nil])
        #expect(bools == [nil, nil, nil, nil, true])
    }

    @Test("an integer beyond 2^53 reads as the nearest double")
    func largeIntegers() throws {
        for text in ["-2781523054268986110", "9223372036854775807", "18446744073709551616"] {
            #expect(try parse("[\(text)]") == .array([.number(try #require(Double(text)))]))
        }
        #expect(try parse("[-2781523054268986110]") == .array([.number(Double(Int64(-2_781_523_054_268_986_110)))]))
    }

    @Test("a lone surrogate becomes U+FFFD rather than failing the document")
    func loneSurrogate() throws {
        #expect(try parse(#"["a\ud800b"]"#) == .array([.string("a\u{FFFD}b")]))
        #expect(try parse(#"["\udc00"]"#) == .array([.string("\u{FFFD}")]))
    }
}
