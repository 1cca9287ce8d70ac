import AWSClient
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport
import Testing

/// The whole alerting path with the real programs: a fake sso-admin with a CREATE_FAILED instance, the exporter
/// binary, Prometheus loading the shipped rules (with `for` shortened in a copy), Alertmanager, and a webhook
/// receiver served by the test. Also runs every dashboard query against that Prometheus.
extension ExternalProgramTests {
    @Suite("exporter → Prometheus → rules → Alertmanager → receiver", .serialized)
    struct AlertingEndToEndTests {
        static let failedARN = "arn:aws:sso:::instance/ssoins-72230f6aa8ab4f83"
        static let activeARN = "arn:aws:sso:::instance/ssoins-0c1d2e3f4a5b6c7d"
        static let reason = "KMS key arn:aws:kms:us-east-1:210987654321:key/1 is not accessible"
        static var alertmanager: String? {
            ExternalTools.path("prometheus-alertmanager") ?? ExternalTools.path("alertmanager")
        }

        static var toolsPresent: Bool {
            ExternalTools.isCI || (ExternalTools.path("prometheus") != nil && alertmanager != nil)
        }

        static let instances = [
            FakeInstance(
                instanceArn: failedARN, identityStoreId: "d-9067c1f2a3", ownerAccountId: "210987654321",
                name: "payments", createdDate: 1_700_000_000, status: "CREATE_FAILED", statusReason: reason),
            FakeInstance(
                instanceArn: activeARN, identityStoreId: "d-9067aaaaaa", ownerAccountId: "111122223333",
                name: "organization", createdDate: 1_600_000_000, status: "ACTIVE"),
            // The exporter's own account (the fake STS's) owns this one, so DescribeInstance and ListRegions read
            // its key, whose change failed, and a replica Region that stays ADDING.
            FakeInstance(
                instanceArn: ownedARN, identityStoreId: "d-9067bbbbbb", ownerAccountId: "123456789012",
                name: "own", createdDate: 1_650_000_000, status: "ACTIVE",
                encryption: .customerManaged("UPDATE_FAILED", reason: keyReason, key: keyARN),
                regions: [
                    FakeRegion("us-east-1", addedDate: 1_650_000_000, isPrimary: true),
                    FakeRegion("eu-west-1", status: "ADDING", addedDate: 1_700_000_000),
                ]),
        ]
        static let ownedARN = "arn:aws:sso:::instance/ssoins-5e6f7a8b9c0d1e2f"
        static let keyARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        static let keyReason = "The KMS key is disabled"
        /// The alerts this test follows from Prometheus to the receiver and back, with the instance each is about.
        static let followed = [
            ("SSOAdminInstanceCreateFailed", failedARN), ("SSOAdminInstanceEncryptionUpdateFailed", ownedARN),
            ("SSOAdminInstanceRegionChangeStuck", ownedARN),
        ]

