import AWSClient
import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

extension ExternalProgramTests {
    @Suite("an organization split across three real Prometheus servers by hashmod over /sd and /probe")
    struct ShardingEndToEndTests {
        static let shards = 3

        @Test("every target is scraped by exactly one shard, and only once")
        func eachTargetOnce() async throws {
            guard ExternalTools.shouldRun("prometheus") else { return }
            let prometheusPath = try #require(ExternalTools.path("prometheus"), "apt-get install prometheus")
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("sso-admin-shards-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }

            let regions = ["us-east-1", "eu-west-1"]
            let accounts = 12
            let simulator = OrganizationSimulator.generated(accounts: accounts, regions: regions)
            let server = try await FakeHTTPServer.start { await simulator.handle($0) }
            let targetsFile = directory.appendingPathComponent("targets.yml")
            try
                (SimulatedOrganization.targetsYAML(simulator, accounts: accounts, regions: regions)
                + "collection:\n  mode: on_scrape\n").write(to: targetsFile, atomically: true, encoding: .utf8)
            let expected = 1 + (accounts - 1) * regions.count
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var processes: [ExternalProcess] = []

            try await withAsyncCleanup {
                let exporter = try RunningExporter(
                    arguments: ["--config.file", targetsFile.path],
                    environment: Self.environment(simulator, server, home: directory))
                try await exporter.waitUntilReady()

                // The shipped sharded configuration, with this exporter's address and each server's shard number.
                let shipped = try String(
                    contentsOf: ExternalTools.repositoryRoot.appendingPathComponent(
                        "deploy/prometheus/prometheus-sharded.yml"), encoding: .utf8)
                var apis: [PrometheusAPI] = []
                for shard in 0..<Self.shards {
                    let (process, api) = try Self.startPrometheus(
                        prometheusPath, number: shard,
                        config: try Self.shardConfiguration(shipped, shard: shard, exporterPort: exporter.port),
                        in: directory, http: http)
                    processes.append(process)
                    apis.append(api)
                }
                let logs = { processes.map { $0.logTail(1_500) }.joined(separator: "\n") + exporter.log }

                // Until every shard has scraped all of its targets once: the union covers every target.
                let perShard = try await eventually(timeout: .seconds(60)) { () -> [[String]]? in
                    var shards: [[String]] = []
                    for api in apis {
                        // A Prometheus still starting answers in plain text: not yet, rather than a failure.
                        guard let results = try? await api.query("aws_sso_admin_collect_success") else { return nil }
                        shards.append(
                            results.map {
                                "\($0["metric"]["account_id"].string ?? "?")/\($0["metric"]["region"].string ?? "?")"
                            })
                    }
                    return shards.reduce(0) { $0 + $1.count } >= expected ? shards : nil
                }
                let shards = try #require(perShard, "the shards never saw every target\n\(logs())")
                let all = shards.flatMap { $0 }
                #expect(all.count == expected, "\(shards)")
                #expect(Set(all).count == expected, "a target was scraped by two shards: \(shards)")
                #expect(shards.allSatisfy { !$0.isEmpty }, "a shard got no target: \(shards)")
                // Each series came from its own probe, whose instance label is the target name.
                for api in apis {
                    let up = try await api.query("up{job=\"sso-admin-exporter\"}")
                    #expect(up.allSatisfy { $0["value"].array?.last?.string == "1" }, "\(up)")
                    let success = try await api.query("aws_sso_admin_collect_success == 0")
                    #expect(success.isEmpty, "\(success)")
                }
                // No AWS call repeated for another shard: each target's ListInstances count matches its probes.
                #expect(simulator.calls("ListInstances") >= expected)
            } cleanup: {
                for process in processes { process.stop() }
                await server.stop()
                try await http.shutdown()
            }
        }

        @Test("SIGHUP reloads --config.file in the running binary; check-config exits 0 or 1 with every problem")
        func hangupReloadsTargets() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1"])
            let server = try await FakeHTTPServer.start { await simulator.handle($0) }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("targets.yml")
            try SimulatedOrganization.targetsYAML(simulator, accounts: 2, regions: ["us-east-1"])
                .write(to: file, atomically: true, encoding: .utf8)
            let binary = try #require(ExternalProgramTests.BinaryTests.binary)
            let checked = try await ExternalTools.runDetached(binary, ["check-config", "--config.file", file.path])
            #expect(checked.status == 0, "\(checked.output)")
            try await withAsyncCleanup {
                let exporter = try RunningExporter(
                    arguments: ["--config.file", file.path],
                    environment: Self.environment(simulator, server, home: directory))
                try await exporter.waitUntilReady()
                func targets() async throws -> Int? {
                    guard let answer = await exporter.get("/sd") else { return nil }
                    return (try JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [Any])?
                        .count
                }
                #expect(try await targets() == 2)
                try SimulatedOrganization.targetsYAML(simulator, accounts: 3, regions: ["us-east-1"])
                    .write(to: file, atomically: true, encoding: .utf8)
                kill(exporter.process.processIdentifier, SIGHUP)
                let reloaded = try await eventually(timeout: .seconds(10)) { try await targets() == 3 ? true : nil }
                #expect(reloaded == true, "\(exporter.log)")

                try "targets:\n  - name: x\n    regions: [Mars]\n  - name: x\n    regions: [us-east-1]\n"
                    .write(to: file, atomically: true, encoding: .utf8)
                let broken = try await ExternalTools.runDetached(binary, ["check-config", "--config.file", file.path])
                #expect(broken.status == 1)
                #expect(broken.output.contains("targets[0].regions[0]: \"Mars\""), "\(broken.output)")
                #expect(broken.output.contains("targets[1].name: \"x\" is the name of an earlier target"))
                kill(exporter.process.processIdentifier, SIGHUP)
                let failed = try await eventually(timeout: .seconds(10)) { () -> Bool? in
                    let metrics = try await exporter.metrics()
                    return metrics.value("aws_sso_admin_exporter_config_last_reload_successful") == 0 ? true : nil
                }
                #expect(failed == true)
                #expect(try await targets() == 3)
            } cleanup: {
                await server.stop()
            }
        }

