import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdBcrypt
import Logging
import SSOAdminExporter
import TestSupport
import Testing

@Suite("web configuration file: strict reading, errors that name the file, key and line")
struct WebConfigurationFileTests {
    /// The reloader logs the failures this suite provokes; they are expected, so they are not printed.
    static let quietLogger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    /// One set of certificates for the tests that only read them, made on first use; each test writes its own
    /// configuration file next to them.
    static let sharedPKI = Task { try await TestPKI.make() }

    func write(_ text: String, in pki: TestPKI) throws -> String {
        let path = pki.path("web-\(UUID().uuidString).yml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func failure(_ text: String) async throws -> (path: String, error: WebConfigurationError)? {
        let path = try write(text, in: try await Self.sharedPKI.value)
        do {
            _ = try WebConfiguration.load(path: path)
            return nil
        } catch {
            return (path, error)
        }
    }

    @Test("a full configuration loads: TLS, client certificates, users, headers, rate limit")
    func loads() async throws {
        let hash = Bcrypt.hash("secret", cost: 4)
        let pki = try await Self.sharedPKI.value
        let path = try write(
            """
            tls_server_config:
              cert_file: server.pem
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.pem
              client_allowed_sans: [prometheus.example]
              min_version: TLS12
              max_version: TLS13
              cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
              curve_preferences: [X25519, CurveP256]
            http_server_config:
              http2: false
              headers:
                X-Frame-Options: deny
                Strict-Transport-Security: max-age=31536000
            basic_auth_users:
              prometheus: \(hash)
            rate_limit:
              interval: 100ms
              burst: 10
            """, in: pki)
        let configuration = try WebConfiguration.load(path: path)
        let tls = try #require(configuration.tls)
        #expect(tls.clientAuth == .requireAndVerifyClientCert)
        #expect(tls.allowedSANs == ["prometheus.example"])
        #expect(configuration.basicAuthUsers == ["prometheus": hash])
        #expect(configuration.headers[.init("X-Frame-Options")!] == "deny")
        #expect(configuration.rateLimit?.interval == .milliseconds(100))
        #expect(configuration.rateLimit?.burst == 10)
    }

    @Test(
        "bad files are errors naming the file, the key and, where the parser knows it, the line",
        arguments: [
            (
                "tls_server_config:\n  cert_file: server.pem\n  kye_file: server.key\n",
                ".yml:3: tls_server_config.kye_file: unknown key"
            ),
            ("basic_auth_users:\n  a: b\nlisten: x\n", ".yml:3: listen: unknown key"),
            ("tls_server_config:\n  cert_file: server.pem\n", "tls_server_config.key_file: is required"),
            (
                "tls_server_config:\n  cert_file: [a, b]\n  key_file: server.key\n",
                ".yml:2: tls_server_config.cert_file: must be a single value"
            ),
            ("http_server_config:\n  http2: maybe\n", ".yml:2: http_server_config.http2: must be true or false"),
            (
                "tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n",
                "tls_server_config.cert_file: cannot read"
            ),
            (
                "tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n",
                "tls_server_config.key_file: does not match the certificate"
            ),
            (
                "tls_server_config:\n  cert_file: server.pem\n  key_file: server.ext\n",
                "tls_server_config.key_file: is not a PEM private key"
            ),
            (
                "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: Sometimes\n",
                "tls_server_config.client_auth_type: unknown value Sometimes"
            ),
            (
                "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
                "tls_server_config.client_ca_file: is required"
            ),
            (
                "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_allowed_sans: [x]\n",
                "tls_server_config.client_allowed_sans: needs client_auth_type"
            ),
            (
                "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS14\n",
                "tls_server_config.min_version: unknown TLS version TLS14"
            ),
            ("basic_auth_users:\n  prometheus: plaintext\n", "basic_auth_users.prometheus: is not a bcrypt hash"),
            (
                "http_server_config:\n  headers:\n    Server: mine\n",
                "http_server_config.headers.Server: this header cannot be set"
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin"
            ),
            ("rate_limit:\n  interval: soon\n", "rate_limit.interval: must be a duration"),
            ("tls_server_config: [\n", ".yml:"),
            ("", "the file is empty"),
        ])
    func errors(text: String, expected: String) async throws {
        let (path, error) = try #require(try await failure(text), "\(text) loaded")
        #expect(error.description.contains(expected), "\(error.description)")
        #expect(error.description.hasPrefix(path), "\(error.description)")
    }

    @Test("the reloader picks up a changed certificate, ignores an unchanged file, and keeps the last good settings")
    func reloadDetectsChanges() async throws {
        // Its own certificates: it replaces the server's.
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let path = try write("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n", in: pki)
        let store = WebConfigurationStore(try WebConfiguration.load(path: path))
        let (hangups, _) = AsyncStream.makeStream(of: Void.self)
        let reloader = WebConfigurationReloader(
            store: store, hangups: hangups, metrics: ProcessWideMetrics(), logger: Self.quietLogger)
        #expect(await reloader.reload(force: false) == false, "nothing changed, yet it reloaded")
        // The TLS context is made anew by every load that succeeds, so its identity tells which settings serve.
        func serving() -> ObjectIdentifier? { store.current.tls.map { ObjectIdentifier($0.context) } }
        let before = serving()
        try await pki.issue("server", by: "ca", subject: "/CN=localhost", extensions: TestPKI.serverExtensions)
        #expect(await reloader.reload(force: false) == true, "a new certificate file was not noticed")
        #expect(serving() != before)
        let good = serving()
        try "tls_server_config:\n  cert_file: server.pem\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await reloader.reload(force: false) == false)
        #expect(serving() == good, "a broken file replaced the good settings")
        try "basic_auth_users: {}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await reloader.reload(force: true) == false, "switched from HTTPS to HTTP without a restart")
        #expect(store.current.tls != nil)
    }

    @Test("an error about a key never quotes the key's contents")
    func keyNotQuoted() async throws {
        let pki = try await Self.sharedPKI.value
        let secret = try String(contentsOfFile: pki.path("client.key"), encoding: .utf8)
        let (_, error) = try #require(
            try await failure("tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n"))
        let body = secret.split(separator: "\n").dropFirst().first.map(String.init) ?? "unreachable"
        #expect(!error.description.contains(body))
    }
}

