import AWSClient
import Yams

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How targets are collected: when scraped, or in the background on an interval.
package enum CollectionMode: String, Sendable, CaseIterable {
    /// Each scrape collects (concurrent scrapes share one collection; `--collect.min-interval` reuses a recent one).
    case onScrape = "on_scrape"
    /// Every `interval`, whatever scrapes: `/metrics` answers from the latest snapshots without calling AWS.
    case background
}

/// `--config.file`, read and checked: the targets to watch and the collection settings.
package struct TargetsConfiguration: Sendable {
    /// One entry of `targets:`: an identity (the exporter's own, or a role it assumes) in one or more regions.
    package struct Target: Sendable, Equatable {
        package var name: String
        package var role: ExporterConfiguration.AssumeRoleOptions?
        package var durationSeconds: Int?
        /// Given, or from `role_arn`; `nil` means learned from STS `GetCallerIdentity`.
        package var accountID: String?
        package var regions: [String]
        package var labels: [CollectionTarget.StaticLabel]
    }

    /// `discovery.organizations`: every account of the organization, each through a role of the same name.
    package struct Discovery: Sendable, Equatable {
        /// The role to list the organization as; `nil` lists it as the exporter's own identity.
        package var role: ExporterConfiguration.AssumeRoleOptions?
        /// The role assumed in every account: `arn:{partition}:iam::{account}:role/{roleName}`.
        package var roleName: String
        package var externalID: String?
        package var roleSessionName: String?
        package var durationSeconds: Int?
        /// `nil` means each account's enabled regions (Account `ListRegions`).
        package var regions: [String]?
        /// `nil` (absent or an empty list) keeps every account.
        package var includeAccounts: Set<String>?
        package var excludeAccounts: Set<String>
        package var accountStates: Set<String>
        package var refreshInterval: Duration
        package var labels: [CollectionTarget.StaticLabel]
        /// `shard.index` and `shard.count` as the file gives them; `--discovery.shard.index` and
        /// `--discovery.shard.count` win, and ``TargetsConfiguration/shard`` is what is used.
        package var shardIndex: Int?
        package var shardCount: Int?

        package static let defaultRefreshInterval: Duration = .seconds(3600)
    }

    package var targets: [Target]
    package var discovery: Discovery?
    package var mode: CollectionMode
    package var maxConcurrency: Int
    package var interval: Duration
    package var timeout: Duration
    package var maxStale: Duration
    /// `collection.empty_region_interval`: a target whose last collection succeeded and found no instance is
    /// collected again only after this long; `nil` collects it like the others (every `interval`, or every scrape).
    package var emptyRegionInterval: Duration?
    /// Which accounts this replica collects: the file's `discovery.organizations.shard` with the flags on top.
    package var shard: ShardAssignment = .whole
    /// The token bucket each account's AWS calls in one Region go through (the unit AWS throttles), so throttling
    /// in one account and Region slows only those calls; `nil` paces nothing (the flags' one target, which has no
    /// other account to protect).
    package var accountPacing: AccountPacing?
    /// `collection.instance_details`; `nil` when the file does not say, and `--collect.instance-details` decides.
    package var instanceDetails: Bool?
    /// What is usable but probably a mistake, such as a region the partition data does not list: `check-config`
    /// prints it and the exporter logs it at startup and on reload.
    package var warnings: [String] = []

    /// `collection.account_requests_per_second` and `collection.account_burst`.
    package struct AccountPacing: Sendable, Equatable {
        package var requestsPerSecond: Double
        package var burst: Int
    }

    /// The one target the flags define when there is no `--config.file`: the exporter's own identity (with
    /// `--aws.role-arn` already assumed by the credential chain) in `region`, named `default/REGION`, collected
    /// on scrape within `timeout` (`--collect.timeout`), unpaced, and reported as failed from its first failure.
    static func flagsTarget(region: String, accountID: String?, timeout: Duration) -> TargetsConfiguration {
        TargetsConfiguration(
            targets: [
                Target(
                    name: "default", role: nil, durationSeconds: nil, accountID: accountID, regions: [region],
                    labels: [])
            ],
            discovery: nil, mode: .onScrape, maxConcurrency: 1, interval: defaultInterval, timeout: timeout,
            maxStale: .zero, emptyRegionInterval: nil, accountPacing: nil)
    }

    package static let defaultMaxConcurrency = 64
    /// The most warnings of one kind a load reports; a file of thousands of unlisted regions gets a count after them.
    static let maxWarnings = 20
    package static let defaultInterval: Duration = .seconds(60)
    package static let defaultTimeout: Duration = .seconds(30)
    package static let defaultMaxStale: Duration = .seconds(600)
    package static let defaultAccountRequestsPerSecond = 5.0
    package static let defaultAccountBurst = 10

    /// Every account-region pair to collect, in file order: one collection target per entry and region, named
    /// `NAME/REGION`.
    package var collectionTargets: [(target: CollectionTarget, entry: Target)] {
        targets.flatMap { entry in
            entry.regions.map { region in
                (
                    CollectionTarget(
                        name: "\(entry.name)/\(region)", region: region, accountID: entry.accountID ?? "",
                        staticLabels: entry.labels),
                    entry
                )
            }
        }
    }

    /// Reads and checks `path`; every error names the file, and the key and line where they are known.
    package static func load(path: String) throws(ConfigFileError) -> TargetsConfiguration {
        let bytes: [UInt8]
        do {
            bytes = try ConfigurationFileReader.contents(of: path)
        } catch {
            throw ConfigFileError(
                path: path, line: nil, key: nil,
                error.text(
                    purpose: "--config.file",
                    advice: "check that the path names the configuration file; for thousands of accounts use "
                        + "discovery.organizations"))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigFileError(path: path, line: nil, key: nil, "is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    package static func parse(_ text: String, path: String) throws(ConfigFileError) -> TargetsConfiguration {
        let (file, root, shapeProblems) = try TargetsFile.parseDocument(text, path: path)
        func fail(_ key: String, _ problem: String) -> ConfigFileError {
            ConfigFileError(path: path, line: StrictYAML.line(of: key, in: root), key: key, problem)
        }
        var discoveryProblem: ConfigFileError?
        var discovery: Discovery?
        if let organizations = file.discovery?.organizations {
            do {
                discovery = try Self.discovery(organizations, fail: fail, path: path, root: root)
            } catch {
                discoveryProblem = error
            }
        }
        // Each target and section is checked on its own, after the unknown keys, so that one run reports every
        // problem of the file.
        var problems = shapeProblems
        // A targets or discovery section that did not decode is absent here, and already reported.
        let sectionFailed = problems.contains { problem in
            ["targets", "discovery"].contains { problem.key?.hasPrefix($0) == true }
        }
        if (file.targets ?? []).isEmpty, file.discovery?.organizations == nil, !sectionFailed {
            problems.append(fail("targets", "must list at least one target, or configure discovery.organizations"))
        }
        var names: Set<String> = []
        var identities: [String: String] = [:]
        var targets: [Target] = []
        for (position, entry) in (file.targets ?? []).enumerated() {
            do throws(ConfigFileError) {
                let key = "targets[\(file.targetPositions?[position] ?? position)]"
                guard Self.isValidName(entry.name) else {
                    throw fail(
                        "\(key).name",
                        "\(ConfigurationText.quoted(entry.name)) must be 1 to 64 letters, digits, '.', '_' or '-'")
                }
                guard names.insert(entry.name).inserted else {
                    throw fail(
                        "\(key).name", "\(ConfigurationText.quoted(entry.name)) is the name of an earlier target")
                }
                var role: ExporterConfiguration.AssumeRoleOptions?
                if let roleARN = entry.roleARN {
                    do {
                        role = try ExporterConfiguration.checkedAssumeRole(
                            roleARN: roleARN, externalID: entry.externalID, roleSessionName: entry.roleSessionName,
                            names: (
                                roleARN: "\(key).role_arn", externalID: "\(key).external_id",
                                roleSessionName: "\(key).role_session_name"
                            ))
                    } catch {
                        throw ConfigFileError(
                            path: path, line: StrictYAML.line(of: "\(key).role_arn", in: root), key: nil, error.message)
                    }
                } else {
                    for (field, value) in [
                        ("external_id", entry.externalID), ("role_session_name", entry.roleSessionName),
                        ("duration_seconds", entry.durationSeconds.map(String.init)),
                    ] where value != nil {
                        throw fail("\(key).\(field)", "needs role_arn")
                    }
                }
                if let duration = entry.durationSeconds, !(900...43_200).contains(duration) {
                    throw fail("\(key).duration_seconds", "\(duration) is outside 900..43200")
                }
                var accountID = role?.accountID
                if let given = entry.accountID {
                    guard AccountID.isValid(given) else {
                        throw fail(
                            "\(key).account_id", "\(ConfigurationText.quoted(given)) is not a 12-digit account ID")
                    }
                    if let accountID, accountID != given {
                        throw fail("\(key).account_id", "\(given) is not the account of role_arn (\(accountID))")
                    }
                    accountID = given
                }
                guard !entry.regions.isEmpty else { throw fail("\(key).regions", "must list at least one region") }
                var regions: Set<String> = []
                for (position, region) in entry.regions.enumerated() {
                    guard AWSEndpointResolver.isValidRegion(region) else {
                        throw fail(
                            "\(key).regions[\(position)]",
                            "\(ConfigurationText.quoted(region)) is not a valid AWS region name")
                    }
                    guard regions.insert(region).inserted else {
                        throw fail("\(key).regions[\(position)]", "\(region) is listed twice")
                    }
                }
                let labels = try staticLabels(entry.labels?.entries, key: "\(key).labels", fail: fail)
                // Two entries for the same account, region and labels would make the same series twice.
                if let accountID {
                    let labelText = labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
                    for region in entry.regions {
                        let identity = "\(accountID)/\(region)/\(labelText)"
                        if let earlier = identities[identity] {
                            throw fail(
                                "\(key).regions",
                                "account \(accountID) in \(region) with these labels is already watched by \(earlier)")
                        }
                        identities[identity] = entry.name
                    }
                }
                targets.append(
                    Target(
                        name: entry.name, role: role, durationSeconds: entry.durationSeconds, accountID: accountID,
                        regions: entry.regions, labels: labels))
            } catch {
                problems.append(error)
            }
        }
        problems += discoveryProblem.map { [$0] } ?? []
        let settings: TargetsConfiguration
        do {
            settings = try collectionSettings(
                file.collection, targets: targets, discovery: discovery,
                hasDiscovery: file.discovery?.organizations != nil, fail: fail)
        } catch {
            throw ConfigFileError(all: Self.inFileOrder(problems + [error]))
        }
        if !problems.isEmpty { throw ConfigFileError(all: Self.inFileOrder(problems)) }
        var checked = settings
        let regionKeys =
            (file.targets ?? []).enumerated().flatMap { position, entry in
                let index = file.targetPositions?[position] ?? position
                return entry.regions.enumerated().map { ("targets[\(index)].regions[\($0)]", $1) }
            } + (discovery?.regions ?? []).enumerated().map { ("discovery.organizations.regions[\($0)]", $1) }
        var unlisted = 0
        // Past the warnings shown, unlisted regions are only counted: the closest listed region is looked for
        // only for those shown, so that thousands of them cost no more than their lookups.
        for (key, region) in regionKeys where !AWSPartition.lists(region) {
            unlisted += 1
            if unlisted <= maxWarnings, let warning = ConfigurationText.unlistedRegionWarning(region, key: key) {
                checked.warnings.append(
                    ConfigurationText.line(
                        path: path, line: StrictYAML.line(of: key, in: root), key: nil, problem: warning))
            }
        }
        if let discovery, discovery.shardIndex.map({ $0 > 0 }) == true, discovery.shardCount == nil {
            checked.warnings.append(
                ConfigurationText.line(
                    path: path, line: StrictYAML.line(of: "discovery.organizations.shard.index", in: root), key: nil,
                    problem:
                        "discovery.organizations.shard.index without shard.count: the exporter refuses it at "
                        + "startup unless --discovery.shard.count is above it"))
        }
        if unlisted > maxWarnings {
            checked.warnings.append(
                "\(path): and \(unlisted - maxWarnings) more regions the partition data does not list")
        }
        return checked
    }

    /// The `collection:` section, with the targets already checked.
    private static func collectionSettings(
        _ collection: TargetsFile.Collection?, targets: [Target], discovery: Discovery?, hasDiscovery: Bool,
        fail: (String, String) -> ConfigFileError
    ) throws(ConfigFileError) -> TargetsConfiguration {
        func duration(_ field: String, _ text: String?, default fallback: Duration, minimum: Duration)
            throws(ConfigFileError) -> Duration
        {
            guard let text else { return fallback }
            guard let value = PrometheusDuration.parse(text) else {
                throw fail(
                    "collection.\(field)", "\(ConfigurationText.quoted(text)) is not a duration such as 30s or 5m")
            }
            guard value >= minimum else { throw fail("collection.\(field)", "must be at least \(minimum)") }
            return value
        }
        let mode: CollectionMode
        if let text = collection?.mode {
            guard let given = CollectionMode(rawValue: text) else {
                throw fail("collection.mode", "\(ConfigurationText.quoted(text)) is neither on_scrape nor background")
            }
            mode = given
        } else {
            let count = targets.reduce(0) { $0 + $1.regions.count }
            mode = count > 1 || hasDiscovery ? .background : .onScrape
        }
        let maxConcurrency = collection?.maxConcurrency ?? defaultMaxConcurrency
        guard (1...1024).contains(maxConcurrency) else {
            throw fail("collection.max_concurrency", "\(maxConcurrency) is outside 1..1024")
        }
        let rate = collection?.accountRequestsPerSecond ?? defaultAccountRequestsPerSecond
        guard rate.isFinite, rate >= 0.001, rate <= 10_000 else {
            throw fail("collection.account_requests_per_second", "\(rate) is outside 0.001..10000")
        }
        let burst = collection?.accountBurst ?? defaultAccountBurst
        guard (1...10_000).contains(burst) else {
            throw fail("collection.account_burst", "\(burst) is outside 1..10000")
        }
        let interval = try duration(
            "interval", collection?.interval, default: defaultInterval, minimum: .seconds(1))
        let timeout = try duration("timeout", collection?.timeout, default: defaultTimeout, minimum: .milliseconds(100))
        if mode == .background, timeout > interval {
            throw fail("collection.timeout", "must not be longer than collection.interval in background mode")
        }
        var emptyRegionInterval: Duration?
        if let text = collection?.emptyRegionInterval {
            let value = try duration("empty_region_interval", text, default: interval, minimum: .seconds(1))
            // In the background a Region is looked at once a round: a shorter interval could not be kept.
            if mode == .background, value < interval {
                throw fail(
                    "collection.empty_region_interval",
                    "must be at least collection.interval (\(collection?.interval ?? "60s")) in background mode")
            }
            emptyRegionInterval = value
        }
        return TargetsConfiguration(
            targets: targets, discovery: discovery, mode: mode, maxConcurrency: maxConcurrency, interval: interval,
            timeout: timeout,
            maxStale: try duration("max_stale", collection?.maxStale, default: defaultMaxStale, minimum: .zero),
            emptyRegionInterval: emptyRegionInterval,
            accountPacing: AccountPacing(requestsPerSecond: rate, burst: burst),
            instanceDetails: collection?.instanceDetails)
    }

    static func discovery(
        _ file: TargetsFile.Organizations, fail: (String, String) -> ConfigFileError, path: String, root: Node
    ) throws(ConfigFileError) -> Discovery {
        let key = "discovery.organizations"
        var role: ExporterConfiguration.AssumeRoleOptions?
        if let roleARN = file.roleARN {
            do {
                role = try ExporterConfiguration.checkedAssumeRole(
                    roleARN: roleARN, externalID: nil, roleSessionName: nil,
                    names: ("\(key).role_arn", "\(key).external_id", "\(key).role_session_name"))
            } catch {
                throw ConfigFileError(
                    path: path, line: StrictYAML.line(of: "\(key).role_arn", in: root), key: nil, error.message)
            }
        }
        guard (1...64).contains(file.roleName.count),
            file.roleName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+=,.@_-/".contains($0)) })
        else {
            throw fail(
                "\(key).role_name", "\(ConfigurationText.quoted(file.roleName)) is not an IAM role name (with its path)"
            )
        }
        // The member role's external ID and session name are checked as a role ARN's would be.
        do {
            _ = try ExporterConfiguration.checkedAssumeRole(
                roleARN: "arn:aws:iam::000000000000:role/\(file.roleName)", externalID: file.externalID,
                roleSessionName: file.roleSessionName,
                names: ("\(key).role_name", "\(key).external_id", "\(key).role_session_name"))
        } catch {
            throw ConfigFileError(path: path, line: StrictYAML.line(of: key, in: root), key: nil, error.message)
        }
        if let duration = file.durationSeconds, !(900...43_200).contains(duration) {
            throw fail("\(key).duration_seconds", "\(duration) is outside 900..43200")
        }
        var regions: [String]?
        switch file.regions {
        case .enabled(let word):
            guard word == "enabled" else {
                throw fail(
                    "\(key).regions",
                    "must be a list of regions or the word enabled, not \(ConfigurationText.quoted(word))")
            }
        case .listed(let listed):
            guard !listed.isEmpty else { throw fail("\(key).regions", "must list at least one region") }
            for (position, region) in listed.enumerated() where !AWSEndpointResolver.isValidRegion(region) {
                throw fail(
                    "\(key).regions[\(position)]", "\(ConfigurationText.quoted(region)) is not a valid AWS region name")
            }
            guard Set(listed).count == listed.count else { throw fail("\(key).regions", "lists a region twice") }
            regions = listed
        }
        func accounts(_ field: String, _ list: [String]?) throws(ConfigFileError) -> Set<String>? {
            guard let list else { return nil }
            for (position, account) in list.enumerated() where !AccountID.isValid(account) {
                throw fail(
                    "\(key).\(field)[\(position)]", "\(ConfigurationText.quoted(account)) is not a 12-digit account ID")
            }
            return Set(list)
        }
        let states = file.accountStates ?? ["ACTIVE"]
        let knownStates: Set<String> = ["ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "PENDING_ACTIVATION", "CLOSED"]
        for (position, state) in states.enumerated() where !knownStates.contains(state) {
            throw fail(
                "\(key).account_states[\(position)]",
                "\(ConfigurationText.quoted(state)) is not an account state (\(knownStates.sorted().joined(separator: ", ")))"
            )
        }
        var refresh = Discovery.defaultRefreshInterval
        if let text = file.refreshInterval {
            guard let value = PrometheusDuration.parse(text), value >= .seconds(60) else {
                throw fail(
                    "\(key).refresh_interval", "\(ConfigurationText.quoted(text)) must be a duration of at least 1m")
            }
            refresh = value
        }
        let labels = try staticLabels(file.labels?.entries, key: "\(key).labels", fail: fail)
        if let count = file.shard?.count, !(1...ShardAssignment.maxCount).contains(count) {
            throw fail("\(key).shard.count", "\(count) is outside 1..\(ShardAssignment.maxCount)")
        }
        if let index = file.shard?.index {
            let count = file.shard?.count
            guard index >= 0, count.map({ index < $0 }) ?? true else {
                throw fail(
                    "\(key).shard.index",
                    "\(index) is outside 0..\(count.map { String($0 - 1) } ?? "count-1") (one index per replica, from 0)"
                )
            }
        }
        return Discovery(
            role: role, roleName: file.roleName, externalID: file.externalID, roleSessionName: file.roleSessionName,
            durationSeconds: file.durationSeconds, regions: regions,
            // An empty list filters nothing, as an absent one: `include_accounts: []` left in a copied example
            // must not watch no account at all.
            includeAccounts: try accounts("include_accounts", file.includeAccounts).flatMap { $0.isEmpty ? nil : $0 },
            excludeAccounts: try accounts("exclude_accounts", file.excludeAccounts) ?? [],
            accountStates: Set(states), refreshInterval: refresh, labels: labels, shardIndex: file.shard?.index,
            shardCount: file.shard?.count)
    }

    /// Problems by line, as a reader goes through the file; those without a line last, each kind in the order found.
    static func inFileOrder(_ problems: [ConfigFileError]) -> [ConfigFileError] {
        problems.enumerated().sorted { ($0.element.line ?? .max, $0.offset) < ($1.element.line ?? .max, $1.offset) }
            .map(\.element)
    }

    /// `labels:` of a target or of discovery, sorted by name.
    static func staticLabels(
        _ labels: [String: String]?, key: String, fail: (String, String) -> ConfigFileError
    ) throws(ConfigFileError) -> [CollectionTarget.StaticLabel] {
        var checked: [CollectionTarget.StaticLabel] = []
        for (name, value) in (labels ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard isValidLabelName(name) else {
                throw fail("\(key).\(name)", "is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
            }
            guard !CollectionTarget.reservedLabelNames.contains(name) else {
                throw fail("\(key).\(name)", "is a label the exporter sets itself")
            }
            guard value.count <= 256, !value.contains(where: { $0.isNewline }) else {
                throw fail("\(key).\(name)", "must be one line of at most 256 characters")
            }
            checked.append(CollectionTarget.StaticLabel(name: name, value: value))
        }
        return checked
    }

    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }

    static func isValidLabelName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_", !name.hasPrefix("__") else {
            return false
        }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }
}

extension StrictYAML {
    /// The line of the node at a dotted key path such as `targets[2].regions[0]`, for errors found after decoding.
    static func line(of keyPath: String, in root: Node) -> Int? {
        var node: Node? = root
        var line = root.mark?.line
        for part in keyPath.split(separator: ".") {
            var name = Substring(part)
            var indices: [Int] = []
            while let open = name.lastIndex(of: "["), name.hasSuffix("]"),
                let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)])
            {
                indices.insert(index, at: 0)
                name = name[..<open]
            }
            if let mapping = node?.mapping {
                if let key = mapping.keys.first(where: { $0.string == String(name) }) {
                    line = key.mark?.line ?? line
                }
                node = mapping[String(name)]
            } else {
                node = nil
            }
            for index in indices {
                node = node?.sequence.flatMap { index < $0.count ? $0[index] : nil }
                line = node?.mark?.line ?? line
            }
        }
        return node?.mark?.line ?? line
    }
}
