import AWSClient
import Yams

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `--config.file` as written: the targets to watch and how to collect them.
///
/// Decoding is strict: an unknown key, a value of the wrong type, a duplicate target name, a malformed role ARN or
/// label is an error naming the file, the key and its line.
struct TargetsFile: Decodable, Sendable {
    var targets: [Target]?
    var discovery: Discovery?
    var collection: Collection?
    /// Where each of `targets` stands in the file, when some entries could not be decoded and were left out (so
    /// that the others are still checked, under their own index); `nil` when every entry is here.
    var targetPositions: [Int]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case targets, discovery, collection
    }

    struct Discovery: Decodable, Sendable {
        var organizations: Organizations?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case organizations
        }
    }

    struct Organizations: Decodable, Sendable {
        var roleARN: String?
        var roleName: String
        var externalID: String?
        var roleSessionName: String?
        var durationSeconds: Int?
        var regions: Regions
        var includeAccounts: [String]?
        var excludeAccounts: [String]?
        var accountStates: [String]?
        var refreshInterval: String?
        var labels: StrictYAML.StringMapping?
        var shard: Shard?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case regions, labels, shard
            case roleARN = "role_arn"
            case roleName = "role_name"
            case externalID = "external_id"
            case roleSessionName = "role_session_name"
            case durationSeconds = "duration_seconds"
            case includeAccounts = "include_accounts"
            case excludeAccounts = "exclude_accounts"
            case accountStates = "account_states"
            case refreshInterval = "refresh_interval"
        }
    }

    /// `shard:` of discovery: this replica's index and the number of replicas; either may come from the flags instead.
    struct Shard: Decodable, Sendable {
        var index: Int?
        var count: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case index, count
        }
    }

    /// `regions:` of discovery: a list, or `enabled` for the regions each account has enabled.
    enum Regions: Decodable, Sendable {
        case listed([String])
        case enabled(String)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let word = try? container.decode(String.self) {
                self = .enabled(word)
            } else {
                self = .listed(try container.decode([String].self))
            }
        }
    }

    struct Target: Decodable, Sendable {
        var name: String
        var roleARN: String?
        var externalID: String?
        var roleSessionName: String?
        var durationSeconds: Int?
        var accountID: String?
        var regions: [String]
        var labels: StrictYAML.StringMapping?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, regions, labels
            case roleARN = "role_arn"
            case externalID = "external_id"
            case roleSessionName = "role_session_name"
            case durationSeconds = "duration_seconds"
            case accountID = "account_id"
        }
    }

    struct Collection: Decodable, Sendable {
        var mode: String?
        var maxConcurrency: Int?
        var interval: String?
        var timeout: String?
        var maxStale: String?
        var accountRequestsPerSecond: Double?
        var accountBurst: Int?
        var instanceDetails: Bool?
        var emptyRegionInterval: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case mode, interval, timeout
            case emptyRegionInterval = "empty_region_interval"
            case instanceDetails = "instance_details"
            case maxConcurrency = "max_concurrency"
            case maxStale = "max_stale"
            case accountRequestsPerSecond = "account_requests_per_second"
            case accountBurst = "account_burst"
        }
    }

    /// What each mapping may hold.
    static let schema = StrictYAML.Schema.mapping([
        "targets": .sequence(
            .mapping(
                Dictionary(
                    Target.CodingKeys.allCases.map { key -> (String, StrictYAML.Schema) in
                        switch key {
                        case .labels: (key.rawValue, .anyMapping)
                        case .regions: (key.rawValue, .sequence(.value))
                        default: (key.rawValue, .value)
                        }
                    }, uniquingKeysWith: { first, _ in first }))),
        "discovery": .mapping([
            "organizations": .mapping(
                Dictionary(
                    Organizations.CodingKeys.allCases.map { key -> (String, StrictYAML.Schema) in
                        switch key {
                        case .labels: (key.rawValue, .anyMapping)
                        case .includeAccounts, .excludeAccounts, .accountStates: (key.rawValue, .sequence(.value))
                        case .shard:
                            (
                                key.rawValue,
                                .mapping(
                                    Dictionary(
                                        Shard.CodingKeys.allCases.map { ($0.rawValue, .value) },
                                        uniquingKeysWith: { first, _ in first }))
                            )
                        default: (key.rawValue, .value)
                        }
                    }, uniquingKeysWith: { first, _ in first }))
        ]),
        "collection": .mapping(
            Dictionary(
                Collection.CodingKeys.allCases.map { ($0.rawValue, .value) }, uniquingKeysWith: { first, _ in first })),
    ])

    static func parse(_ text: String, path: String) throws(ConfigFileError) -> TargetsFile {
        let (file, _, problems) = try parseDocument(text, path: path)
        if !problems.isEmpty { throw ConfigFileError(all: problems) }
        return file
    }

    /// The file, its composed document (which later checks read lines from), and the problems found so far (unknown
    /// keys, values of the wrong shape or type), which the caller reports with its own.
    ///
    /// A value of the wrong type stops decoding; each section is then decoded on its own, and the sections that
    /// decode are returned, so that one run reports the first such problem of every section along with every
    /// unknown key and what the caller finds in the other sections.
    static func parseDocument(_ text: String, path: String) throws(ConfigFileError) -> (
        file: TargetsFile, root: Node, problems: [ConfigFileError]
    ) {
        let document = try StrictYAML.compose(text, path: path, schema: schema)
        do {
            return (try document.decode(TargetsFile.self), document.root, document.problems)
        } catch {
            var problems = document.problems
            let shapeKeys = problems.compactMap(\.key)
            var merged = TargetsFile()
            for (key, value) in document.root.mapping ?? [:] {
                let alone = StrictYAML.Document(
                    root: .mapping(Node.Mapping([(key, value)])), stringMappings: document.stringMappings,
                    problems: [])
                do {
                    let section = try alone.decode(TargetsFile.self)
                    merged.targets = section.targets ?? merged.targets
                    merged.discovery = section.discovery ?? merged.discovery
                    merged.collection = section.collection ?? merged.collection
                } catch {
                    var found = [problem(error, root: document.root, path: path)]
                    if key.string == CodingKeys.targets.rawValue {
                        let targets = decodeEach(value, document: document, path: path)
                        found = targets.problems
                        merged.targets = targets.decoded.map(\.target)
                        merged.targetPositions = targets.decoded.map(\.position)
                    }
                    // A list given where a mapping belongs is said once, by the shape check, which also names the
                    // entry of a mapping at fault where the decoder names only the mapping.
                    problems += found.filter { found in
                        guard let key = found.key else { return true }
                        return !shapeKeys.contains { shape in
                            key == shape
                                || [".", "["].contains { key.hasPrefix(shape + $0) || shape.hasPrefix(key + $0) }
                        }
                    }
                }
            }
            if problems.isEmpty { problems.append(problem(error, root: document.root, path: path)) }
            return (merged, document.root, problems)
        }
    }

    /// Each entry of `targets:` decoded alone, so that one run names every target with a value of the wrong type and
    /// the others are still checked. Each entry is decoded as the first of a list of one; its nodes keep their lines,
    /// and its key paths are given back their own index.
    private static func decodeEach(_ value: Node, document: StrictYAML.Document, path: String) -> (
        decoded: [(position: Int, target: Target)], problems: [ConfigFileError]
    ) {
        guard case .sequence(let entries) = value else { return ([], []) }
        var decoded: [(position: Int, target: Target)] = []
        var problems: [ConfigFileError] = []
        let first = "targets[0]"
        let labels = Target.CodingKeys.labels.rawValue
        for (index, entry) in entries.enumerated() {
            let own = "targets[\(index)]"
            // A target's only any-key mapping is its labels, read by the shape check under the target's own index.
            let mappings = document.stringMappings["\(own).\(labels)"].map { ["\(first).\(labels)": $0] } ?? [:]
            let alone = StrictYAML.Document(
                root: .mapping(Node.Mapping([(Node(CodingKeys.targets.rawValue), .sequence(Node.Sequence([entry])))])),
                stringMappings: mappings, problems: [])
            do {
                if let target = try alone.decode(TargetsFile.self).targets?.first { decoded.append((index, target)) }
            } catch {
                let found = problem(error, root: alone.root, path: path)
                let key = found.key.map { $0.hasPrefix(first) ? own + $0.dropFirst(first.count) : $0 }
                problems.append(ConfigFileError(path: path, line: found.line, key: key, found.problem))
            }
        }
        return (decoded, problems)
    }

    private static func problem(_ error: any Error, root: Node, path: String) -> ConfigFileError {
        if let decoding = error as? DecodingError { return ConfigFileError(decoding: decoding, root: root, path: path) }
        return ConfigFileError(path: path, line: nil, key: nil, "cannot be read: \(error)")
    }
}

