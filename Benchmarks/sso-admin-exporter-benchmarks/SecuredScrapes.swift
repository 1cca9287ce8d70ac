import AsyncHTTPClient
import Foundation
import HummingbirdBcrypt
import NIOCore
import NIOHTTP1
import NIOSSL
import TestSupport

extension Benchmarks {
    /// What TLS and basic authentication add to a scrape: the real exporter binary (built next to this one) behind
    /// plain HTTP, then behind a web configuration with TLS and a cost-10 bcrypt user, scraped with a kept-alive
    /// connection and with a new connection per scrape (Prometheus without keep-alive). Certificates come from
    /// openssl.
    static func securedScrapes(instances count: Int, scrapes: Int) async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("sso-admin-exporter")
        guard FileManager.default.isExecutableFile(atPath: binary.path), let openssl = ExternalTools.path("openssl")
        else {
            print("TLS: build the exporter too (swift build -c release) and install openssl to measure TLS scrapes")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try ExternalTools.run(
            openssl,
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                "-keyout", path("server.key"), "-out", path("server.pem"), "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost",
            ])
        try """
        tls_server_config:
          cert_file: server.pem
          key_file: server.key
        basic_auth_users:
          prometheus: \(Bcrypt.hash("benchmark password", cost: 10))
        """.write(toFile: path("web.yml"), atomically: true, encoding: .utf8)

        let service = FakeSSOAdminService(instances: FakeInstance.numbered(count))
        let server = try await FakeHTTPServer.start(ssoAdmin: service, sts: FakeSTSService())
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path("server.pem")))
        let credentials = "Basic " + Data("prometheus:benchmark password".utf8).base64EncodedString()

        func run(web: Bool, newConnectionEach: Bool) async throws -> Duration {
            let port = try ExternalTools.freeLoopbackPort()
            let process = Process()
            process.executableURL = binary
            process.arguments =
                ["--web.listen-address", "127.0.0.1:\(port)", "--log.level", "error"]
                + (web ? ["--web.config.file", path("web.yml")] : [])
            process.environment = [
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "AKID",
                "AWS_SECRET_ACCESS_KEY": "secret",
            ]
            try process.run()
            defer {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            if newConnectionEach { configuration.maximumUsesPerConnection = 1 }
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            let url = (web ? "https://localhost:\(port)" : "http://localhost:\(port)") + "/metrics"
            func scrape() async throws -> Bool {
                var request = HTTPClientRequest(url: url)
                if web { request.headers.add(name: "Authorization", value: credentials) }
                request.headers.add(name: "Accept-Encoding", value: "gzip")
                let response = try await http.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 64 << 20)
                return response.status == .ok
            }
            var times: [Duration] = []
            do {
                var ready = false
                for _ in 0..<100 where !ready {
                    ready = (try? await scrape()) == true
                    if !ready { try await Task.sleep(for: .milliseconds(100)) }
                }
                precondition(ready, "the exporter did not answer")
                for _ in 0..<5 { _ = try await scrape() }
                for _ in 0..<scrapes {
                    let started = ContinuousClock.now
                    let succeeded = try await scrape()
                    precondition(succeeded)
                    times.append(ContinuousClock.now - started)
                }
            } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
            return times.sorted()[scrapes / 2]
        }

        let plain = try await run(web: false, newConnectionEach: false)
        let keptAlive = try await run(web: true, newConnectionEach: false)
        let fresh = try await run(web: true, newConnectionEach: true)
        await server.stop()
        let rows: [(String, Duration)] = [
            ("binary scrape, \(count) instances, HTTP, kept alive", plain),
            ("  TLS + basic auth, kept alive", keptAlive),
            ("  TLS + basic auth, new connection per scrape", fresh),
        ]
        // Medians of `scrapes` scrapes each.
        for (name, time) in rows {
            print(String(format: "%-52@ %12.1f ms", name as NSString, time.milliseconds))
        }
    }
}
