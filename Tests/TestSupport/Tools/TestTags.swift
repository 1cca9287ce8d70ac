import Testing

extension Tag {
    /// The suite starts outside processes (the exporter binary, moto, Prometheus, promtool, openssl, bash): slow to
    /// start, and busy on both cores while they run.
    @Tag public static var process: Self
    /// The suite holds real deadlines or waits measured in wall-clock time (a server that never answers, a stalled
    /// body, a scrape timeout): run beside CPU-heavy tests on two cores, those deadlines can pass before the work does.
    @Tag public static var deadline: Self
}
