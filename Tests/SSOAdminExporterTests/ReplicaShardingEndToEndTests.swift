import AWSClient
import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

@testable import SSOAdminExporter

extension ExternalProgramTests {
    @Suite("three exporter replicas split an organization, each scraped by its own Prometheus over /sd and /probe")
    struct ReplicaShardingEndToEndTests {
        static let replicas = 3

        @Test("every account is collected by exactly one replica, and assumed by no other")
        func eachAccountOnce() async throws {
            guard ExternalTools.shouldRun("prometheus") else { return }
            let prometheusPath = try #require(ExternalTools.path("prometheus"), "apt-get install prometheus")
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("sso-admin-replicas-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }

            let regions = ["us-east-1", "eu-west-1"]
            let accounts = 24
            // Two accounts have one Region enabled: discovery's ListRegions decides their targets.
            let simulator = OrganizationSimulator.generated(
                accounts: accounts, regions: regions, enabledRegions: [3: ["eu-west-1"], 7: ["us-east-1"]])
            let server = try await FakeHTTPServer.start { await simulator.handle($0) }
            let accountIDs = (0..<accounts).map { String(100_000_000_000 + $0) }
            let expected = Set(
                accountIDs.enumerated().flatMap { index, account in
                    ([3: ["eu-west-1"], 7: ["us-east-1"]][index] ?? regions).map { "\(account)/\($0)" }
                })
            // Every replica reads the same file, with the count in it; each is given its index on the command line,
            // as the StatefulSet example does.
            let file = directory.appendingPathComponent("config.yml")
            try """
            discovery:
              organizations:
                role_name: \(SimulatedOrganization.role)
                regions: enabled
                shard:
                  count: \(Self.replicas)
            collection:
              interval: 2s
              timeout: 2s

            """.write(to: file, atomically: true, encoding: .utf8)
            let shipped = try String(
                contentsOf: ExternalTools.repositoryRoot.appendingPathComponent(
                    "deploy/prometheus/prometheus-multi-target.yml"), encoding: .utf8)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var exporters: [RunningExporter] = []
            var processes: [ExternalProcess] = []

            try await withAsyncCleanup {
                for index in 0..<Self.replicas {
                    exporters.append(
                        try RunningExporter(
                            arguments: ["--config.file", file.path, "--discovery.shard.index=\(index)"],
                            environment: ShardingEndToEndTests.environment(simulator, server, home: directory)))
                }
                var apis: [PrometheusAPI] = []
                for (index, exporter) in exporters.enumerated() {
                    try await exporter.waitUntilReady()
                    let config = shipped.replacing("localhost:10711", with: "127.0.0.1:\(exporter.port)")
                        .replacing("scrape_interval: 60s", with: "scrape_interval: 1s")
                        .replacing("scrape_timeout: 30s", with: "scrape_timeout: 1s")
                        .replacing("refresh_interval: 5m", with: "refresh_interval: 1s")
                        .replacing(#/rule_files:\n  - rules.yml\n/#, with: "")
                    #expect(config.contains("127.0.0.1:\(exporter.port)/sd"), "the shipped file no longer uses /sd")
                    let (process, api) = try ShardingEndToEndTests.startPrometheus(
                        prometheusPath, number: index, config: config, in: directory, http: http)
                    processes.append(process)
                    apis.append(api)
                }
                let logs = {
                    processes.map { $0.logTail(1_000) }.joined(separator: "\n")
                        + exporters.map { $0.log.suffix(3_000) }.joined(separator: "\n")
                }

                // Until the servers between them have a successful probe of every target.
                let perReplica = try await eventually(timeout: .seconds(90)) { () -> [[String]]? in
                    var replicas: [[String]] = []
                    for api in apis {
                        guard let results = try? await api.query("aws_sso_admin_collect_success == 1") else {
                            return nil
                        }
                        replicas.append(
                            results.map {
                                "\($0["metric"]["account_id"].string ?? "?")/\($0["metric"]["region"].string ?? "?")"
                            })
                    }
                    return Set(replicas.flatMap { $0 }) == expected ? replicas : nil
                }
                let replicas = try #require(perReplica, "the replicas never covered every target\n\(logs())")
                #expect(replicas.flatMap { $0 }.count == expected.count, "a target was probed twice: \(replicas)")
                #expect(replicas.allSatisfy { !$0.isEmpty }, "a replica got no account: \(replicas)")
                for (index, targets) in replicas.enumerated() {
                    for target in targets {
                        let account = String(target.prefix(12))
                        #expect(
                            ShardAssignment.shard(of: account, count: Self.replicas) == index,
                            "\(target) was collected by replica \(index)")
                    }
                }
                // No account was looked into by two replicas: one AssumeRole each, by its own replica.
                for account in accountIDs {
                    #expect(simulator.assumeRoles(into: account) == 1, "\(account)\n\(logs())")
                }
                for (index, exporter) in exporters.enumerated() {
                    let metrics = try await exporter.metrics()
                    #expect(
                        metrics.value(
                            "aws_sso_admin_exporter_shard_info", ["index": "\(index)", "count": "\(Self.replicas)"])
                            == 1)
                    // /metrics and /sd answer for the replica's own accounts only.
                    let collected = Set(
                        metrics.samples("aws_sso_admin_collect_success").map { $0.labels["account_id"] })
                    #expect(collected == Set(replicas[index].map { String($0.prefix(12)) }), "replica \(index)")
                    let sd = try #require(await exporter.get("/sd"))
                    let groups = try #require(
                        try JSONSerialization.jsonObject(with: Data(sd.body.readableBytesView)) as? [[String: Any]])
                    #expect(groups.count == replicas[index].count, "replica \(index): \(groups.count) targets in /sd")
                    #expect(exporter.log.contains("shard_count=\(Self.replicas)"), "\(exporter.log.prefix(2_000))")
                }
            } cleanup: {
                for process in processes { process.stop() }
                for exporter in exporters where exporter.process.isRunning {
                    kill(exporter.process.processIdentifier, SIGTERM)
                    _ = try? await exporter.waitForExit(within: .seconds(10))
                }
                await server.stop()
                try await http.shutdown()
            }
        }
    }
}