        /// The exporter's environment against the simulator, as its management account.
        static func environment(_ simulator: OrganizationSimulator, _ server: FakeHTTPServer, home: URL) -> [String:
            String]
        {
            [
                "AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": simulator.managementCredentials.accessKeyID,
                "AWS_SECRET_ACCESS_KEY": simulator.managementCredentials.secretAccessKey,
                "AWS_EC2_METADATA_DISABLED": "true", "HOME": home.path,
            ]
        }

        /// A Prometheus server numbered `number` on a free loopback port, with `config` and its data in `directory`.
        static func startPrometheus(
            _ executable: String, number: Int, config: String, in directory: URL, http: HTTPClient
        ) throws -> (ExternalProcess, PrometheusAPI) {
            let port = try ExternalTools.freeLoopbackPort()
            let file = directory.appendingPathComponent("prometheus-\(number).yml")
            try config.write(to: file, atomically: true, encoding: .utf8)
            let process = try ExternalProcess(
                name: "prometheus-\(number)", executable: executable,
                arguments: [
                    "--config.file=\(file.path)",
                    "--storage.tsdb.path=\(directory.appendingPathComponent("tsdb-\(number)").path)",
                    "--web.listen-address=127.0.0.1:\(port)",
                ],
                logFile: directory.appendingPathComponent("prometheus-\(number).log"))
            return (process, PrometheusAPI(http: http, base: "http://127.0.0.1:\(port)"))
        }

        static func shardConfiguration(_ shipped: String, shard: Int, exporterPort: Int) throws -> String {
            var config = shipped.replacing("localhost:10711", with: "127.0.0.1:\(exporterPort)")
                .replacing("regex: \"0\"", with: "regex: \"\(shard)\"")
                .replacing("shard: \"0\"", with: "shard: \"\(shard)\"")
                .replacing("scrape_interval: 60s", with: "scrape_interval: 1s")
                .replacing("scrape_timeout: 30s", with: "scrape_timeout: 1s")
                .replacing("refresh_interval: 5m", with: "refresh_interval: 1s")
            // No rules or Alertmanager here: this test is about who scrapes what.
            config = config.replacing(#/rule_files:\n  - rules.yml\n/#, with: "")
            #expect(config.contains("regex: \"\(shard)\""), "the shipped file no longer has the shard's keep rule")
            #expect(config.contains("modulus: \(shards)"))
            return config
        }
    }
}