        @Test(
            "CREATE_FAILED, a failed key change and a stuck Region alert, reach the receiver, resolve; every dashboard query returns data",
            .enabled(if: toolsPresent), .timeLimit(.minutes(2)))
        func createFailedTravelsToTheReceiver() async throws {
            let prometheusPath = try #require(ExternalTools.path("prometheus"), "apt-get install prometheus")
            let alertmanagerPath = try #require(Self.alertmanager, "apt-get install prometheus-alertmanager")
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("sso-admin-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }

            let service = FakeSSOAdminService(instances: Self.instances)
            let sso = try await FakeHTTPServer.start { await service.handle($0) }
            let sts = FakeSTSService()
            let stsServer = try await FakeHTTPServer.start { await sts.handle($0) }
            let receiver = WebhookReceiver()
            let hook = try await FakeHTTPServer.start { await receiver.handle($0) }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var processes: [ExternalProcess] = []

            try await withAsyncCleanup {
                let exporter = try RunningExporter(
                    arguments: ["--aws.endpoint-url", sso.endpoint],
                    environment: try Self.exporterEnvironment(in: directory).merging([
                        "AWS_ENDPOINT_URL_STS": stsServer.endpoint
                    ]) { $1 })
                try await exporter.waitUntilReady()

                let alertmanagerPort = try ExternalTools.freeLoopbackPort()
                let alertmanager = try Self.startAlertmanager(
                    alertmanagerPath, port: alertmanagerPort, webhook: "http://127.0.0.1:\(hook.port)/alerts",
                    in: directory)
                processes.append(alertmanager)
                let prometheusPort = try ExternalTools.freeLoopbackPort()
                let prometheus = try Self.startPrometheus(
                    prometheusPath, port: prometheusPort, exporterPort: exporter.port,
                    alertmanagerPort: alertmanagerPort, in: directory)
                processes.append(prometheus)
                let api = PrometheusAPI(http: http, base: "http://127.0.0.1:\(prometheusPort)")
                let logs = {
                    processes.map { $0.logTail() }.joined(separator: "\n") + "\n--- exporter:\n" + exporter.log
                }
                try await Self.waitUntilReady(http, "http://127.0.0.1:\(alertmanagerPort)/-/ready", logs)
                try await Self.waitUntilReady(http, "http://127.0.0.1:\(prometheusPort)/-/ready", logs)

                // The exporter is an up target.
                let target = try await eventually {
                    try await api.get("/api/v1/targets")?["activeTargets"].array?.first {
                        $0["labels"]["job"].string == "sso-admin-exporter" && $0["health"].string == "up"
                    }
                }
                #expect(target != nil, "the exporter never became an up target\n\(logs())")

                // The alert fires in Prometheus for the failed instance only, with its labels and annotations.
                let firing = try await eventually {
                    let alerts = try await api.get("/api/v1/alerts")?["alerts"].array ?? []
                    let ours = alerts.filter { $0["labels"]["alertname"].string == "SSOAdminInstanceCreateFailed" }
                    return ours.contains { $0["state"].string == "firing" } ? ours : nil
                }
                let alerts = try #require(firing, "SSOAdminInstanceCreateFailed never fired\n\(logs())")
                #expect(alerts.count == 1)
                let alert = try #require(alerts.first)
                #expect(alert["labels"]["instance_arn"].string == Self.failedARN)
                #expect(alert["labels"]["severity"].string == "critical")
                #expect(alert["labels"]["owner_account_id"].string == "210987654321")
                #expect(alert["labels"]["status"].string == "CREATE_FAILED")
                let description = alert["annotations"]["description"].string ?? ""
                #expect(description.contains("Status reason: \(Self.reason)."), "\(description)")
                #expect(description.contains("owned by account 210987654321"), "\(description)")
                // The account comes from the fake STS's GetCallerIdentity, and names where the instance was listed.
                #expect(alert["labels"]["account_id"].string == sts.account)
                #expect(description.contains("listed by account \(sts.account)"), "\(description)")
                #expect(
                    alert["annotations"]["runbook_url"].string?.hasSuffix("SSOAdminInstanceCreateFailed.md") == true)

                // The key's failed change and the Region stuck ADDING alert too, naming the key and the reason.
                for (name, arn) in Self.followed.dropFirst() {
                    let fired = try await eventually {
                        let alerts = try await api.get("/api/v1/alerts")?["alerts"].array ?? []
                        return alerts.first {
                            $0["labels"]["alertname"].string == name && $0["state"].string == "firing"
                        }
                    }
                    let alert = try #require(fired, "\(name) never fired\n\(logs())")
                    #expect(alert["labels"]["instance_arn"].string == arn, "\(name)")
                    #expect(alert["labels"]["account_id"].string == sts.account, "\(name)")
                    #expect(alert["annotations"]["runbook_url"].string?.hasSuffix("\(name).md") == true)
                    if name == "SSOAdminInstanceEncryptionUpdateFailed" {
                        let text = alert["annotations"]["description"].string ?? ""
                        #expect(text.contains(Self.keyARN) && text.contains("Reason: \(Self.keyReason)."), "\(text)")
                    } else {
                        #expect(alert["labels"]["replica_region"].string == "eu-west-1")
                    }
                }

                // Every dashboard query (the variables' selectors included) returns data while the alert fires.
                var empty = try DashboardQueries.load()
                _ = try await eventually { () -> Bool? in
                    var stillEmpty: [(place: String, query: String)] = []
                    for query in empty where try await api.query(query.query).isEmpty {
                        stillEmpty.append(query)
                    }
                    empty = stillEmpty
                    return empty.isEmpty ? true : nil
                }
                #expect(empty.isEmpty, "dashboard queries without data: \(empty)")

                // Alertmanager notifies the receiver.
                for (name, arn) in Self.followed.dropFirst() {
                    let heard = try await eventually { receiver.alerts(status: "firing", alertname: name).first }
                    #expect(heard?["labels"]["instance_arn"].string == arn, "no firing \(name) arrived\n\(logs())")
                }
                let notified = try await eventually {
                    receiver.alerts(status: "firing", alertname: "SSOAdminInstanceCreateFailed").first
                }
                let notification = try #require(notified, "no firing notification arrived\n\(logs())")
                #expect(notification["labels"]["instance_arn"].string == Self.failedARN)
                #expect(notification["labels"]["severity"].string == "critical")
                #expect(
                    receiver.alerts(status: "firing", alertname: "SSOAdminInstanceCreateFailed").allSatisfy {
                        $0["labels"]["instance_arn"].string == Self.failedARN
                    })

                // The instance recovers: the alert resolves and the receiver hears so.
                // The instances recover (the key is usable again, the Region is added): every alert resolves and
                // the receiver hears so.
                service.setInstances(
                    Self.instances.map { instance in
                        var active = instance
                        active.status = "ACTIVE"
                        active.statusReason = nil
                        active.encryption?.status = "ENABLED"
                        active.encryption?.statusReason = nil
                        active.regions = active.regions?.map { region in
                            var region = region
                            region.status = "ACTIVE"
                            return region
                        }
                        return active
                    })
                for (name, arn) in Self.followed {
                    let resolved = try await eventually { receiver.alerts(status: "resolved", alertname: name).first }
                    #expect(
                        resolved?["labels"]["instance_arn"].string == arn, "no resolved \(name)\n\(logs())")
                }
            } cleanup: {
                for process in processes { process.stop() }
                await hook.stop()
                await sso.stop()
                await stsServer.stop()
                try await http.shutdown()
            }
        }

        /// Temporary credentials from a `credential_process`, so the credentials panels have an expiry to show.
        static func exporterEnvironment(in directory: URL) throws -> [String: String] {
            let expiration = ISO8601DateFormatter().string(from: Date().addingTimeInterval(6 * 3600))
            let script = directory.appendingPathComponent("credentials.sh")
            try """
            #!/bin/sh
            echo '{"Version": 1, "AccessKeyId": "AKIAE2EEXAMPLE", "SecretAccessKey": "e2e-secret", \
            "SessionToken": "e2e-token", "Expiration": "\(expiration)"}'
            """.write(to: script, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
            let config = directory.appendingPathComponent("config")
            try "[default]\ncredential_process = \(script.path)\n".write(to: config, atomically: true, encoding: .utf8)
            return [
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": config.path,
                "AWS_SHARED_CREDENTIALS_FILE": directory.appendingPathComponent("none").path,
                "AWS_EC2_METADATA_DISABLED": "true", "HOME": directory.path,
            ]
        }

        static func startAlertmanager(_ path: String, port: Int, webhook: String, in directory: URL) throws
            -> ExternalProcess
        {
            let config = directory.appendingPathComponent("alertmanager.yml")
            try """
            route:
              receiver: test
              group_by: [alertname, instance_arn]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: test
                webhook_configs:
                  - url: \(webhook)
                    send_resolved: true
            """.write(to: config, atomically: true, encoding: .utf8)
            return try ExternalProcess(
                name: "alertmanager", executable: path,
                arguments: [
                    "--config.file=\(config.path)", "--storage.path=\(directory.appendingPathComponent("am").path)",
                    "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=",
                ],
                logFile: directory.appendingPathComponent("alertmanager.log"))
        }

        /// Prometheus with a copy of the shipped rules whose `for` durations are 2 s, scraping and evaluating every
        /// second.
        static func startPrometheus(
            _ path: String, port: Int, exporterPort: Int, alertmanagerPort: Int, in directory: URL
        ) throws -> ExternalProcess {
            let shipped = try String(
                contentsOf: ExternalTools.repositoryRoot.appendingPathComponent("deploy/prometheus/rules.yml"),
                encoding: .utf8)
            let shortened = shipped.replacing(#/for: \d+[smh]/#, with: "for: 2s")
            #expect(shortened != shipped, "the rules have no for: to shorten")
            try shortened.write(to: directory.appendingPathComponent("rules.yml"), atomically: true, encoding: .utf8)
            let config = directory.appendingPathComponent("prometheus.yml")
            try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files: [rules.yml]
            alerting:
              alertmanagers:
                - static_configs:
                    - targets: ["127.0.0.1:\(alertmanagerPort)"]
            scrape_configs:
              - job_name: sso-admin-exporter
                static_configs:
                  - targets: ["127.0.0.1:\(exporterPort)"]
            """.write(to: config, atomically: true, encoding: .utf8)
            return try ExternalProcess(
                name: "prometheus", executable: path,
                arguments: [
                    "--config.file=\(config.path)",
                    "--storage.tsdb.path=\(directory.appendingPathComponent("tsdb").path)",
                    "--web.listen-address=127.0.0.1:\(port)", "--rules.alert.resend-delay=1s",
                ],
                logFile: directory.appendingPathComponent("prometheus.log"))
        }

        static func waitUntilReady(_ http: HTTPClient, _ url: String, _ logs: () -> String) async throws {
            let ready = try await eventually(timeout: .seconds(30)) { () -> Bool? in
                let response = try? await http.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
                return response?.status == .ok ? true : nil
            }
            try #require(ready == true, "\(url) never became ready\n\(logs())")
        }
    }
}

/// Prometheus' HTTP API: the `data` of a successful answer.
struct PrometheusAPI {
    let http: HTTPClient
    let base: String

    func get(_ path: String) async throws -> JSONValue? {
        // Until Prometheus is ready it answers in plain text: that is "not yet", not a failure.
        guard let response = try? await http.execute(HTTPClientRequest(url: base + path), timeout: .seconds(5)),
            response.status == .ok
        else { return nil }
        return try await Self.data(response)
    }

    /// An instant query, sent as a form so that `+` in PromQL is not read as a space.
    func query(_ promql: String) async throws -> [JSONValue] {
        var request = HTTPClientRequest(url: base + "/api/v1/query")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: URIEncoding.formEncode([("query", promql)])))
        let response = try await http.execute(request, timeout: .seconds(5))
        return try await Self.data(response)?["result"].array ?? []
    }

    static func data(_ response: HTTPClientResponse) async throws -> JSONValue? {
        let body = try await response.body.collect(upTo: 8 << 20)
        let value = try JSONValue(Data(body.readableBytesView))
        #expect(value["status"].string == "success", "\(String(buffer: body).prefix(500))")
        return value["data"]
    }
}

/// The webhook receiver Alertmanager notifies: it keeps every alert of every notification.
final class WebhookReceiver: Sendable {
    private let received = Mutex<[JSONValue]>([])

    func handle(_ request: FakeHTTPRequest) async -> FakeHTTPAction {
        if let payload = try? JSONValue(Data(request.body)) {
            let alerts = payload["alerts"].array ?? []
            received.withLock { $0.append(contentsOf: alerts) }
        }
        return .respond(status: 200, headers: [], body: [])
    }

    /// Alerts received with this status ("firing" or "resolved") and alert name.
    func alerts(status: String, alertname: String) -> [JSONValue] {
        received.withLock { $0 }.filter {
            $0["status"].string == status && $0["labels"]["alertname"].string == alertname
        }
    }
}

/// Every PromQL query in the shipped dashboard, the variables' selectors included, as Prometheus will run them:
/// `$job`, `$instance`, `$region` and `$account_id` match what "All" matches, `$__rate_interval` is a minute.
enum DashboardQueries {
    static func load() throws -> [(place: String, query: String)] {
        let data = try Data(
            contentsOf: ExternalTools.repositoryRoot.appendingPathComponent("dashboards/sso-admin-exporter.json"))
        let dashboard = try JSONValue(data)
        var queries: [(String, String)] = []
        for variable in dashboard["templating"]["list"].array ?? [] where variable["type"].string == "query" {
            let definition = variable["definition"].string ?? ""
            let selector = try #require(
                definition.firstMatch(of: #/^label_values\((.*),\s*\w+\)$/#)?.output.1,
                "variable \(variable["name"].string ?? "?") is not label_values(...)")
            queries.append(("variable \(variable["name"].string ?? "?")", substituted(String(selector))))
        }
        func walk(_ panels: [JSONValue]) {
            for panel in panels {
                for target in panel["targets"].array ?? [] {
                    if let expr = target["expr"].string {
                        let place = "panel \(panel["title"].string ?? "?") \(target["refId"].string ?? "?")"
                        queries.append((place, substituted(expr)))
                    }
                }
                walk(panel["panels"].array ?? [])
            }
        }
        walk(dashboard["panels"].array ?? [])
        #expect(queries.count > 10, "the dashboard has too few queries to be this one")
        return queries
    }

    static func substituted(_ expr: String) -> String {
        expr.replacing("$job", with: ".+").replacing("$instance", with: ".+").replacing("$region", with: ".+")
            .replacing("$account_id", with: ".*")
            .replacing("$__rate_interval", with: "1m")
    }
}

/// A parsed JSON value whose subscripts answer `.null` for anything missing, so checks read as paths. Booleans
/// read as numbers: nothing here looks at one.
enum JSONValue: Sendable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case null

    init(_ data: Data) throws {
        self.init(any: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    init(any: Any) {
        switch any {
        case let object as [String: Any]: self = .object(object.mapValues(JSONValue.init(any:)))
        case let array as [Any]: self = .array(array.map(JSONValue.init(any:)))
        case let string as String: self = .string(string)
        case let number as NSNumber: self = .number(number.doubleValue)
        default: self = .null
        }
    }

    subscript(key: String) -> JSONValue {
        if case .object(let object) = self { return object[key] ?? .null }
        return .null
    }

    var array: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    var string: String? {
        if case .string(let string) = self { return string }
        return nil
    }
}
