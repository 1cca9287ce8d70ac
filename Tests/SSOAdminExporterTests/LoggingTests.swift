import AWSClient
import Foundation
import Logging
import SSOAdminExporter
import Synchronization
import TestSupport
import Testing

final class CapturedLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

@Suite("logging")
struct LoggingTests {
    func logger(_ format: LogFormat, into capture: CapturedLines) -> Logger {
        Logger(label: "test") { label in
            ExporterLogHandler(label: label, level: .debug, format: format, write: { capture.append($0) })
        }
    }

    @Test("logfmt quotes what needs quoting")
    func logfmt() throws {
        let capture = CapturedLines()
        logger(.logfmt, into: capture).warning(
            "collection failed", metadata: ["error": "a \"b\"\nc", "region": "us-east-1"])
        let line = try #require(capture.all.first)
        #expect(line.contains(#"level=warn msg="collection failed" error="a \"b\"\nc" region=us-east-1"#))
        #expect(line.hasPrefix("ts="))
    }

    @Test("json lines are valid JSON objects")
    func json() throws {
        let capture = CapturedLines()
        logger(.json, into: capture).info("started", metadata: ["weird": "tab\there \u{0001}"])
        let line = try #require(capture.all.first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["msg"] == "started")
        #expect(object["level"] == "info")
        #expect(object["weird"] == "tab\there \u{0001}")
    }

    @Test(
        "no secret key or session token in any log line or metric, whatever fails",
        arguments: [
            FakeFault.serviceError(code: "SignatureDoesNotMatch", status: 403),
            .serviceError(code: "ThrottlingException", status: 400), .malformedJSON, .connectionReset,
        ])
    func secretsStayOut(fault: FakeFault) async throws {
        let capture = CapturedLines()
        let credentials = AWSCredentials(
            accessKeyID: "AKIDLOGTEST", secretAccessKey: "SECRET-wJalrXUtnFEMI", sessionToken: "TOKEN-IQoJb3JpZ2lu")
        try await ExporterHarness.with(
            instances: FakeInstance.numbered(1), credentials: credentials, logger: logger(.logfmt, into: capture)
        ) { harness in
            harness.service.inject(Array(repeating: fault, count: 3))
            let exposition = try await harness.page.scrapeText(clock: harness.clock)
            #expect(!capture.all.isEmpty, "the failure was logged")
            for text in capture.all + [exposition] {
                #expect(!text.contains("SECRET-wJalrXUtnFEMI"))
                #expect(!text.contains("TOKEN-IQoJb3JpZ2lu"))
                #expect(!text.contains("Signature="))
            }
        }
    }
}
