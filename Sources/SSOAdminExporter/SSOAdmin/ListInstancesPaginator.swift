import AWSClient
import Crypto

/// Follows `NextToken` to the end, guarding against a service that repeats a token or never stops.
public struct ListInstancesPaginator: Sendable {
    public let client: SSOAdminClient
    /// `MaxResults` for each page (`--aws.page-size`).
    public let pageSize: Int
    /// A collection that needs more pages than this is treated as a pagination loop.
    public let maxPages: Int

    public init(client: SSOAdminClient, pageSize: Int, maxPages: Int = 10_000) {
        self.client = client
        self.pageSize = pageSize
        self.maxPages = maxPages
    }

    /// The `Token` shape's maximum length in the sso-admin model; a longer NextToken is a broken service.
    public static let maxTokenLength = 2048

    /// Every instance and the number of pages fetched.
    ///
    /// Loop detection keeps a 32-byte digest per token rather than the token, so memory stays bounded by the page
    /// count whatever the service sends.
    public func collectAll(deadline: MonotonicInstant) async throws -> (instances: [InstanceMetadata], pages: Int) {
        var instances: [InstanceMetadata] = []
        var seenTokens: Set<SHA256Digest> = []
        var token: String?
        var pages = 0
        repeat {
            guard pages < maxPages else { throw PaginationError.tooManyPages(limit: maxPages) }
            let page = try await client.listInstances(maxResults: pageSize, nextToken: token, deadline: deadline)
            pages += 1
            instances.append(contentsOf: page.instances)
            token = page.nextToken.flatMap { $0.isEmpty ? nil : $0 }
            if let next = token {
                guard next.utf8.count <= Self.maxTokenLength else {
                    throw PaginationError.tokenTooLong(length: next.utf8.count, limit: Self.maxTokenLength)
                }
                guard seenTokens.insert(SHA256.hash(data: Array(next.utf8))).inserted else {
                    throw PaginationError.repeatedToken(afterPages: pages)
                }
            }
        } while token != nil
        return (instances, pages)
    }
}

/// The service's pagination went wrong in a way that would otherwise loop forever.
public enum PaginationError: Error, Sendable, Equatable, CustomStringConvertible {
    case repeatedToken(afterPages: Int)
    case tooManyPages(limit: Int)
    case tokenTooLong(length: Int, limit: Int)

    /// The name a loop is counted under in `aws_sso_admin_api_errors_total`.
    public static let loopExceptionName = "PaginationLoop"

    /// The name this failure is counted under: a loop, or a token no valid response carries.
    public var exceptionName: String {
        if case .tokenTooLong = self { return "InvalidResponse" }
        return Self.loopExceptionName
    }

    public var description: String {
        switch self {
        case .repeatedToken(let pages):
            "ListInstances returned a NextToken it had returned before (after \(pages) pages)"
        case .tooManyPages(let limit): "ListInstances did not finish within \(limit) pages"
        case .tokenTooLong(let length, let limit):
            "ListInstances returned a NextToken of \(length) bytes, longer than the model's \(limit)"
        }
    }
}
