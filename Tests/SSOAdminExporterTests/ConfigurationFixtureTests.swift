import Foundation
import TestSupport
import Testing

@testable import SSOAdminExporter

/// Every `Tests/Data/config/*.bad.yml` is refused with the error named here, as YACE checks its `testdata`.
@Suite("invalid configuration files")
struct ConfigurationFixtureTests {
    static let folder = ExternalTools.repositoryRoot.appendingPathComponent("Tests/Data/config")

    /// What each file's error must contain after its path, `:LINE: KEY: problem` where the parser knows the line.
    static let expected: [String: String] = [
        "unknown-target-key": ":4: targets[0].colour: unknown key",
        "no-targets": "targets: must list at least one target",
        "duplicate-name": ":4: targets[1].name: \"a\" is the name of an earlier target",
        "role-arn-short-account": ":3: targets[0].role_arn: \"arn:aws:iam::12:role/x\" is not an IAM role ARN",
        "invalid-region": ":3: targets[0].regions[1]: \"Mars\" is not a valid",
        "no-regions": ":3: targets[0].regions: must list at least one region",
        "reserved-label": "targets[0].labels.region: is a label the exporter sets itself",
        "invalid-label-name": "targets[0].labels.9lives: is not a Prometheus label name",
        "external-id-without-role": "targets[0].external_id: needs role_arn",
        "interval-not-duration": ":5: collection.interval: \"soon\" is not a duration",
        "unknown-mode": "collection.mode: \"eventually\" is neither on_scrape nor background",
        "regions-not-list": "targets[0].regions: must be a list",
        "same-account-twice":
            "targets[1].regions: account 111122223333 in us-east-1 with these labels is already watched by a",
        "account-not-of-role": "targets[0].account_id: 222233334444 is not the account of role_arn",
        "not-yaml": "not valid YAML",
        "empty": "the file is empty",
        "discovery-bad-role-name": "discovery.organizations.role_name: \"bad role!\" is not an IAM role name",
        "discovery-no-regions": ":3: discovery.organizations.regions: is required",
        "discovery-regions-word": "discovery.organizations.regions: must be a list of regions or the word enabled",
        "discovery-region-twice": "discovery.organizations.regions: lists a region twice",
        "discovery-short-account":
            "discovery.organizations.include_accounts[0]: \"12345\" is not a 12-digit account ID",
        "max-concurrency-too-high": ":5: collection.max_concurrency: 5000 is outside 1..1024",
        "instance-details-not-bool": ":5: collection.instance_details: must be true or false",
        "rate-too-small": ":5: collection.account_requests_per_second: 1e-300 is outside 0.001..10000",
        "timeout-longer-than-interval": "collection.timeout: must not be longer than collection.interval",
        "duration-seconds-too-short": ":4: targets[0].duration_seconds: 60 is outside 900..43200",
        "shard-count-zero": ":6: discovery.organizations.shard.count: 0 is outside 1..1024",
        "shard-index-outside": ":6: discovery.organizations.shard.index: 3 is outside 0..2",
        "shard-unknown-key": ":6: discovery.organizations.shard.replicas: unknown key",
        "shard-not-mapping": ":5: discovery.organizations.shard: must be a mapping",
        "empty-region-interval-shorter":
            ":7: collection.empty_region_interval: must be at least collection.interval (60s)",
        "empty-region-interval-not-duration":
            ":6: collection.empty_region_interval: \"hourly\" is not a duration such as 30s or 5m",
    ]

    static func fixtures() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".bad.yml") }
            .map { String($0.dropLast(".bad.yml".count)) }
            .sorted()
    }

    @Test("every fixture has an expected error and every expected error a fixture")
    func everyFixtureIsChecked() throws {
        let names = try Self.fixtures()
        #expect(Set(names) == Set(Self.expected.keys))
    }

    @Test("each is refused, naming the file, the key and the line", arguments: try fixtures())
    func refused(name: String) throws {
        let path = Self.folder.appendingPathComponent("\(name).bad.yml").path
        let expected = try #require(Self.expected[name], "no expected error for \(name).bad.yml")
        let error = try #require(throws: ConfigFileError.self) { try TargetsConfiguration.load(path: path) }
        #expect(error.description.hasPrefix(path), "\(error)")
        #expect(error.description.contains(expected), "\(error)")
    }
}
