@testable import Models
import Testing

/// The frame rate string RIFE doubles for its output comes from the input file's probe: terms
/// beyond what ffmpeg's rationals hold must not overflow when doubled.
@Suite struct RIFEFrameRateTests {
    @Test(arguments: [
        ("30000/1001", 30000, 1001), ("25", 25, 1), ("24/1", 24, 1),
        ("9223372036854775807/1", 25, 1), ("4611686018427387904/3", 25, 1), ("30/0", 25, 1), ("-30/1", 25, 1),
        ("30/9223372036854775807", 25, 1), ("", 25, 1), ("abc", 25, 1),
    ])
    func fractionTermsAreBounded(rate: String, numerator: Int, denominator: Int) {
        let (n, d) = LoadedRIFEInterpolation.fraction(rate)
        #expect(n == numerator && d == denominator)
        #expect(!n.multipliedReportingOverflow(by: 2).overflow)
    }
}
