/// How configuration errors quote what a file holds: a short excerpt with control characters escaped, so a value of
/// megabytes or with a newline can neither flood an answer nor forge a line of a report.
enum ConfigurationText {
    /// The most characters of one value an error quotes.
    static let excerptLength = 200
    /// The most characters of one problem, its quoted values and fixed text together.
    static let problemLength = 1_000
    /// The most characters of a key path, which holds names from the file (labels, users, unknown keys).
    static let keyLength = 300
    /// The most bytes of a whole report (`check-config`, a reload's answer).
    static let reportLimit = 64 * 1024

    /// `value` in double quotes, escaped, cut to ``excerptLength`` characters with its full length after it.
    static func quoted(_ value: some StringProtocol) -> String {
        let (text, cut) = excerpt(value, limit: excerptLength)
        return cut ? "\"\(text)…\" (\(value.count) characters)" : "\"\(text)\""
    }

    /// `value` escaped and cut to ``excerptLength`` characters, without quotes: for words such as an unknown TLS
    /// version, which messages name bare.
    static func excerpted(_ value: some StringProtocol) -> String { bounded(value, limit: excerptLength) }

    /// `value` escaped and cut to `limit` characters, with the length of the whole when it was cut: for text that is
    /// already part of a message (a key path, a problem).
    static func bounded(_ value: some StringProtocol, limit: Int) -> String {
        let (text, cut) = excerpt(value, limit: limit)
        return cut ? "\(text)… (\(value.count) characters)" : text
    }

    /// The first `limit` characters of `value` (whole characters: never half of an accent or an emoji), with control
    /// characters escaped as `\n`, `\t`, `\r` or `\u{1B}`, and whether anything was left out.
    static func excerpt(_ value: some StringProtocol, limit: Int) -> (text: String, cut: Bool) {
        var text = ""
        var count = 0
        for character in value {
            if count == limit { return (text, true) }
            count += 1
            guard character.unicodeScalars.contains(where: isControl) else {
                text.append(character)
                continue
            }
            for scalar in character.unicodeScalars {
                switch scalar {
                case "\n": text += "\\n"
                case "\r": text += "\\r"
                case "\t": text += "\\t"
                case _ where isControl(scalar): text += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        return (text, false)
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators, which some terminals break lines at.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) || scalar.value == 0x2028
            || scalar.value == 0x2029
    }

    /// One problem as a report shows it: `FILE:LINE: KEY: PROBLEM`, the key and the problem bounded and escaped (the
    /// path is the operator's, from the command line).
    static func line(path: String, line: Int?, key: String?, problem: String) -> String {
        let location = line.map { "\(path):\($0)" } ?? path
        let problem = bounded(problem, limit: problemLength)
        return key.map { "\(location): \(bounded($0, limit: keyLength)): \(problem)" } ?? "\(location): \(problem)"
    }

    /// `lines` joined with newlines, up to `limit` bytes; the lines left out are counted on a last line. Lines are
    /// made only as they are shown.
    static func report(_ lines: some Collection<String>, limit: Int = reportLimit) -> String {
        var report = ""
        var bytes = 0
        var left = lines.count
        for line in lines {
            // Room for this line and, when more follow, for the line that counts them.
            let trailer = left > 1 ? 64 : 0
            if bytes + line.utf8.count + 1 + trailer > limit {
                report += "… and \(left) more \(left == 1 ? "problem" : "problems") not shown"
                return report
            }
            report += line + "\n"
            bytes += line.utf8.count + 1
            left -= 1
        }
        if report.hasSuffix("\n") { report.removeLast() }
        return report
    }
}
