import AWSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The one sso-admin operation the exporter needs, over the JSON 1.1 client.
package struct SSOAdminClient: Sendable {
    /// From the service model (`botocore/data/sso-admin/2020-07-20/service-2.json`).
    package static let targetPrefix = "SWBExternalService"
    package static let signingName = "sso"
    package static let endpointPrefix = "sso"
    /// The suffix of `AWS_ENDPOINT_URL_<SERVICE>`: the service id `SSO Admin`, upper-cased with `_`.
    package static let endpointEnvironmentName = "SSO_ADMIN"
    /// sso-admin's endpoint rules (botocore's `endpoint-rule-set-1.json`): in aws-us-gov the FIPS endpoint is the
    /// standard host.
    package static let endpointRules = AWSEndpointRules(
        prefix: endpointPrefix, fipsStandardHostPartitions: ["aws-us-gov"])
    package static let listInstances = "ListInstances"
    /// `MaxResults` bounds in the model.
    package static let maxResultsRange = 1...100
    /// The errors the model lists for `ListInstances`; each has a counter from the start.
    package static let modeledErrors = [
        "ThrottlingException", "InternalServerException", "AccessDeniedException", "ValidationException",
    ]

    /// `ListInstances` as the model describes it.
    package static let listInstancesOperation = AWSOperation(
        name: listInstances, modeledErrors: modeledErrors, decode: decodePage)

    package let client: AWSJSONClient

    package init(client: AWSJSONClient) {
        self.client = client
    }

    /// One page of `ListInstances`.
    package func listInstances(
        maxResults: Int?,
        nextToken: String?,
        deadline: MonotonicInstant
    ) async throws -> ListInstancesPage {
        try await client.send(
            Self.listInstancesOperation, body: Self.listInstancesBody(maxResults: maxResults, nextToken: nextToken),
            deadline: deadline)
    }

    static func listInstancesBody(maxResults: Int?, nextToken: String?) -> [UInt8] {
        var body = "{"
        if let maxResults { body += "\"MaxResults\":" + String(maxResults) }
        if let nextToken {
            if maxResults != nil { body += "," }
            body += "\"NextToken\":" + JSONStringLiteral.encode(nextToken)
        }
        body += "}"
        return Array(body.utf8)
    }

    /// Decodes a page; content type is ignored since emulators and proxies get it wrong.
    package static func decodePage(_ body: [UInt8]) throws -> ListInstancesPage {
        // An empty 200 body is what the JSON protocol sends for an empty structure.
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            return ListInstancesPage(instances: [], nextToken: nil)
        }
        do {
            var reader = JSONReader(body)
            guard try reader.peekKind() == .object else { throw ListInstancesShapeError.topLevelNotAnObject }
            return try ListInstancesPage(reading: &reader)
        } catch {
            throw ListInstancesDecodingError(
                cause: error,
                bodyPrefix: NetworkText.sanitized(String(decoding: body.prefix(120), as: UTF8.self), limit: 120))
        }
    }
}

/// A 2xx response whose body is not a `ListInstancesResponse`.
package struct ListInstancesDecodingError: Error, Sendable, CustomStringConvertible {
    /// What is wrong: a JSON syntax error with its byte offset, or the shape that does not match.
    package let cause: any Error
    package let bodyPrefix: String
    package var description: String {
        "ListInstances response is not a ListInstancesResponse: \(cause) (body starts with \(bodyPrefix.debugDescription))"
    }
}