/// Strict reading of YAML configuration: every mapping's keys are checked against a schema before decoding, so a
/// misspelt key is an error with its line instead of a setting silently left at its default.
enum StrictYAML {
    static let emptyFile = "the file is empty"

    /// How far aliases may expand a document: this many times its size, plus ``expansionAllowance`` bytes (see
    /// ``checkAliasExpansion(_:path:)``). A file that reuses a list of regions or labels stays far below it; one that
    /// aliases a large anchor thousands of times (a 404 KB file expanding to 400 MB) is refused before anything
    /// reads the expansion.
    static let expansionFactor = 4
    static let expansionAllowance = 64 * 1024

    /// What a node may be. A struct holding its children in collections rather than an `indirect enum`: the enum's
    /// boxes are reached through pointers with the case packed into their spare bits, which LeakSanitizer cannot
    /// follow, so every fuzzing run reported the schema constants as leaked.
    struct Schema: Sendable {
        enum Kind: Sendable {
            /// These keys only, each with its own schema.
            case mapping
            /// Any string keys (labels, header names, user names) to single values, decoded as ``StringMapping``.
            case anyMapping
            case sequence
            /// A scalar, or anything the decoder will type-check.
            case value
        }

        let kind: Kind
        let fields: [String: Schema]
        /// The schema of a sequence's elements: one, or none for other kinds.
        let elements: [Schema]

