import AWSClient

/// Every page of `ListInstances`, through the shared paginator.
package struct ListInstancesPaginator: Sendable {
    package let client: SSOAdminClient
    /// `MaxResults` for each page (`--aws.page-size`).
    package let pageSize: Int
    /// A collection that needs more pages than this is treated as a pagination loop.
    package let maxPages: Int

    package init(client: SSOAdminClient, pageSize: Int, maxPages: Int = 10_000) {
        self.client = client
        self.pageSize = pageSize
        self.maxPages = maxPages
    }

    /// The `Token` shape's maximum length in the sso-admin model; a longer NextToken is a broken service.
    package static let maxTokenLength = 2048

    /// Every instance and the number of pages fetched.
    package func collectAll(deadline: MonotonicInstant) async throws -> (instances: [InstanceMetadata], pages: Int) {
        let (instances, pages) = try await AWSPaginator(maxPages: maxPages, maxTokenLength: Self.maxTokenLength).items(
            of: SSOAdminClient.listInstances,
            fetch: { token in try await client.listInstances(maxResults: pageSize, nextToken: token, deadline: deadline)
            },
            nextToken: \.nextToken, items: \.instances)
        return (instances, pages)
    }
}
