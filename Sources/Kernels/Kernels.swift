// The compute core of the engine: `ComputePool` (dedicated threads, work split by index),
// weight-carrying layers packed once at load (`Conv2D`, `Deconv2D`, `InnerProduct`), the
// stateless ops in `Ops`, and their plain twins in `Reference` that the tests compare against.
// ISA-specific inner loops live in the CKernels C target (AVX-512 and AMX chosen at run time,
// with portable fallbacks); Swift code here only plans, splits work and calls them.
