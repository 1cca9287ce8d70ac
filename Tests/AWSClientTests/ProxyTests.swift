import AWSClient
import AsyncHTTPClient
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite("HTTPS_PROXY, HTTP_PROXY and NO_PROXY")
struct ProxyTests {
    @Test("variables in either case; the password never shows")
    func parsing() throws {
        let settings = try ProxySettings.fromEnvironment([
            "https_proxy": "http://user:p%40ss@proxy.corp:3128", "HTTP_PROXY": "plain.corp",
            "NO_PROXY": " .internal, 169.254.169.254 ,example.com:8443",
        ])
        #expect(settings.https?.host == "proxy.corp")
        #expect(settings.https?.port == 3128)
        #expect(settings.http?.port == 80)
        #expect(settings.noProxy == [".internal", "169.254.169.254", "example.com:8443"])
        #expect(!settings.description.contains("p@ss") && !settings.description.contains("p%40ss"))
        #expect(settings.description.contains("with credentials"))
        #expect(throws: AWSConfigurationError.self) {
            try ProxySettings.fromEnvironment(["HTTPS_PROXY": "https://proxy.corp:443"])
        }
        let error = try #require(throws: AWSConfigurationError.self) {
            try ProxySettings.fromEnvironment(["HTTPS_PROXY": "http://user:secretpw@"])
        }
        #expect(error.message.contains("HTTPS_PROXY"))
        #expect(!error.message.contains("secretpw"))
    }

    @Test(
        "which requests go through the proxy",
        arguments: [
            ("https://sso.eu-west-1.amazonaws.com/", "proxy.corp"), ("http://127.0.0.1:5000/", "plain.corp"),
            ("https://api.internal/", nil), ("https://deep.api.internal/", nil), ("https://internal/", nil),
            ("https://example.com:8443/", nil), ("https://example.com/", "proxy.corp"),
            ("https://notinternal/", "proxy.corp"),
        ])
    func routing(url: String, proxy: String?) throws {
        let settings = try ProxySettings.fromEnvironment([
            "HTTPS_PROXY": "proxy.corp:3128", "HTTP_PROXY": "plain.corp:8080",
            "NO_PROXY": ".internal,example.com:8443",
        ])
        #expect(settings.server(for: URL(string: url)!)?.host == proxy)
    }

    @Test("NO_PROXY=* turns the proxy off")
    func wildcard() throws {
        let settings = try ProxySettings.fromEnvironment(["HTTPS_PROXY": "proxy:1", "NO_PROXY": "*"])
        #expect(settings.server(for: URL(string: "https://sts.amazonaws.com")!) == nil)
    }

    @Test("a request is tunnelled through the proxy (CONNECT to the endpoint); NO_PROXY sends it direct")
    func throughLoopbackProxy() async throws {
        let seen = Mutex<[String]>([])
        // Records the CONNECT and refuses it: the tunnel itself is AsyncHTTPClient's business.
        let proxy = try await FakeHTTPServer.start { request in
            seen.withLock { $0.append("proxy \(request.method) \(request.uri)") }
            return .respond(status: 403, headers: [], body: [])
        }
        let origin = try await FakeHTTPServer.start { request in
            seen.withLock { $0.append("origin \(request.method) \(request.uri)") }
            return .respond(status: 200, headers: [], body: Array("direct".utf8))
        }
        for noProxy in ["", "127.0.0.1"] {
            let settings = try ProxySettings.fromEnvironment([
                "HTTP_PROXY": "http://127.0.0.1:\(proxy.port)", "NO_PROXY": noProxy,
            ])
            let client = try AWSClient(
                configuration: AWSClientConfiguration(
                    userAgent: "test", transport: .init(proxy: settings), timeout: .init(connect: .seconds(2))))
            try await withAsyncCleanup {
                let result = await Result(catching: {
                    try await client.transport.send(
                        AWSHTTPRequest(
                            method: "GET", url: URL(string: "\(origin.endpoint)/path")!, headers: [], body: []),
                        timeout: .seconds(5))
                })
                if noProxy.isEmpty {
                    #expect(throws: AWSTransportError.self) { try result.get() }
                } else {
                    let body = String(decoding: try result.get().body, as: UTF8.self)
                    #expect(body == "direct")
                }
            } cleanup: {
                try await client.shutdown()
            }
        }
        // AsyncHTTPClient tries the refused tunnel again until its connect timeout, so the CONNECT may repeat.
        let log = seen.withLock { $0 }
        #expect(log.count >= 2)
        #expect(log.dropLast().allSatisfy { $0 == "proxy CONNECT 127.0.0.1:\(origin.port)" })
        #expect(log.last == "origin GET /path")
        await proxy.stop()
        await origin.stop()
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