        static func mapping(_ fields: [String: Schema]) -> Schema {
            Schema(kind: .mapping, fields: fields, elements: [])
        }

        static func sequence(_ element: Schema) -> Schema { Schema(kind: .sequence, fields: [:], elements: [element]) }

        static let anyMapping = Schema(kind: .anyMapping, fields: [:], elements: [])
        static let value = Schema(kind: .value, fields: [:], elements: [])
    }

    /// A document checked against its schema, with its any-key mappings already read.
    struct Document {
        let root: Node
        /// Each `anyMapping` of the document by its key path (`targets[2].labels`).
        let stringMappings: [String: [String: String]]
        /// Every key the schema does not know and every value of the wrong shape, in document order.
        let problems: [ConfigFileError]

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            var userInfo: [CodingUserInfoKey: Any] = [:]
            if let key = StringMapping.userInfoKey { userInfo[key] = StringMapping.Table(byKeyPath: stringMappings) }
            return try YAMLDecoder().decode(type, from: root, userInfo: userInfo)
        }
    }

    /// A mapping of any string keys to single values (user names to hashes, label or header names to values).
    ///
    /// Read from the composed document in one pass while checking it, not by the decoder: Yams finds each key of a
    /// mapping by a linear scan, so decoding a `[String: String]` of N keys took time in N² (16,000 users: 22 to 32 s).
    struct StringMapping: Decodable, Sendable, Equatable {
        var entries: [String: String]
        var count: Int { entries.count }

        static let userInfoKey = CodingUserInfoKey(rawValue: "StrictYAML.StringMapping")

        final class Table: Sendable {
            let byKeyPath: [String: [String: String]]
            init(byKeyPath: [String: [String: String]]) { self.byKeyPath = byKeyPath }
        }

        init(from decoder: any Decoder) throws {
            guard let key = Self.userInfoKey, let table = decoder.userInfo[key] as? Table,
                let entries = table.byKeyPath[StrictYAML.keyPath(decoder.codingPath)]
            else {
                throw DecodingError.typeMismatch(
                    [String: String].self,
                    .init(codingPath: decoder.codingPath, debugDescription: "not read by StrictYAML.compose"))
            }
            self.entries = entries
        }
    }

    /// `targets[2].labels` for a coding path, as ``check(_:against:key:file:mappings:)`` names key paths.
    static func keyPath(_ codingPath: [any CodingKey]) -> String {
        let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return text.hasPrefix(".") ? String(text.dropFirst()) : text
    }

    /// The document at `path`, checked against `schema`. Problems of shape (an unknown key, a list where a mapping
    /// belongs) are all collected in ``Document/problems`` rather than thrown at the first, so that one run of
    /// `check-config` reports them all; only a file that is not YAML at all is thrown.
    static func compose(_ text: String, path: String, schema: Schema) throws(ConfigFileError) -> Document {
        try checkAliasExpansion(text, path: path)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigFileError(path: path, line: error.markLine, key: nil, "not valid YAML: \(error.problemText)")
        } catch {
            throw ConfigFileError(path: path, line: nil, key: nil, "not valid YAML")
        }
        guard let node else { throw ConfigFileError(path: path, line: nil, key: nil, emptyFile) }
        var mappings: [String: [String: String]] = [:]
        var problems: [ConfigFileError] = []
        check(node, against: schema, key: "", file: path, mappings: &mappings, problems: &problems)
        return Document(root: node, stringMappings: mappings, problems: problems)
    }

    private static func check(
        _ node: Node, against schema: Schema, key: String, file: String, mappings: inout [String: [String: String]],
        problems: inout [ConfigFileError]
    ) {
        func problem(_ line: Int?, _ key: String?, _ text: String) {
            problems.append(ConfigFileError(path: file, line: line, key: key, text))
        }
        switch schema.kind {
        case .value:
            return
        case .anyMapping:
            if isNull(node) { return }
            guard case .mapping(let mapping) = node else { return problem(node.mark?.line, key, "must be a mapping") }
            do {
                mappings[key] = try stringEntries(of: mapping, key: key, file: file)
            } catch {
                problems.append(error)
            }
        case .sequence:
            if isNull(node) { return }
            guard case .sequence(let sequence) = node else { return problem(node.mark?.line, key, "must be a list") }
            for (index, item) in sequence.enumerated() {
                check(
                    item, against: schema.elements[0], key: "\(key)[\(index)]", file: file, mappings: &mappings,
                    problems: &problems)
            }
        case .mapping:
            if isNull(node), !key.isEmpty { return }
            guard case .mapping(let mapping) = node else {
                return problem(
                    node.mark?.line, key.isEmpty ? nil : key,
                    key.isEmpty ? "must be a mapping of keys" : "must be a mapping")
            }
            for (keyNode, value) in mapping {
                guard let name = keyNode.string else {
                    problem(keyNode.mark?.line, key.isEmpty ? nil : key, "a key must be a string")
                    continue
                }
                let path = key.isEmpty ? name : "\(key).\(name)"
                guard let field = schema.fields[name] else {
                    let suggestion = ConfigurationText.closest(to: name, among: schema.fields.keys).map {
                        " (did you mean \($0)?)"
                    }
                    problem(keyNode.mark?.line, path, "unknown key" + (suggestion ?? ""))
                    continue
                }
                check(value, against: field, key: path, file: file, mappings: &mappings, problems: &problems)
            }
        }
    }

    /// The entries of an any-key mapping, in one pass. Merge keys (`<<: *defaults`) are applied as Yams applies
    /// them: merged entries first, the mapping's own entries over them; a key given twice keeps its last value.
    private static func stringEntries(of mapping: Node.Mapping, key: String, file: String)
        throws(ConfigFileError) -> [String: String]
    {
        var merged: [String: String] = [:]
        var own: [String: String] = [:]
        own.reserveCapacity(mapping.count)
        for (keyNode, value) in mapping {
            if keyNode.tag.rawValue == Tag.Name.merge.rawValue {
                let sources: [Node] =
                    switch value {
                    case .mapping: [value]
                    case .sequence(let sequence): sequence.reversed()
                    default: []
                    }
                for case .mapping(let source) in sources {
                    for (name, value) in try stringEntries(of: source, key: key, file: file) {
                        merged[name] = value
                    }
                }
                continue
            }
            guard case .scalar(let name) = keyNode else {
                throw ConfigFileError(path: file, line: keyNode.mark?.line, key: key, "a key must be a string")
            }
            guard case .scalar(let scalar) = value else {
                throw ConfigFileError(
                    path: file, line: value.mark?.line, key: "\(key).\(name.string)",
                    "must be a single value, not a list or a mapping")
            }
            own[name.string] = scalar.string
        }
        return merged.merging(own) { _, mine in mine }
    }

    /// An absent value: empty, or YAML's plain `~` and `null`, which a section or list may be given as.
    private static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.tag == .init(.null) || scalar.string.isEmpty
            || (scalar.style == .plain && ["~", "null", "Null", "NULL"].contains(scalar.string))
    }
}

