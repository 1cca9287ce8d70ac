import Foundation
import SSOAdminExporter
import TestSupport
import Testing

/// The whole `/metrics` page for a fixed set of instances, against `Tests/Data/exposition/e2e-output.prom`, as
/// node_exporter checks its `e2e-output.txt`: every family, its TYPE and HELP, every series and, where they do not
/// depend on time or the machine, its value. Both sides are parsed; the text is never compared.
///
/// After an intended change, write the file anew with `SSO_ADMIN_EXPORTER_UPDATE_GOLDEN=1 swift test --filter
/// GoldenExpositionTests` (the test then fails once, saying so) and review its diff.
@Suite("golden exposition")
struct GoldenExpositionTests {
    static let path = ExternalTools.repositoryRoot.appendingPathComponent("Tests/Data/exposition/e2e-output.prom")

    /// Families whose values depend on the clock, the scheduler or the machine: their series must match, their
    /// values need not.
    static let timeDependent: Set<String> = [
        "aws_sso_admin_instance_age_seconds", "aws_sso_admin_collect_duration_seconds",
        "aws_sso_admin_collect_last_success_timestamp_seconds", "aws_sso_admin_api_request_duration_seconds_bucket",
        "aws_sso_admin_api_request_duration_seconds_sum", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_start_time_seconds",
        "process_open_fds", "process_max_fds",
    ]

    struct Series: Hashable, CustomStringConvertible {
        let name: String
        let labels: [String]
        var description: String { "\(name){\(labels.joined(separator: ","))}" }
    }

    static func series(_ parsed: ParsedExposition) -> [Series: Double] {
        var result: [Series: Double] = [:]
        for sample in parsed.samples {
            let labels = sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }
            result[Series(name: sample.name, labels: labels)] = sample.value
        }
        return result
    }

    /// Five instances, one of each status; the account owns four of them, whose details cover a failed change of a
    /// customer-managed key, a key without details, a replica Region being added and one listed in an unknown status.
    static let instances: [FakeInstance] = {
        var instances = DeadlineTests.CollectionTests.mixed
        instances[0].encryption = .customerManaged("UPDATE_FAILED", reason: "The KMS key is disabled")
        instances[0].regions = [
            FakeRegion("us-east-1", addedDate: 1_600_000_000, isPrimary: true),
            FakeRegion("eu-west-1", status: "ADDING", addedDate: 1_700_000_000),
        ]
        instances[1].encryption = nil
        instances[2].regions = [FakeRegion("us-east-1", status: "MOVING", addedDate: nil, isPrimary: true)]
        instances[3].ownerAccountId = "210987654321"
        return instances
    }()

    @Test("/metrics for five instances, one of each status, matches the golden file")
    func matchesGoldenFile() async throws {
        try await ExporterHarness.with(instances: Self.instances) { harness in
            let text = try await harness.page.scrapeText(clock: harness.clock)
            if ProcessInfo.processInfo.environment["SSO_ADMIN_EXPORTER_UPDATE_GOLDEN"] == "1" {
                try text.write(to: Self.path, atomically: true, encoding: .utf8)
                Issue.record("wrote \(Self.path.path); review its diff and run again without the variable")
                return
            }
            let actual = try ExpositionParser.parse(text)
            let golden = try ExpositionParser.parse(String(contentsOf: Self.path, encoding: .utf8))
            #expect(actual.types == golden.types)
            #expect(actual.help == golden.help)
            let actualSeries = Self.series(actual)
            let goldenSeries = Self.series(golden)
            let missing = Set(goldenSeries.keys).subtracting(actualSeries.keys)
            let unexpected = Set(actualSeries.keys).subtracting(goldenSeries.keys)
            #expect(
                missing.isEmpty, "series in the golden file but not served: \(missing.sorted { "\($0)" < "\($1)" })")
            #expect(unexpected.isEmpty, "series served but not in the golden file: \(unexpected)")
            for (series, value) in goldenSeries where !Self.timeDependent.contains(series.name) {
                guard let served = actualSeries[series] else { continue }
                #expect(served == value || (served.isNaN && value.isNaN), "\(series): \(served), golden \(value)")
            }
            // Every family, the instance details' included, as Prometheus' own linter reads it.
            if ExternalTools.shouldRun("promtool") {
                let promtool = try #require(ExternalTools.path("promtool"), "promtool is required under CI=true")
                let (status, problems) = try await ExternalTools.runDetached(
                    promtool, ["check", "metrics"], input: Data(text.utf8))
                #expect(status == 0 && problems.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(problems)")
            }
        }
    }
}
