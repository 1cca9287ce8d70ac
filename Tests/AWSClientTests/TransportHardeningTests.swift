import AWSClient
import AsyncHTTPClient
import Foundation
import TestSupport
import Testing

extension DeadlineTests {
    @Suite("transport and text from the network, under hostile input")
    struct TransportHardeningTests {
        /// Both transports: AsyncHTTPClient's, used through proxies, and the kept-alive one for direct connections.
        enum Kind: String, CaseIterable, CustomTestStringConvertible {
            case asyncHTTPClient, keptAlive
            var testDescription: String { rawValue }
        }

        func withTransport(_ kind: Kind, _ body: (any AWSHTTPTransport) async throws -> Void) async throws {
            switch kind {
            case .asyncHTTPClient:
                let client = AsyncHTTPClientTransport.makeHTTPClient(connectTimeout: .seconds(60))
                try await withAsyncCleanup {
                    try await body(AsyncHTTPClientTransport(client: client))
                } cleanup: {
                    try await client.shutdown()
                }
            case .keptAlive:
                var configuration = KeptAliveTransport.Configuration()
                configuration.connectTimeout = .seconds(60)
                let transport = try KeptAliveTransport(configuration: configuration)
                try await withAsyncCleanup {
                    try await body(transport)
                } cleanup: {
                    await transport.shutdown()
                }
            }
        }

        @Test("a URL with a port above 65535 is an error from the transport, not a trap", arguments: Kind.allCases)
        func portOutOfRange(kind: Kind) async throws {
            try await withTransport(kind) { transport in
                let request = AWSHTTPRequest(
                    method: "GET", url: URL(string: "http://127.0.0.1:99999/")!, headers: [], body: [])
                await #expect(throws: AWSTransportError.self) {
                    _ = try await transport.send(request, timeout: .seconds(1))
                }
                do {
                    _ = try await transport.send(request, timeout: .seconds(1))
                } catch let error as AWSTransportError {
                    guard case .invalidRequest(let detail) = error else {
                        Issue.record("expected invalidRequest, got \(error)")
                        return
                    }
                    #expect(detail.contains("99999"))
                }
            }
        }

        @Test(
            "a refused connection fails at once and says so, well inside the connect timeout", arguments: Kind.allCases)
        func refusedConnection(kind: Kind) async throws {
            let port = try ExternalTools.freeLoopbackPort()
            try await withTransport(kind) { transport in
                let started = ContinuousClock.now
                do {
                    _ = try await transport.send(
                        AWSHTTPRequest(
                            method: "GET", url: URL(string: "http://127.0.0.1:\(port)/")!, headers: [], body: []),
                        timeout: .seconds(5))
                    Issue.record("nothing listens there, yet it answered")
                } catch let error as AWSTransportError {
                    #expect(error == .connection("connection refused by 127.0.0.1:\(port)"))
                }
                // Far inside the 60 s connect timeout that retrying until it expires would take; the margin is for a
                // loaded machine running the whole suite in parallel.
                #expect(ContinuousClock.now - started < .seconds(20))
            }
        }