extension ExternalProgramTests {
    @Suite("the secured endpoint, with curl, openssl and Prometheus as clients", .serialized)
    struct SecuredEndpointTests {
        static var toolsPresent: Bool { ExternalTools.shouldRun("curl", "openssl") }

        /// Runs curl; returns the HTTP status (0 when no answer came) and what it printed before it: the headers when
        /// asked for with `-D /dev/stderr`, then the body.
        static func curl(_ arguments: [String]) async throws -> (status: Int, output: String) {
            let curl = try #require(ExternalTools.path("curl"))
            let (_, output) = try await ExternalTools.runDetached(
                curl, ["-s", "-w", "\n%{http_code}", "--max-time", "5"] + arguments)
            guard let newline = output.lastIndex(of: "\n") else { return (Int(output) ?? 0, "") }
            return (Int(output[output.index(after: newline)...]) ?? 0, String(output[..<newline]))
        }

        func start(_ pki: TestPKI, config: String) async throws -> RunningExporter {
            try config.write(toFile: pki.path("web.yml"), atomically: true, encoding: .utf8)
            let exporter = try RunningExporter(
                arguments: ["--web.config.file", pki.path("web.yml"), "--aws.endpoint-url", "http://127.0.0.1:9"],
                environment: ["AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"])
            // Listening is enough: a TLS probe cannot tell "not up yet" from "needs a client certificate".
            for _ in 0..<100 {
                if let connection = RawConnection(port: exporter.port) {
                    connection.close()
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            return exporter
        }

        @Test(
            "TLS: curl verifies the server against the test CA; plain HTTP gets no answer", .enabled(if: toolsPresent))
        func tls() async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let exporter = try await start(
                pki, config: "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
            let url = "https://localhost:\(exporter.port)"
            #expect(try await Self.curl(["--cacert", pki.path("ca.pem"), "\(url)/metrics"]).status == 200)
            #expect(try await Self.curl(["--cacert", pki.path("ca.pem"), "\(url)/-/ready"]).status == 200)
            #expect(
                try await Self.curl(["\(url)/metrics"]).status == 0, "curl trusted a certificate from an unknown CA")
            #expect(try await Self.curl(["http://127.0.0.1:\(exporter.port)/metrics"]).status == 0)
            #expect(
                try await Self.curl(["--cacert", pki.path("ca.pem"), "--tls-max", "1.1", "\(url)/metrics"]).status == 0)
        }