/// A configuration file that cannot be used, naming the file, the line and the key where they are known.
package struct ConfigFileError: Error, CustomStringConvertible, Sendable {
    package let path: String
    package let line: Int?
    package let key: String?
    package let problem: String
    /// The most bytes of ``description``: 64 KiB.
    package static let reportLimit = ConfigurationText.reportLimit
    /// Further problems found in the same file, each reported on its own line.
    package private(set) var others: [ConfigFileError] = []

    init(path: String, line: Int?, key: String?, _ problem: String) {
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
    }

    /// The first of `all` (which must not be empty), carrying the rest.
    init(all: [ConfigFileError]) {
        self = all[0]
        others = Array(all.dropFirst())
    }

    /// Every problem, one per line, up to 64 KiB (``report(limit:)``): what `check-config` prints and what a failed
    /// `POST /-/reload` answers.
    package var description: String { report() }

    /// Every problem, one per line, each quoting at most a short excerpt of a value; past `limit` bytes the last line
    /// counts the problems left out, so a file with a hundred thousand problems cannot make a report of megabytes.
    package func report(limit: Int = ConfigFileError.reportLimit) -> String {
        ConfigurationText.report(([self] + others).lazy.map(\.single), limit: limit)
    }

    private var single: String {
        ConfigurationText.line(path: path, line: line, key: key, problem: problem)
    }

    /// A decoding error with the key path it happened at and that node's line.
    init(decoding error: DecodingError, root: Node, path: String) {
        let web = WebConfigurationError(decoding: error, root: root, path: path)
        self.init(path: path, line: web.line, key: web.key, web.problem)
    }
}

extension YamlError {
    var markLine: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        case .duplicatedKeysInMapping(_, let context): context.mark.line
        default: nil
        }
    }

    var problemText: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): problem
        // Yams' own text quotes the whole mapping as its context: name the keys instead, each cut short.
        case .duplicatedKeysInMapping(let duplicates, _):
            "a key is given more than once in one mapping (first here): "
                + duplicates.sorted().prefix(10).map { ConfigurationText.quoted($0) }.joined(separator: ", ")
                + (duplicates.count > 10 ? " and \(duplicates.count - 10) more" : "")
        default: "\(self)"
        }
    }
}
