/// One section of a shared config or credentials file, as the AWS CLI reads it.
public struct AWSConfigSection: Sendable, Equatable {
    /// The header text between the brackets, trimmed: `default`, `profile dev`, `sso-session corp`.
    public var header: String
    /// Keys lower-cased as the CLI does; values trimmed.
    public var values: [String: String]
    /// Nested values (`s3 =` followed by indented `key = value` lines), by parent key.
    public var subsections: [String: [String: String]]
    /// The 1-based line of the header, for error messages.
    public var line: Int
}

/// A file that is not valid shared config syntax. Says which file and line, never the line's content (it may hold a
/// secret key).
public struct AWSConfigFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let line: Int
    public let reason: String

    public var description: String { "\(path) line \(line): \(reason)" }
}

/// Parses the INI dialect of `~/.aws/config` and `~/.aws/credentials` the way botocore does with Python's
/// `configparser`: `[section]` headers, `key = value` or `key: value`, whole-line `#` and `;` comments, indented
/// continuation lines, keys case-insensitive, and a duplicate section or key in one file is an error.
public enum AWSConfigFileParser {
    public static func parse(_ text: String, path: String) throws -> [AWSConfigSection] {
        var sections: [AWSConfigSection] = []
        var seenHeaders: Set<String> = []
        // The key whose value an indented line continues, within the current section.
        var continuingKey: String?
        for (index, rawLine) in text.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }
        )
        .enumerated() {
            let lineNumber = index + 1
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine
            let trimmed = line.trimmingASCIIWhitespace()
            if trimmed.isEmpty || trimmed.first == "#" || trimmed.first == ";" {
                // configparser ends a multi-line value at a blank line only when the next line is not indented; a
                // comment inside a nested block is skipped either way.
                if trimmed.isEmpty { continuingKey = nil }
                continue
            }
            let isIndented = line.first == " " || line.first == "\t"
            if isIndented, let key = continuingKey, !sections.isEmpty {
                try appendContinuation(
                    trimmed, to: key, in: &sections[sections.count - 1], path: path, line: lineNumber)
                continue
            }
            if trimmed.first == "[" {
                guard trimmed.last == "]" else {
                    throw AWSConfigFileError(path: path, line: lineNumber, reason: "section header without a closing ]")
                }
                let header = String(trimmed.dropFirst().dropLast().trimmingASCIIWhitespace())
                guard !header.isEmpty else {
                    throw AWSConfigFileError(path: path, line: lineNumber, reason: "empty section header")
                }
                guard seenHeaders.insert(header).inserted else {
                    throw AWSConfigFileError(path: path, line: lineNumber, reason: "section [\(header)] repeated")
                }
                sections.append(AWSConfigSection(header: header, values: [:], subsections: [:], line: lineNumber))
                continuingKey = nil
                continue
            }
            guard !sections.isEmpty else {
                throw AWSConfigFileError(path: path, line: lineNumber, reason: "a setting before any [section] header")
            }
            guard let (key, value) = splitAssignment(trimmed) else {
                throw AWSConfigFileError(path: path, line: lineNumber, reason: "expected key = value")
            }
            guard sections[sections.count - 1].values[key] == nil else {
                throw AWSConfigFileError(path: path, line: lineNumber, reason: "key \(key) repeated in its section")
            }
            sections[sections.count - 1].values[key] = value
            continuingKey = key
        }
        return sections
    }

    /// `key = value` or `key: value`, split at the first delimiter; the key lower-cased as `configparser` does.
    static func splitAssignment(_ text: Substring) -> (String, String)? {
        guard let delimiter = text.firstIndex(where: { $0 == "=" || $0 == ":" }) else { return nil }
        let key = text[..<delimiter].trimmingASCIIWhitespace().lowercased()
        guard !key.isEmpty else { return nil }
        let value = String(text[text.index(after: delimiter)...].trimmingASCIIWhitespace())
        return (key, value)
    }

    /// An indented line after `key =`: a nested `name = value` when the parent value is empty (botocore's
    /// sub-sections, such as `s3 =`), else more text for the parent value.
    private static func appendContinuation(
        _ text: Substring,
        to key: String,
        in section: inout AWSConfigSection,
        path: String,
        line: Int
    ) throws {
        if section.values[key]?.isEmpty == true || section.subsections[key] != nil {
            guard let (nestedKey, nestedValue) = splitAssignment(text) else {
                throw AWSConfigFileError(path: path, line: line, reason: "expected key = value in the \(key) block")
            }
            section.subsections[key, default: [:]][nestedKey] = nestedValue
        } else {
            section.values[key, default: ""] += "\n" + text
        }
    }
}
