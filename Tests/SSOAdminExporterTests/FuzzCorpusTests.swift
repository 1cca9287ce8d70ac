import Foundation
import TestSupport
import Testing

/// The fuzz targets built without the fuzzer replay their seed corpora and every input a fuzzing run ever crashed
/// on (Fuzz/regressions), so a fixed crash stays fixed.
extension ExternalProgramTests {
    @Suite("fuzz corpora and regressions")
    struct FuzzCorpusTests {
        static let targets = [
            "list-instances-page", "xml", "shared-config", "credentials-document", "text-writer", "config-file",
            "http-response", "instance-details",
        ]

        static var replayBinary: String? {
            ExternalTools.builtProduct("sso-admin-exporter-fuzz")
        }

        static func inputs(_ target: String) -> [String] {
            ["Fuzz/corpus", "Fuzz/regressions"].flatMap { folder -> [String] in
                let directory = ExternalTools.repositoryRoot.appendingPathComponent(folder).appendingPathComponent(
                    target)
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
                return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0).path }
            }
        }

        @Test("every seed and regression input runs through its target without a crash", arguments: targets)
        func replay(target: String) async throws {
            let binary = try #require(Self.replayBinary, "swift test builds sso-admin-exporter-fuzz next to the tests")
            let inputs = Self.inputs(target)
            #expect(inputs.count >= 2, "no seed corpus for \(target)")
            let (status, output) = try await ExternalTools.runDetached(binary, [target] + inputs)
            #expect(status == 0, "\(output)")
            #expect(output.contains("replayed \(inputs.count) inputs"), "\(output)")
        }

        @Test("label values from the text-writer corpus make an exposition promtool accepts")
        func promtoolAcceptsCorpusExposition() async throws {
            guard ExternalTools.shouldRun("promtool") else { return }
            let promtool = try #require(ExternalTools.path("promtool"), "promtool is required under CI=true")
            let binary = try #require(Self.replayBinary)
            let (status, exposition) = try await ExternalTools.runDetached(
                binary, ["--exposition", "text-writer"] + Self.inputs("text-writer"))
            #expect(status == 0)
            let parsed = try ExpositionParser.parse(exposition)
            #expect(parsed.samples("fuzz_metric").count == Self.inputs("text-writer").count)
            let (checkStatus, problems) = try await ExternalTools.runDetached(
                promtool, ["check", "metrics"], input: Data(exposition.utf8))
            #expect(checkStatus == 0, "\(problems)")
        }
    }
}