        @Test(
            "mTLS: a client certificate from the CA is let in; none, an untrusted one, or a wrong SAN are refused",
            .enabled(if: toolsPresent))
        func mutualTLS() async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let exporter = try await start(
                pki,
                config: """
                    tls_server_config:
                      cert_file: server.pem
                      key_file: server.key
                      client_auth_type: RequireAndVerifyClientCert
                      client_ca_file: ca.pem
                      client_allowed_sans: [prometheus.example]
                    """)
            let url = "https://localhost:\(exporter.port)/metrics"
            let ca = ["--cacert", pki.path("ca.pem")]
            func with(_ name: String) -> [String] {
                ["--cert", pki.path("\(name).pem"), "--key", pki.path("\(name).key")]
            }
            #expect(try await Self.curl(ca + with("client") + [url]).status == 200)
            #expect(try await Self.curl(ca + [url]).status == 0, "no client certificate was let in")
            #expect(
                try await Self.curl(ca + with("untrusted") + [url]).status == 0, "an untrusted certificate was let in")
            #expect(
                try await Self.curl(ca + with("stranger") + [url]).status == 0,
                "a SAN outside client_allowed_sans got in")
        }

        @Test(
            "basic auth: the right password is let in; wrong password, unknown user and none get the same 401",
            .enabled(if: toolsPresent))
        func basicAuth() async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let hash = Bcrypt.hash("correct horse", cost: 6)
            let exporter = try await start(
                pki,
                config: """
                    tls_server_config:
                      cert_file: server.pem
                      key_file: server.key
                    basic_auth_users:
                      prometheus: \(hash)
                    http_server_config:
                      headers:
                        X-Content-Type-Options: nosniff
                    """)
            let url = "https://localhost:\(exporter.port)"
            let ca = ["--cacert", pki.path("ca.pem"), "-D", "/dev/stderr"]
            let good = try await Self.curl(ca + ["-u", "prometheus:correct horse", "\(url)/metrics"])
            #expect(good.status == 200)
            #expect(good.output.lowercased().contains("x-content-type-options: nosniff"))
            var refusals: [String] = []
            for credentials in [["-u", "prometheus:wrong"], ["-u", "someone:correct horse"], []] {
                let answer = try await Self.curl(ca + credentials + ["\(url)/metrics"])
                #expect(answer.status == 401, "\(credentials): \(answer.output)")
                #expect(answer.output.lowercased().contains("www-authenticate: basic"))
                #expect(answer.output.lowercased().contains("x-content-type-options: nosniff"))
                refusals.append(String(answer.output.split(separator: "\n").last { $0.hasPrefix("401 ") } ?? ""))
            }
            #expect(Set(refusals).count == 1, "the 401s differ: \(refusals)")
            // Health endpoints are no exception, as in the exporter-toolkit.
            #expect(try await Self.curl(ca + ["\(url)/-/healthy"]).status == 401)
            #expect(try await Self.curl(ca + ["-u", "prometheus:correct horse", "\(url)/-/healthy"]).status == 200)
        }

        @Test("rate_limit: past the burst, requests get 429 until the bucket refills", .enabled(if: toolsPresent))
        func rateLimit() async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let exporter = try await start(pki, config: "rate_limit:\n  interval: 1h\n  burst: 2\n")
            let url = "http://127.0.0.1:\(exporter.port)/-/healthy"
            var statuses: [Int] = []
            for _ in 0..<4 {
                statuses.append(try await Self.curl([url]).status)
            }
            #expect(statuses == [200, 200, 429, 429], "\(statuses)")
        }

        @Test(
            "rotation: a new certificate is served after SIGHUP; a broken file keeps the old settings and is counted",
            .enabled(if: toolsPresent))
        func rotation() async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let exporter = try await start(
                pki, config: "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
            let openssl = try #require(ExternalTools.path("openssl"))
            func servedSerial() async throws -> String {
                let script =
                    "\(openssl) s_client -connect 127.0.0.1:\(exporter.port) -servername localhost </dev/null 2>/dev/null"
                    + " | \(openssl) x509 -noout -serial"
                return try await ExternalTools.runDetached("/bin/sh", ["-c", script]).output.trimmingCharacters(
                    in: .whitespacesAndNewlines)
            }
            let before = try await servedSerial()
            #expect(before == (try await pki.serial("server")))
            try await pki.issue(
                "server", by: "ca", subject: "/CN=localhost",
                extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
            let rotated = try await pki.serial("server")
            try #require(rotated != before)
            kill(exporter.process.processIdentifier, SIGHUP)
            var served = before
            for _ in 0..<50 where served != rotated {
                try await Task.sleep(for: .milliseconds(100))
                served = try await servedSerial()
            }
            #expect(served == rotated, "the rotated certificate was not served")

            // A broken file: the exporter keeps serving with what it had, and says so.
            try "tls_server_config:\n  cert_file: server.pem\n  key_file: nowhere.key\n".write(
                toFile: pki.path("web.yml"), atomically: true, encoding: .utf8)
            kill(exporter.process.processIdentifier, SIGHUP)
            // The failed reload is logged with the file at fault: wait for that, not for a fixed time.
            let refused = try await eventually(within: .seconds(10)) { exporter.log.contains("nowhere.key") }
            #expect(refused, "\(exporter.log)")
            #expect(try await servedSerial() == rotated)
            let scrape = try await Self.curl([
                "--cacert", pki.path("ca.pem"), "https://localhost:\(exporter.port)/metrics",
            ])
            #expect(scrape.status == 200)
            let metrics = try ExpositionParser.parse(scrape.output)
            #expect(metrics.value("aws_sso_admin_exporter_web_config_reloads_total", ["result": "failure"]) == 1)
            #expect(metrics.value("aws_sso_admin_exporter_web_config_reloads_total", ["result": "success"]) == 1)
            #expect(metrics.value("aws_sso_admin_exporter_web_config_last_reload_successful") == 0)
            #expect(exporter.log.contains("nowhere.key"), "\(exporter.log)")
        }

        @Test(
            "real Prometheus scrapes the exporter over TLS with basic auth and sees the target up",
            .enabled(if: toolsPresent && ExternalTools.shouldRun("prometheus")), .timeLimit(.minutes(1)))
        func prometheusScrapesSecuredEndpoint() async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let exporter = try await start(
                pki,
                config: """
                    tls_server_config:
                      cert_file: server.pem
                      key_file: server.key
                    basic_auth_users:
                      prometheus: \(Bcrypt.hash("scrape secret", cost: 6))
                    """)
            let prometheusPort = try ExternalTools.freeLoopbackPort()
            try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: sso-admin-exporter
                scheme: https
                tls_config:
                  ca_file: \(pki.path("ca.pem"))
                  server_name: localhost
                basic_auth:
                  username: prometheus
                  password: scrape secret
                static_configs:
                  - targets: ["127.0.0.1:\(exporter.port)"]
            """.write(toFile: pki.path("prometheus.yml"), atomically: true, encoding: .utf8)
            let prometheus = try ExternalProcess(
                name: "prometheus", executable: try #require(ExternalTools.path("prometheus")),
                arguments: [
                    "--config.file=\(pki.path("prometheus.yml"))", "--storage.tsdb.path=\(pki.path("tsdb"))",
                    "--web.listen-address=127.0.0.1:\(prometheusPort)",
                ],
                logFile: pki.directory.appendingPathComponent("prometheus.log"))
            defer { prometheus.stop() }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let api = PrometheusAPI(http: http, base: "http://127.0.0.1:\(prometheusPort)")
            let target = try await withAsyncCleanup {
                try await eventually(timeout: .seconds(30)) {
                    try await api.get("/api/v1/targets")?["activeTargets"].array?.first {
                        $0["labels"]["job"].string == "sso-admin-exporter" && $0["health"].string == "up"
                    }
                }
            } cleanup: {
                try await http.shutdown()
            }
            #expect(target != nil, "the secured exporter never became an up target\n\(prometheus.logTail())")
            #expect(target?["scrapeUrl"].string?.hasPrefix("https://") == true)
        }

        @Test("a bad web configuration at startup exits 2 naming the file and key; --web.config.check exits 1")
        func startupErrors() async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let binary = try #require(ExternalProgramTests.BinaryTests.binary)
            try "tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n".write(
                toFile: pki.path("web.yml"), atomically: true, encoding: .utf8)
            let environment = ["AWS_REGION": "us-east-1"]
            let (status, output) = try await ExternalTools.runDetached(
                binary, ["--web.config.file", pki.path("web.yml")], environment: environment)
            #expect(status == 2, "\(output)")
            #expect(output.contains("--web.config.file") && output.contains("web.yml"), "\(output)")
            #expect(output.contains("tls_server_config.key_file"), "\(output)")
            let check = try await ExternalTools.runDetached(
                binary, ["--web.config.file", pki.path("web.yml"), "--web.config.check"], environment: environment)
            #expect(check.status == 1, "\(check.output)")
            #expect(check.output.contains("tls_server_config.key_file"), "\(check.output)")
            try "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n".write(
                toFile: pki.path("web.yml"), atomically: true, encoding: .utf8)
            let good = try await ExternalTools.runDetached(
                binary, ["--web.config.file", pki.path("web.yml"), "--web.config.check"], environment: environment)
            #expect(good.status == 0, "\(good.output)")
            let missing = try await ExternalTools.runDetached(
                binary, ["--web.config.file", pki.path("absent.yml")], environment: environment)
            #expect(missing.status == 2 && missing.output.contains("absent.yml"), "\(missing.output)")
        }
    }
}
