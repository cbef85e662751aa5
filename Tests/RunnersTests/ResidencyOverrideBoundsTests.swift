import JobQueue
import Runners
import Testing

/// Stored runtime overrides are applied with saturating conversions: a settings row holding a
/// huge, negative or NaN number of seconds must not trap the process when it is read back.
@Suite struct ResidencyOverrideBoundsTests {
    @Test(arguments: [1e300, Double.infinity, 9.3e15])
    func hugeSecondsSaturate(seconds: Double) {
        let base = ResidencySettings(estimatedBytes: 1)
        let s = base.applying(ModelSettingsOverride(keepAlive: seconds, startupTimeout: seconds))
        #expect(s.keepAliveSeconds == 1e12)
        #expect(s.startupTimeoutSeconds == 1e12)
    }

    @Test(arguments: [-5.0, Double.nan, -Double.infinity])
    func negativeAndNaNSecondsAreZero(seconds: Double) {
        let s = ResidencySettings(estimatedBytes: 1).applying(ModelSettingsOverride(keepAlive: seconds))
        #expect(s.keepAliveSeconds == 0)
    }

    @Test func ordinarySecondsAreKept() {
        let s = ResidencySettings(estimatedBytes: 1).applying(ModelSettingsOverride(keepAlive: 12.5, startupTimeout: 60))
        #expect(s.keepAliveSeconds == 12.5 && s.startupTimeoutSeconds == 60)
    }
}
