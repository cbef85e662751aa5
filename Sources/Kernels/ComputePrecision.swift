/// Arithmetic precision of the heavy layers (convolutions, matrix products): the one precision
/// setting from a model's configuration down to each kernel.
public enum ComputePrecision: String, Sendable, Hashable, CaseIterable {
    /// float32 everywhere: matches the reference within float reassociation.
    case fp32
    /// bfloat16 inputs and weights with float32 accumulation in the kernels that have a bf16
    /// path (AMX where available); everything else stays float32, and a kernel without a bf16
    /// path on this CPU falls back to fp32, so results stay within the bf16 bound either way.
    /// Runs of such convolutions hand their activations to each other in bf16
    /// (`ConvolutionChain`), which rounds nothing that the next layer would not have rounded anyway.
    case bf16
}
