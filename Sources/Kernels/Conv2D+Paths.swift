import CKernels
import Tensor

extension Conv2D {
    func runWinograd(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ g: Geometry,
                     _ u: Tensor, _ bias: UnsafePointer<Float>?, _ act: UnsafePointer<pg_activation>,
                     _ pool: ComputePool) {
        let p = parameters
        let per = pg_wino43_scratch_size(Int32(p.outputChannels), Int32(p.inputChannels))
        let up = u.floatPointer
        pool.withWorkspace(bytes: per * pool.threadCount * 4) { raw in
            let s = raw.assumingMemoryBound(to: Float.self)
            // Units are claimed from a shared counter: on a busy machine one delayed thread must
            // not leave the others idle at the end.
            var next: Int32 = 0
            withUnsafeMutablePointer(to: &next) { counter in
                pool.run { ith, nth in
                    pg_wino43_conv(src, Int32(p.inputChannels), Int32(g.h), Int32(g.w), dst, Int32(p.outputChannels),
                                   Int32(g.oh), Int32(g.ow), Int32(p.padding.top), Int32(p.padding.left), up, bias,
                                   act, s + ith * per, counter, Int32(ith), Int32(nth))
                }
            }
        }
    }

    func runAMX(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ g: Geometry,
                _ w: Tensor, _ bias: UnsafePointer<Float>?, _ act: UnsafePointer<pg_activation>,
                _ pool: ComputePool) {
        let p = parameters
        var geom = pg_amx_geometry()
        pg_amx_conv_geometry(Int32(p.inputChannels), Int32(p.outputChannels), Int32(p.kernelHeight),
                             Int32(p.kernelWidth), Int32(g.oh), Int32(g.ow), &geom)
        let per = pg_amx_conv_scratch_size(&geom, Int32(p.kernelHeight))
        let wp = w.halfPointer
        pool.withWorkspace(bytes: per * pool.threadCount * 2) { raw in
            let sp = raw.assumingMemoryBound(to: UInt16.self)
            var next: Int32 = 0
            withUnsafePointer(to: geom) { gp in
                withUnsafeMutablePointer(to: &next) { counter in
                    pool.run { ith, nth in
                        pg_amx_conv(src, Int32(p.inputChannels), Int32(g.h), Int32(g.w), Int32(p.padding.top),
                                    Int32(p.padding.left), gp, wp, Int32(p.outputChannels), Int32(p.kernelHeight),
                                    Int32(p.kernelWidth), dst, Int32(g.oh), Int32(g.ow), bias, act, sp + ith * per,
                                    counter, Int32(ith), Int32(nth))
                    }
                }
            }
        }
    }

    func runDepthwise(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ g: Geometry,
                      _ w: Tensor, _ bias: UnsafePointer<Float>?, _ act: UnsafePointer<pg_activation>,
                      _ pool: ComputePool) {
        let p = parameters
        let wp = w.floatPointer
        pool.parallelFor(p.outputChannels) { r in
            pg_depthwise_conv(src, Int32(g.h), Int32(g.w), dst, Int32(g.oh), Int32(g.ow), Int32(p.kernelHeight),
                              Int32(p.kernelWidth), Int32(p.strideY), Int32(p.strideX), Int32(p.dilationY),
                              Int32(p.dilationX), Int32(p.padding.top), Int32(p.padding.left),
                              Int32(p.outputChannelsPerGroup), wp, bias, act, Int32(r.lowerBound), Int32(r.upperBound))
        }
    }

    func runGEMM(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ g: Geometry,
                 _ a: Tensor, _ groupStride: Int, _ bias: UnsafePointer<Float>?,
                 _ act: UnsafePointer<pg_activation>, _ pool: ComputePool) {
        let p = parameters
        let icg = p.inputChannelsPerGroup, ocg = p.outputChannelsPerGroup
        let k = icg * p.kernelHeight * p.kernelWidth
        let n = g.oh * g.ow
        let ap = a.floatPointer
        let gemm: @convention(c) (Int32, Int32, Int32, UnsafePointer<Float>?, UnsafePointer<Float>?, Int,
                                  UnsafeMutablePointer<Float>?, Int, UnsafePointer<Float>?,
                                  UnsafePointer<pg_activation>?, Int32) -> Void
        switch isa {
        case .best: gemm = pg_sgemm_packed
        case .avx2: gemm = pg_sgemm_packed_avx2
        case .portable: gemm = pg_sgemm_packed_portable
        }
        let direct = p.kernelHeight == 1 && p.kernelWidth == 1 && p.strideY == 1 && p.strideX == 1
            && p.padding == .zero
        // Columns per block: a multiple of the micro-kernel's 48 that keeps the im2col block in L2.
        let block = direct ? 480 : max(48, min(480, (96 * 1024 / max(k, 1)) / 48 * 48))
        let blocks = (n + block - 1) / block
        pool.withWorkspace(bytes: direct ? 0 : k * block * pool.threadCount * 4) { raw in
            let sp = raw.assumingMemoryBound(to: Float.self)
            for grp in 0..<p.groups {
                let gin = src + grp * icg * g.h * g.w, gout = dst + grp * ocg * n
                let ga = ap + grp * groupStride
                let gbias = bias.map { $0 + grp * ocg }
                var gact = act.pointee
                if let s = gact.slopes { gact.slopes = s + grp * ocg }
                withUnsafePointer(to: gact) { gactp in
                    pool.run(parts: blocks) { ith, nth in
                        let b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth
                        for b in b0..<b1 {
                            let n0 = b * block, nw = min(block, n - n0)
                            if direct {
                                gemm(Int32(ocg), Int32(nw), Int32(k), ga, gin + n0, n, gout + n0, n, gbias, gactp, 0)
                            } else {
                                let col = sp + ith * k * block
                                pg_im2col(gin, Int32(icg), Int32(g.h), Int32(g.w), Int32(p.kernelHeight),
                                          Int32(p.kernelWidth), Int32(p.strideY), Int32(p.strideX), Int32(p.dilationY),
                                          Int32(p.dilationX), Int32(p.padding.top), Int32(p.padding.left), Int32(g.ow),
                                          n0, Int32(nw), col)
                                gemm(Int32(ocg), Int32(nw), Int32(k), ga, col, nw, gout + n0, n, gbias, gactp, 0)
                            }
                        }
                    }
                }
            }
        }
    }
}
