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
        var labels: [String: String]?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case regions, labels
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
        var labels: [String: String]?

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

        enum CodingKeys: String, CodingKey, CaseIterable {
            case mode, interval, timeout
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
                    uniqueKeysWithValues: Target.CodingKeys.allCases.map { key -> (String, StrictYAML.Schema) in
                        switch key {
                        case .labels: (key.rawValue, .anyMapping)
                        case .regions: (key.rawValue, .sequence(.value))
                        default: (key.rawValue, .value)
                        }
                    }))),
        "discovery": .mapping([
            "organizations": .mapping(
                Dictionary(
                    uniqueKeysWithValues: Organizations.CodingKeys.allCases.map { key -> (String, StrictYAML.Schema) in
                        switch key {
                        case .labels: (key.rawValue, .anyMapping)
                        case .includeAccounts, .excludeAccounts, .accountStates: (key.rawValue, .sequence(.value))
                        default: (key.rawValue, .value)
                        }
                    }))
        ]),
        "collection": .mapping(
            Dictionary(uniqueKeysWithValues: Collection.CodingKeys.allCases.map { ($0.rawValue, .value) })),
    ])

    static func parse(_ text: String, path: String) throws(ConfigFileError) -> TargetsFile {
        let node = try StrictYAML.compose(text, path: path, schema: schema)
        do {
            return try YAMLDecoder().decode(TargetsFile.self, from: node)
        } catch let error as DecodingError {
            throw ConfigFileError(decoding: error, root: node, path: path)
        } catch {
            throw ConfigFileError(path: path, line: nil, key: nil, "cannot be read: \(error)")
        }
    }
}

/// Strict reading of YAML configuration: every mapping's keys are checked against a schema before decoding, so a
/// misspelt key is an error with its line instead of a setting silently left at its default.
enum StrictYAML {
    static let emptyFile = "the file is empty"

    /// What a node may be. A struct holding its children in collections rather than an `indirect enum`: the enum's
    /// boxes are reached through pointers with the case packed into their spare bits, which LeakSanitizer cannot
    /// follow, so every fuzzing run reported the schema constants as leaked.
    struct Schema: Sendable {
        enum Kind: Sendable {
            /// These keys only, each with its own schema.
            case mapping
            /// Any string keys (labels, header names), checked after decoding.
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

    static func compose(_ text: String, path: String, schema: Schema) throws(ConfigFileError) -> Node {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigFileError(path: path, line: error.markLine, key: nil, "not valid YAML: \(error.problemText)")
        } catch {
            throw ConfigFileError(path: path, line: nil, key: nil, "not valid YAML")
        }
        guard let node else { throw ConfigFileError(path: path, line: nil, key: nil, emptyFile) }
        try check(node, against: schema, key: "", file: path)
        return node
    }

    private static func check(_ node: Node, against schema: Schema, key: String, file: String)
        throws(ConfigFileError)
    {
        switch schema.kind {
        case .value:
            return
        case .anyMapping:
            if node.mapping == nil, !isNull(node) {
                throw ConfigFileError(path: file, line: node.mark?.line, key: key, "must be a mapping")
            }
        case .sequence:
            if isNull(node) { return }
            guard case .sequence(let sequence) = node else {
                throw ConfigFileError(path: file, line: node.mark?.line, key: key, "must be a list")
            }
            for (index, item) in sequence.enumerated() {
                try check(item, against: schema.elements[0], key: "\(key)[\(index)]", file: file)
            }
        case .mapping:
            if isNull(node), !key.isEmpty { return }
            guard case .mapping(let mapping) = node else {
                throw ConfigFileError(
                    path: file, line: node.mark?.line, key: key.isEmpty ? nil : key,
                    key.isEmpty ? "must be a mapping of keys" : "must be a mapping")
            }
            for (keyNode, value) in mapping {
                guard let name = keyNode.string else {
                    throw ConfigFileError(path: file, line: keyNode.mark?.line, key: key, "a key must be a string")
                }
                let path = key.isEmpty ? name : "\(key).\(name)"
                guard let field = schema.fields[name] else {
                    throw ConfigFileError(path: file, line: keyNode.mark?.line, key: path, "unknown key")
                }
                try check(value, against: field, key: path, file: file)
            }
        }
    }

    private static func isNull(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node { return scalar.tag == .init(.null) || scalar.string.isEmpty }
        return false
    }
}

/// A configuration file that cannot be used, naming the file, the line and the key where they are known.
public struct ConfigFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let line: Int?
    public let key: String?
    public let problem: String
    /// Further problems found in the same file, each reported on its own line.
    public private(set) var others: [ConfigFileError] = []

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

    /// Every problem, one per line.
    public var description: String {
        ([self.single] + others.map(\.single)).joined(separator: "\n")
    }

    private var single: String {
        let location = line.map { "\(path):\($0)" } ?? path
        return key.map { "\(location): \($0): \(problem)" } ?? "\(location): \(problem)"
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
        default: nil
        }
    }

    var problemText: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): problem
        default: "\(self)"
        }
    }
}
