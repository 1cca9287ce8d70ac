import Foundation
import SSOAdminExporter
import TestSupport
import Testing

/// The constants the client and the fake rely on, checked against botocore's own sso-admin service model.
extension ExternalProgramTests {
    @Suite("sso-admin service model", .enabled(if: ExternalTools.shouldRun("python3")))
    struct ServiceModelTests {
        struct Model: Decodable {
            let targetPrefix: String
            let signingName: String
            let endpointPrefix: String
            let serviceId: String
            let protocolName: String
            let jsonVersion: String
            let statuses: [String]
            let errors: [String]
            let maxResultsMin: Int
            let maxResultsMax: Int
            let pageMax: Int
            let instanceMembers: [String]
            let responseMembers: [String]
        }

        static let script = #"""
            import botocore, gzip, json, os
            path = os.path.join(os.path.dirname(botocore.__file__), "data", "sso-admin", "2020-07-20", "service-2.json.gz")
            model = json.load(gzip.open(path))
            meta, shapes = model["metadata"], model["shapes"]
            operation = model["operations"]["ListInstances"]
            print(json.dumps({
                "targetPrefix": meta["targetPrefix"], "signingName": meta["signingName"],
                "endpointPrefix": meta["endpointPrefix"], "serviceId": meta["serviceId"],
                "protocolName": meta["protocol"], "jsonVersion": meta["jsonVersion"],
                "statuses": shapes["InstanceStatus"]["enum"],
                "errors": [e["shape"] for e in operation["errors"]],
                "maxResultsMin": shapes["MaxResults"]["min"], "maxResultsMax": shapes["MaxResults"]["max"],
                "pageMax": shapes["InstanceList"]["max"],
                "instanceMembers": list(shapes["InstanceMetadata"]["members"]),
                "responseMembers": list(shapes[operation["output"]["shape"]]["members"]),
            }))
            """#

        @Test("metadata, statuses, errors and limits match")
        func matches() async throws {
            let python = try #require(ExternalTools.path("python3"), "python3 with botocore is required under CI")
            let (status, output) = try await ExternalTools.runDetached(python, ["-c", Self.script])
            try #require(status == 0, "reading botocore's model failed: \(output)")
            let model = try JSONDecoder().decode(Model.self, from: Data(output.utf8))
            #expect(model.targetPrefix == SSOAdminClient.targetPrefix)
            #expect(model.signingName == SSOAdminClient.signingName)
            #expect(model.endpointPrefix == SSOAdminClient.endpointPrefix)
            #expect(
                model.serviceId.uppercased().replacingOccurrences(of: " ", with: "_")
                    == SSOAdminClient.endpointEnvironmentName)
            #expect(model.protocolName == "json")
            #expect(model.jsonVersion == "1.1")
            #expect(model.statuses == InstanceStatus.modeled.map(\.rawValue))
            #expect(Set(model.errors) == Set(SSOAdminClient.modeledErrors))
            #expect(model.maxResultsMin...model.maxResultsMax == SSOAdminClient.maxResultsRange)
            #expect(model.pageMax == FakeSSOAdminService.modelPageLimit)
            #expect(Set(model.instanceMembers) == Set(InstanceMetadata.Member.allCases.map(\.rawValue)))
            #expect(Set(model.responseMembers) == Set(ListInstancesPage.Member.allCases.map(\.rawValue)))
        }
    }
}
