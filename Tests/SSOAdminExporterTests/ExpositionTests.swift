import Foundation
import TestSupport
import Testing

@testable import SSOAdminExporter

@Suite("text exposition writer")
struct ExpositionWriterTests {
    @Test("label values with quotes, backslashes, newlines and UTF-8 survive a round trip")
    func escaping() throws {
        var writer = PrometheusTextWriter()
        let spec = MetricSpec("test_metric", .gauge, help: "Help with \\ backslash\nand newline \"quoted\".")
        writer.family(spec)
        let nasty = "a\"b\\c\nd é ✓ {x=\"1\"}"
        writer.sample("test_metric", labels: [("one", nasty), ("two", "")], value: 1.5)
        writer.sample("test_metric", labels: [("one", "plain"), ("two", "x")], value: -.infinity)
        let parsed = try ExpositionParser.parse(String(decoding: writer.bytes, as: UTF8.self))
        #expect(parsed.help["test_metric"] == spec.help)
        #expect(parsed.types["test_metric"] == "gauge")
        #expect(parsed.value("test_metric", ["one": nasty, "two": ""]) == 1.5)
        #expect(parsed.value("test_metric", ["one": "plain"]) == -.infinity)
    }

    @Test(
        "numbers as Prometheus writes them",
        arguments: [
            (0.0, "0"), (1, "1"), (-3, "-3"), (1.25, "1.25"), (1_700_000_000.25, "1700000000.25"), (.nan, "NaN"),
            (.infinity, "+Inf"), (-.infinity, "-Inf"), (1e20, "1e+20"),
        ])
    func numbers(value: Double, text: String) {
        #expect(PrometheusTextWriter.format(value) == text)
    }
}

@Suite("ListInstances decoding")
struct DecodingTests {
    func decode(_ json: String) throws -> ListInstancesPage {
        try SSOAdminClient.decodePage(Array(json.utf8))
    }

    @Test("null and missing fields, fractional dates, unknown status")
    func lenient() throws {
        let page = try decode(
            #"""
            {"Instances":[
              {"InstanceArn":"arn:aws:sso:::instance/ssoins-1111111111111111","Name":null,"CreatedDate":1.7e9,
               "Status":"ACTIVE","IdentityStoreId":"d-1","OwnerAccountId":"123456789012"},
              {"InstanceArn":"arn:aws:sso:::instance/ssoins-2222222222222222","CreatedDate":1700000000.123,
               "Status":"SOMETHING_NEW","StatusReason":"why","Extra":{"ignored":true}},
              {"InstanceArn":"arn:aws:sso:::instance/ssoins-3333333333333333","CreatedDate":"not a number",
               "Status":42}
            ],"NextToken":"abc"}
            """#)
        #expect(page.instances.count == 3)
        #expect(page.nextToken == "abc")
        #expect(page.instances[0].name == nil)
        #expect(page.instances[0].status == .active)
        #expect(page.instances[0].createdDate == 1.7e9)
        #expect(page.instances[0].instanceID == "ssoins-1111111111111111")
        #expect(page.instances[1].status == .unrecognized("SOMETHING_NEW"))
        #expect(page.instances[1].createdDate == 1_700_000_000.123)
        #expect(page.instances[1].statusReason == "why")
        #expect(page.instances[2].createdDate == nil)
        #expect(page.instances[2].status == nil)
    }

    @Test("empty and minimal bodies are empty pages")
    func empty() throws {
        #expect(try decode("").instances.isEmpty)
        #expect(try decode("{}").instances.isEmpty)
        #expect(try decode(#"{"Instances":[],"NextToken":null}"#).nextToken == nil)
    }

    @Test(
        "malformed JSON and a wrong top-level shape are errors",
        arguments: ["{", "[]", #"{"Instances":"x"}"#, "<html/>"])
    func malformed(body: String) {
        #expect(throws: ListInstancesDecodingError.self) { try decode(body) }
    }

    @Test("status values from the model map both ways")
    func statusRoundTrip() {
        for status in InstanceStatus.modeled {
            #expect(InstanceStatus(rawValue: status.rawValue) == status)
        }
        #expect(InstanceStatus(rawValue: "weird\u{0000}\nvalue").rawValue == "weirdvalue")
    }

    @Test("label values lose control characters and are bounded")
    func labelCleaning() {
        #expect(LabelValue.clean("a\u{0001}b\tc\u{200B}d", maxLength: 10) == "abcd")
        #expect(LabelValue.clean(String(repeating: "x", count: 300), maxLength: 256).count == 257)
    }
}

@Suite("process metrics")
struct ProcessMetricsTests {
    @Test("a command name with spaces and parentheses does not shift the fields")
    func statParsing() throws {
        let fields = try #require(ProcessMetrics.statFields("1234 (my (odd) name) S 1 2 3"))
        #expect(fields.first == "S")
        #expect(fields.count == 4)
    }

    @Test("glibc takes the malloc settings that keep memory flat across scrapes")
    func mallocTuning() {
        #if canImport(Glibc)
            #expect(MemoryTuning.apply())
        #endif
    }

    @Test("reads this process on Linux")
    func readsSelf() throws {
        #if os(Linux)
            let sample = try #require(ProcessMetrics().read())
            #expect(sample.residentBytes > 1_000_000)
            #expect(sample.openFDs >= 3)
            #expect(sample.maxFDs >= sample.openFDs)
            #expect(abs(sample.startTimeSeconds - Date().timeIntervalSince1970) < 3600)
        #endif
    }
}

@Suite("ListInstances request body")
struct RequestBodyTests {
    @Test(
        "MaxResults and NextToken, escaped as JSON",
        arguments: [
            (Optional(100), Optional<String>.none), (nil, "tok-5"), (7, "a\"b\\c\u{0001}d/+="), (nil, nil),
        ])
    func body(maxResults: Int?, nextToken: String?) throws {
        let bytes = SSOAdminClient.listInstancesBody(maxResults: maxResults, nextToken: nextToken)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["MaxResults"] as? Int == maxResults)
        #expect(object["NextToken"] as? String == nextToken)
        #expect(object.count == (maxResults == nil ? 0 : 1) + (nextToken == nil ? 0 : 1))
    }
}
