import AWSClient
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

        struct DetailsModel: Decodable {
            let describeTarget: String
            let regionsTarget: String
            let describeErrors: [String]
            let regionsErrors: [String]
            let keyTypes: [String]
            let encryptionStatuses: [String]
            let encryptionMembers: [String]
            let regionStatuses: [String]
            let regionMembers: [String]
            let regionsRequestMembers: [String]
            let maxResults: [Int]
            let tokenMax: Int
            let arnMax: Int
        }

        static let detailsScript = #"""
            import botocore, gzip, json, os
            path = os.path.join(os.path.dirname(botocore.__file__), "data", "sso-admin", "2020-07-20", "service-2.json.gz")
            model = json.load(gzip.open(path))
            ops, shapes = model["operations"], model["shapes"]
            describe, regions = ops["DescribeInstance"], ops["ListRegions"]
            request = shapes[regions["input"]["shape"]]
            print(json.dumps({
                "describeTarget": model["metadata"]["targetPrefix"] + "." + describe["name"],
                "regionsTarget": model["metadata"]["targetPrefix"] + "." + regions["name"],
                "describeErrors": [e["shape"] for e in describe["errors"]],
                "regionsErrors": [e["shape"] for e in regions["errors"]],
                "keyTypes": shapes["KmsKeyType"]["enum"], "encryptionStatuses": shapes["KmsKeyStatus"]["enum"],
                "encryptionMembers": list(shapes["EncryptionConfigurationDetails"]["members"]),
                "regionStatuses": shapes["RegionStatus"]["enum"],
                "regionMembers": list(shapes["RegionMetadata"]["members"]),
                "regionsRequestMembers": list(request["members"]),
                "maxResults": [shapes["MaxResults"]["min"], shapes["MaxResults"]["max"]],
                "tokenMax": shapes["Token"]["max"], "arnMax": shapes["InstanceArn"]["max"],
            }))
            """#

        /// The decoders read members by these names, and the fakes answer with them.
        @Test("DescribeInstance and ListRegions: operations, errors, enums, members and limits match")
        func detailsMatch() async throws {
            let python = try #require(ExternalTools.path("python3"), "python3 with botocore is required under CI")
            let (status, output) = try await ExternalTools.runDetached(python, ["-c", Self.detailsScript])
            try #require(status == 0, "reading botocore's model failed: \(output)")
            let model = try JSONDecoder().decode(DetailsModel.self, from: Data(output.utf8))
            #expect(model.describeTarget == "SWBExternalService.\(SSOAdminClient.describeInstanceOperation.name)")
            #expect(model.regionsTarget == "SWBExternalService.\(SSOAdminClient.listRegionsOperation.name)")
            #expect(Set(model.describeErrors) == Set(SSOAdminClient.describeInstanceOperation.modeledErrors))
            #expect(Set(model.regionsErrors) == Set(SSOAdminClient.listRegionsOperation.modeledErrors))
            #expect(model.keyTypes == ["AWS_OWNED_KMS_KEY", "CUSTOMER_MANAGED_KEY"])
            #expect(model.encryptionStatuses == ModeledStatus.encryptionStatuses.map(\.rawValue))
            #expect(
                Set(model.encryptionMembers)
                    == ["KeyType", "KmsKeyArn", "EncryptionStatus", "EncryptionStatusReason"])
            #expect(model.regionStatuses == ModeledStatus.regionStatuses.map(\.rawValue))
            #expect(Set(model.regionMembers) == ["RegionName", "Status", "AddedDate", "IsPrimaryRegion"])
            #expect(Set(model.regionsRequestMembers) == ["InstanceArn", "MaxResults", "NextToken"])
            #expect(model.maxResults == [1, 100])
            #expect(model.tokenMax == ListInstancesPaginator.maxTokenLength)
            #expect(model.arnMax == SSOAdminClient.maxInstanceARNLength)
        }
    }
}
