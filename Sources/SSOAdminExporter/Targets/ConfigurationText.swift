import AWSClient

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

    /// C0 and C1 controls, DEL, the Unicode line and paragraph separators (which some terminals break lines at),
    /// and format characters: invisible ones such as a zero-width space, which would make `regions\u{200B}` read as
    /// `regions`, and the bidirectional overrides, which reorder the rest of a line as it is shown.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) || scalar.value == 0x2028
            || scalar.value == 0x2029 || scalar.properties.generalCategory == .format
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

extension ConfigurationText {
    /// The candidate nearest to `word` by edit distance (case, `-` and `_` aside), if one is near enough to be the
    /// word meant: at most 2 edits, or a third of the word for longer ones. Words of more than 64 characters are
    /// no typo of a key or a Region and get no suggestion, which also bounds the work a hostile file can ask for.
    static func closest(to word: String, among candidates: some Sequence<String>) -> String? {
        func normalized(_ text: String) -> [UInt8] {
            text.utf8.map { $0 == UInt8(ascii: "-") ? UInt8(ascii: "_") : ($0 | (($0 >= 65 && $0 <= 90) ? 32 : 0)) }
        }
        guard (1...64).contains(word.utf8.count) else { return nil }
        let target = normalized(word)
        let allowed = max(2, target.count / 3)
        var best: (candidate: String, distance: Int)?
        for candidate in candidates.sorted() {
            let distance = editDistance(target, normalized(candidate))
            if distance <= allowed, distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        return best?.candidate
    }

    /// Levenshtein distance, counting a swap of two neighbours as one edit (`eu-wset-1` is one from `eu-west-1`).
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], before[j - 2] + 1)
                }
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}

extension ConfigurationText {
    /// A warning for a region the partition data does not list (`eu-wset-1`), naming the closest one it does, or
    /// `nil` for a listed one. Not an error: AWS opens new regions, and this data may be older than one of them.
    static func unlistedRegionWarning(_ region: String, key: String) -> String? {
        guard !AWSPartition.lists(region) else { return nil }
        let suggestion = closest(to: region, among: AWSPartition.listedRegions).map { " (did you mean \($0)?)" }
        return "\(key): \(quoted(region)) is not a region this build's partition data lists\(suggestion ?? ""); "
            + "it is used as given, so check it if its calls fail to resolve or connect"
    }
}