        @Test("a body that stalls after the head is a timeout at the request's deadline", arguments: Kind.allCases)
        func stalledBody(kind: Kind) async throws {
            let server = try await FakeHTTPServer.start { _ in
                .stallBody(status: 200, headers: [], promisedBytes: 100, sent: Array("{\"a\":".utf8))
            }
            try await withAsyncCleanup {
                try await withTransport(kind) { transport in
                    let started = ContinuousClock.now
                    await #expect(throws: AWSTransportError.timeout) {
                        _ = try await transport.send(
                            AWSHTTPRequest(method: "GET", url: URL(string: server.endpoint)!, headers: [], body: []),
                            timeout: .milliseconds(500))
                    }
                    let elapsed = ContinuousClock.now - started
                    // Without the whole-body deadline this never returns; the margin is for a loaded machine.
                    #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(20), "\(elapsed)")
                }
            } cleanup: {
                await server.stop()
            }
        }

        @Test(
            "URLs are checked for scheme, host and port, and the message names the source",
            arguments: [
                "http://127.0.0.1:99999", "http://127.0.0.1:0", "https://exa mple.com", "ftp://example.com", "http://",
                "http://host:abc/", "not a url",
            ])
        func badURLs(text: String) {
            #expect {
                _ = try EndpointURL.parse(text, source: "SOME_VARIABLE")
            } throws: { error in
                "\(error)".hasPrefix("SOME_VARIABLE: ")
            }
        }

        @Test("good URLs pass as they are")
        func goodURLs() throws {
            for text in ["https://sso.us-east-1.amazonaws.com", "http://127.0.0.1:65535/path", "http://[::1]:8080"] {
                #expect(try EndpointURL.parse(text, source: "x").absoluteString == text)
            }
        }

        @Test("a proxy URL's password is never quoted, even when the URL is wrong")
        func proxyPasswordNotQuoted() {
            #expect {
                _ = try ProxySettings.fromEnvironment(["HTTPS_PROXY": "http://user:hunter2secret@127.0.0.1:99999"])
            } throws: { error in
                "\(error)".contains("HTTPS_PROXY") && !"\(error)".contains("hunter2secret")
            }
            #expect(throws: AWSConfigurationError.self) {
                try ProxySettings.fromEnvironment(["HTTPS_PROXY": "notaproxy"])
            }
        }

        @Test("network text is cut, flattened and scrubbed of anything that looks like a credential")
        func scrubbing() {
            let signature = String(repeating: "ab12", count: 16)
            let text = """
                Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261126/us-east-1/sso/aws4_request, \
                SignedHeaders=host, Signature=\(signature)
                X-Amz-Security-Token: FQoGZXIvYXdzEXAMPLETOKEN
                {"Token": "sessiontokenvalue", "SecretAccessKey": "wJalrXUtnFEMI"}
                """
            let cleaned = NetworkText.sanitized(text)
            for secret in [
                signature, "AKIAIOSFODNN7EXAMPLE", "FQoGZXIvYXdzEXAMPLETOKEN", "sessiontokenvalue", "wJalrXUtnFEMI",
            ] {
                #expect(!cleaned.contains(secret), "\(cleaned)")
            }
            #expect(!cleaned.contains("\n"))
            let long = NetworkText.sanitized(String(repeating: "x", count: 1 << 20))
            #expect(long.count <= NetworkText.defaultLimit + 10)
        }

        @Test("credentials in use are redacted wherever they appear, once a refresh has seen them")
        func registeredSecrets() async throws {
            let credentials = AWSCredentials(
                accessKeyID: "AKIDREGISTERED01", secretAccessKey: "registered-secret-value",
                sessionToken: "registered-session-token-value")
            let provider = RefreshingCredentialProvider(name: "test") { credentials }
            _ = try await provider.credentials()
            let cleaned = NetworkText.sanitized(
                "key AKIDREGISTERED01 secret registered-secret-value token registered-session-token-value")
            #expect(!cleaned.contains("AKIDREGISTERED01"))
            #expect(!cleaned.contains("registered-secret-value"))
            #expect(!cleaned.contains("registered-session-token-value"))
            // Only the start of a long text is scrubbed; a secret that straddles the cut is still redacted whole, so
            // not even its first characters survive.
            let padding = String(repeating: "x", count: NetworkText.defaultLimit - 5)
            let straddling = NetworkText.sanitized(
                padding + "AKIDREGISTERED01 " + String(repeating: "y", count: 1 << 20))
            #expect(!straddling.contains("AKIDR"), "\(straddling.suffix(40))")
            #expect(straddling.hasSuffix("...(cut)"))
            let marked = NetworkText.sanitized(
                padding + "Signature=abcdef0123456789 " + String(repeating: "z", count: 1 << 20))
            #expect(!marked.contains("abcde"), "\(marked.suffix(40))")
        }

        @Test("a service error's code and message are bounded where they are read")
        func boundedServiceError() {
            let error = AWSServiceError(
                code: String(repeating: "C", count: 10_000), statusCode: 400,
                message: String(repeating: "m", count: 1 << 20))
            #expect(error.code.count <= AWSServiceError.maxCodeLength + 10)
            #expect((error.message ?? "").count <= NetworkText.defaultLimit + 10)
        }

        @Test("STS endpoint mode and URL variables are checked before anything is sent")
        func environmentChecks() {
            for (name, value) in [
                ("AWS_STS_REGIONAL_ENDPOINTS", "weird"),
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:99999/"),
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://169.254.169.254:70000"),
                ("AWS_ENDPOINT_URL_STS", "https://st s.example.com"),
            ] {
                #expect {
                    try AWSCredentialChain.validateEnvironment(
                        [name: value], region: "us-east-1", variants: AWSEndpointVariants())
                } throws: { error in
                    "\(error)".contains(name)
                }
            }
        }
    }
}
